//! The settlement engine alone: a typical outpatient bill and a long inpatient one.
//! `cargo bench -p yrd-insurance`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::HashMap;
use std::hint::black_box;
use yrd_insurance::domain::{Band, BillLine, CatalogueItem, Category, Inputs, Policy, YearToDate, settle};

fn bench(c: &mut Criterion) {
    let catalogue: HashMap<String, CatalogueItem> = (0..200)
        .map(|i| {
            let category = [Category::A, Category::B, Category::C][i % 3];
            let item = CatalogueItem {
                code: format!("I{i:03}"),
                name_zh: String::new(),
                name_en: String::new(),
                category,
                self_pay_permille: 100,
                price_ceiling_fen: Some(50_000),
            };
            (item.code.clone(), item)
        })
        .collect();
    let policy = Policy {
        deductible_fen: 120_000,
        bands: vec![
            Band {
                up_to_fen: Some(5_000_000),
                ratio_permille: 850,
            },
            Band {
                up_to_fen: None,
                ratio_permille: 900,
            },
        ],
        annual_ceiling_fen: 40_000_000,
        unfiled_reduction_permille: 100,
        personal_account: true,
    };
    for (name, n) in [("outpatient bill, 4 lines", 4), ("inpatient bill, 120 lines", 120)] {
        let lines: Vec<BillLine> = (0..n)
            .map(|i| BillLine {
                item: format!("I{:03}", (i * 7) % 200),
                quantity: 1 + (i % 5) as i64,
                unit_price_fen: 10_000 + (i as i64 * 977) % 60_000,
            })
            .collect();
        c.bench_function(&format!("settle: {name}"), |b| {
            b.iter(|| {
                settle(black_box(&Inputs {
                    lines: &lines,
                    catalogue: &catalogue,
                    policy: &policy,
                    ytd: YearToDate::default(),
                    filed: false,
                    account_balance_fen: 100_000,
                }))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
