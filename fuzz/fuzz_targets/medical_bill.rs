//! Bills come from hospitals' systems: any bill, policy and year-to-date totals give a
//! settlement or a clear refusal, never a panic, and a settlement always adds up — per
//! line and in total — with no share negative and the fund within its ceiling.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use std::collections::HashMap;
use yrd_insurance::domain::{settle, BillLine, CatalogueItem, Category, Inputs, Policy, YearToDate};

#[derive(Deserialize)]
struct Case {
    lines: Vec<BillLine>,
    policy: Policy,
    #[serde(default)]
    ytd: YearToDate,
    #[serde(default)]
    filed: bool,
    #[serde(default)]
    account_balance_fen: i64,
}

fn item(code: &str, category: Category, self_pay_permille: u32, price_ceiling_fen: Option<i64>) -> (String, CatalogueItem) {
    let item = CatalogueItem {
        code: code.into(),
        name_zh: code.into(),
        name_en: code.into(),
        category,
        self_pay_permille,
        price_ceiling_fen,
    };
    (code.into(), item)
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(case) = serde_json::from_slice::<Case>(bytes) else { return };
    if !case.policy.problems().is_empty() || case.ytd.deductible_paid_fen < 0 || case.ytd.fund_paid_fen < 0 || case.account_balance_fen < 0 {
        return;
    }
    let catalogue: HashMap<String, CatalogueItem> = [
        item("A", Category::A, 0, None),
        item("B", Category::B, 100, Some(5_000)),
        item("C", Category::C, 0, None),
    ]
    .into_iter()
    .collect();
    let inputs = Inputs {
        lines: &case.lines,
        catalogue: &catalogue,
        policy: &case.policy,
        ytd: case.ytd,
        filed: case.filed,
        account_balance_fen: case.account_balance_fen,
    };
    let Ok(s) = settle(&inputs) else { return };
    assert_eq!(s.fund_fen + s.account_fen + s.cash_fen, s.total_fen);
    assert_eq!(s.lines.iter().map(|l| l.amount_fen).sum::<i64>(), s.total_fen);
    assert_eq!(s.lines.iter().map(|l| l.fund_fen).sum::<i64>(), s.fund_fen);
    for line in &s.lines {
        assert_eq!(line.fund_fen + line.account_fen + line.cash_fen, line.amount_fen);
        assert!(line.fund_fen >= 0 && line.account_fen >= 0 && line.cash_fen >= 0);
    }
    assert!(s.account_fen <= case.account_balance_fen);
    assert!(s.ytd_after.fund_paid_fen <= case.policy.annual_ceiling_fen.max(case.ytd.fund_paid_fen));
});
