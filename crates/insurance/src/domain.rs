//! The settlement engine: from bill lines, the place of treatment's catalogue, the
//! insured place's policy, the person's year-to-date totals and filing, to what the fund,
//! the personal account and the person pay for each line, with the rule that applied.
//! Pure, integer fen throughout.
//!
//! Rounding: every share the fund pays is rounded down to the fen (the person never
//! pays less than the rules say); shares are spread over lines by the largest-remainder
//! method, so line amounts always add up to the totals exactly.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Item categories of the catalogue: 甲 fully covered, 乙 the person pays a set share
/// first, 丙 not covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    A,
    B,
    C,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CatalogueItem {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub category: Category,
    /// For 乙 items: the share the person pays first, in per mille.
    #[serde(default)]
    pub self_pay_permille: u32,
    /// The most the fund recognises per unit; above it the person pays.
    pub price_ceiling_fen: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VisitKind {
    Outpatient,
    Inpatient,
}

/// Reimbursement ratio for the part of the reimbursable amount up to `up_to_fen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Band {
    /// Upper bound of the band within the visit's reimbursable amount; None: no bound.
    pub up_to_fen: Option<i64>,
    pub ratio_permille: u32,
}

/// The insured place's rules for one scheme, institution level and visit kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Policy {
    /// 起付线: what the person pays each year before the fund pays anything.
    pub deductible_fen: i64,
    pub bands: Vec<Band>,
    /// 封顶线: the most the fund pays in a year.
    pub annual_ceiling_fen: i64,
    /// Treatment elsewhere without a filing: this many per mille off every ratio.
    pub unfiled_reduction_permille: u32,
    /// Whether the personal account may pay the person's share.
    pub personal_account: bool,
}

impl Policy {
    /// Problems with the policy itself, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.deductible_fen < 0 {
            out.push(("deductible_fen", "must not be negative".into()));
        }
        if self.annual_ceiling_fen < 0 {
            out.push(("annual_ceiling_fen", "must not be negative".into()));
        }
        if self.bands.is_empty() {
            out.push(("bands", "at least one band".into()));
        }
        let mut previous = 0;
        for (i, band) in self.bands.iter().enumerate() {
            if band.ratio_permille > 1000 {
                out.push(("bands", format!("band {i}: ratio over 1000 per mille")));
            }
            match band.up_to_fen {
                Some(up) if up <= previous => out.push(("bands", format!("band {i}: bounds must increase"))),
                Some(up) => previous = up,
                None if i + 1 != self.bands.len() => {
                    out.push(("bands", format!("band {i}: only the last band is unbounded")))
                }
                None => {}
            }
        }
        if self.unfiled_reduction_permille > 1000 {
            out.push(("unfiled_reduction_permille", "at most 1000".into()));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BillLine {
    pub item: String,
    pub quantity: i64,
    pub unit_price_fen: i64,
}

/// What the person has used this year under this scheme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct YearToDate {
    pub deductible_paid_fen: i64,
    pub fund_paid_fen: i64,
}

pub struct Inputs<'a> {
    pub lines: &'a [BillLine],
    pub catalogue: &'a HashMap<String, CatalogueItem>,
    pub policy: &'a Policy,
    pub ytd: YearToDate,
    pub filed: bool,
    pub account_balance_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineResult {
    pub item: String,
    pub amount_fen: i64,
    /// 自费: not covered at all (丙, or above the price ceiling).
    pub self_funded_fen: i64,
    /// 自付: the 乙 share the person pays first.
    pub self_pay_fen: i64,
    /// 政策范围内: what the fund's rules apply to.
    pub eligible_fen: i64,
    pub fund_fen: i64,
    pub account_fen: i64,
    pub cash_fen: i64,
    /// The rules that applied, in order.
    pub explanation: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Settlement {
    pub lines: Vec<LineResult>,
    pub total_fen: i64,
    pub eligible_fen: i64,
    pub deductible_fen: i64,
    pub fund_fen: i64,
    pub account_fen: i64,
    pub cash_fen: i64,
    /// The ratio applied to the first band (after any reduction for no filing), per mille.
    pub ratio_permille: u32,
    pub capped_by_ceiling: bool,
    pub ytd_after: YearToDate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    #[error("lines[{0}].item: '{1}' is not in the catalogue of the place of treatment")]
    UnknownItem(usize, String),
    #[error("lines[{0}]: {1}")]
    BadLine(usize, String),
    #[error("the bill has no lines")]
    Empty,
    #[error("the total is too large")]
    Overflow,
}

/// Spreads `total` over `weights` in proportion, exactly (largest remainder).
pub fn spread(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| *w as i128).sum();
    if sum == 0 || total == 0 {
        return vec![0; weights.len()];
    }
    let mut shares: Vec<i64> = weights
        .iter()
        .map(|w| ((total as i128 * *w as i128) / sum) as i64)
        .collect();
    let mut left = total - shares.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(((total as i128 * weights[*i] as i128) % sum, weights[*i])));
    for i in order {
        if left == 0 {
            break;
        }
        if weights[i] > 0 {
            shares[i] += 1;
            left -= 1;
        }
    }
    shares
}

fn yuan(fen: i64) -> String {
    yrd_kernel::Fen(fen).to_string()
}

pub fn settle(inputs: &Inputs) -> Result<Settlement, SettleError> {
    if inputs.lines.is_empty() {
        return Err(SettleError::Empty);
    }
    let mut lines = Vec::with_capacity(inputs.lines.len());
    for (i, line) in inputs.lines.iter().enumerate() {
        let item = inputs
            .catalogue
            .get(&line.item)
            .ok_or_else(|| SettleError::UnknownItem(i, line.item.clone()))?;
        if line.quantity <= 0 || line.quantity > 100_000 {
            return Err(SettleError::BadLine(i, "quantity must be 1 to 100000".into()));
        }
        if line.unit_price_fen < 0 || line.unit_price_fen > 1_000_000_000 {
            return Err(SettleError::BadLine(i, "unit_price_fen must be 0 to 1000000000".into()));
        }
        let amount = line
            .quantity
            .checked_mul(line.unit_price_fen)
            .ok_or(SettleError::Overflow)?;
        let mut explanation = Vec::new();
        let (mut self_funded, mut self_pay) = (0, 0);
        let mut covered = amount;
        match item.category {
            Category::C => {
                self_funded = amount;
                covered = 0;
                explanation.push("丙类: not covered / 丙类项目全自费".to_string());
            }
            Category::A | Category::B => {
                if let Some(ceiling) = item.price_ceiling_fen
                    && line.unit_price_fen > ceiling
                {
                    let over = (line.unit_price_fen - ceiling) * line.quantity;
                    self_funded = over;
                    covered = amount - over;
                    explanation.push(format!(
                        "price above the ceiling of {} a unit: {} self-funded / 超限价部分自费",
                        yuan(ceiling),
                        yuan(over)
                    ));
                }
                if item.category == Category::B {
                    self_pay = covered * item.self_pay_permille as i64 / 1000;
                    explanation.push(format!(
                        "乙类: {}‰ paid first by the person ({}) / 乙类先行自付",
                        item.self_pay_permille,
                        yuan(self_pay)
                    ));
                } else {
                    explanation.push("甲类: fully within policy / 甲类全额纳入".to_string());
                }
            }
        }
        lines.push(LineResult {
            item: line.item.clone(),
            amount_fen: amount,
            self_funded_fen: self_funded,
            self_pay_fen: self_pay,
            eligible_fen: covered - self_pay,
            fund_fen: 0,
            account_fen: 0,
            cash_fen: 0,
            explanation,
        });
    }
    let total: i64 = lines.iter().map(|l| l.amount_fen).sum();
    let eligible: i64 = lines.iter().map(|l| l.eligible_fen).sum();
    let policy = inputs.policy;
    let deductible_left = (policy.deductible_fen - inputs.ytd.deductible_paid_fen).max(0);
    let deductible = eligible.min(deductible_left);
    let reimbursable = eligible - deductible;
    let reduction = if inputs.filed {
        0
    } else {
        policy.unfiled_reduction_permille
    };
    let mut fund: i64 = 0;
    let mut lower = 0;
    for band in &policy.bands {
        let upper = band.up_to_fen.unwrap_or(i64::MAX).min(reimbursable);
        if upper > lower {
            let ratio = band.ratio_permille.saturating_sub(reduction) as i128;
            fund += ((upper - lower) as i128 * ratio / 1000) as i64;
            lower = upper;
        }
        if lower >= reimbursable {
            break;
        }
    }
    let ceiling_left = (policy.annual_ceiling_fen - inputs.ytd.fund_paid_fen).max(0);
    let capped = fund > ceiling_left;
    fund = fund.min(ceiling_left);
    let person = total - fund;
    let account = if policy.personal_account {
        person.min(inputs.account_balance_fen.max(0))
    } else {
        0
    };

    // Spread over lines: the fund by eligible amount, the account by what each line leaves.
    let fund_shares = spread(fund, &lines.iter().map(|l| l.eligible_fen).collect::<Vec<_>>());
    for (line, share) in lines.iter_mut().zip(&fund_shares) {
        line.fund_fen = *share;
    }
    let account_shares = spread(
        account,
        &lines.iter().map(|l| l.amount_fen - l.fund_fen).collect::<Vec<_>>(),
    );
    let ratio = policy
        .bands
        .first()
        .map_or(0, |b| b.ratio_permille.saturating_sub(reduction));
    for (line, share) in lines.iter_mut().zip(&account_shares) {
        line.account_fen = *share;
        line.cash_fen = line.amount_fen - line.fund_fen - line.account_fen;
        if line.eligible_fen > 0 {
            line.explanation.push(format!(
                "fund pays {} of {} within policy / 统筹基金支付",
                yuan(line.fund_fen),
                yuan(line.eligible_fen)
            ));
        }
        if line.account_fen > 0 {
            line.explanation.push(format!(
                "personal account pays {} / 个人账户支付",
                yuan(line.account_fen)
            ));
        }
    }
    if let Some(first) = lines.first_mut() {
        if deductible > 0 {
            first.explanation.push(format!(
                "deductible of this year: {} paid by the person on this bill / 起付线",
                yuan(deductible)
            ));
        }
        if !inputs.filed && reduction > 0 {
            first.explanation.push(format!(
                "no filing for treatment elsewhere: ratios {reduction}‰ lower / 未备案降低报销比例"
            ));
        }
        if capped {
            first.explanation.push(format!(
                "annual ceiling reached: the fund pays at most {} more this year / 达到封顶线",
                yuan(ceiling_left)
            ));
        }
    }
    Ok(Settlement {
        total_fen: total,
        eligible_fen: eligible,
        deductible_fen: deductible,
        fund_fen: fund,
        account_fen: account,
        cash_fen: total - fund - account,
        ratio_permille: ratio,
        capped_by_ceiling: capped,
        ytd_after: YearToDate {
            deductible_paid_fen: inputs.ytd.deductible_paid_fen + deductible,
            fund_paid_fen: inputs.ytd.fund_paid_fen + fund,
        },
        lines,
    })
}

/// What a place of treatment has billed for one item so far: the norm a new line is
/// compared with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemNorm {
    pub lines: i64,
    pub amount_fen: i64,
}

/// Fewer lines than this and the norm is not yet trusted.
pub const NORM_MIN_LINES: i64 = 30;
/// A line costing at least this many times the item's mean is selected for review.
pub const NORM_DEVIATION_FACTOR: i64 = 3;

/// A line far above the norm for its item, as (the line's amount, the item's mean).
pub fn deviation(amount_fen: i64, norm: ItemNorm) -> Option<(i64, i64)> {
    if norm.lines < NORM_MIN_LINES || norm.amount_fen <= 0 {
        return None;
    }
    let mean = norm.amount_fen / norm.lines;
    // amount ≥ factor × mean, without dividing away the remainder.
    let far = amount_fen as i128 * norm.lines as i128 >= NORM_DEVIATION_FACTOR as i128 * norm.amount_fen as i128;
    far.then_some((amount_fen, mean))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviation_needs_an_established_norm_and_a_large_multiple() {
        let norm = ItemNorm {
            lines: 30,
            amount_fen: 30 * 1_000,
        };
        assert_eq!(deviation(3_000, norm), Some((3_000, 1_000)));
        assert_eq!(deviation(2_999, norm), None);
        assert_eq!(
            deviation(
                100_000,
                ItemNorm {
                    lines: 29,
                    amount_fen: 29 * 1_000
                }
            ),
            None
        );
        assert_eq!(
            deviation(
                100_000,
                ItemNorm {
                    lines: 40,
                    amount_fen: 0
                }
            ),
            None
        );
        // The comparison is exact even when the mean is not a whole fen.
        let uneven = ItemNorm {
            lines: 30,
            amount_fen: 30 * 1_000 + 29,
        };
        assert_eq!(deviation(3_002, uneven), None);
        assert_eq!(deviation(3_003, uneven), Some((3_003, 1_000)));
    }

    fn catalogue() -> HashMap<String, CatalogueItem> {
        let item = |code: &str, category, share, ceiling| CatalogueItem {
            code: code.into(),
            name_zh: code.into(),
            name_en: code.into(),
            category,
            self_pay_permille: share,
            price_ceiling_fen: ceiling,
        };
        [
            item("A1", Category::A, 0, None),
            item("B1", Category::B, 100, Some(10_000)),
            item("C1", Category::C, 0, None),
        ]
        .into_iter()
        .map(|i| (i.code.clone(), i))
        .collect()
    }

    fn policy() -> Policy {
        Policy {
            deductible_fen: 100_000,
            bands: vec![
                Band {
                    up_to_fen: Some(1_000_000),
                    ratio_permille: 800,
                },
                Band {
                    up_to_fen: None,
                    ratio_permille: 900,
                },
            ],
            annual_ceiling_fen: 30_000_000,
            unfiled_reduction_permille: 100,
            personal_account: true,
        }
    }

    fn line(item: &str, quantity: i64, price: i64) -> BillLine {
        BillLine {
            item: item.into(),
            quantity,
            unit_price_fen: price,
        }
    }

    #[test]
    fn a_worked_example_line_by_line() {
        let cat = catalogue();
        let pol = policy();
        let lines = [line("A1", 1, 500_000), line("B1", 2, 12_000), line("C1", 1, 30_000)];
        let s = settle(&Inputs {
            lines: &lines,
            catalogue: &cat,
            policy: &pol,
            ytd: YearToDate::default(),
            filed: true,
            account_balance_fen: 50_000,
        })
        .unwrap();
        // A1 ¥5,000 eligible; B1 ¥240: ¥40 over the ceiling, ¥20 乙 share, ¥180 eligible; C1 ¥300 self-funded.
        assert_eq!(s.total_fen, 554_000);
        assert_eq!(s.eligible_fen, 518_000);
        assert_eq!(s.lines[1].self_funded_fen, 4_000);
        assert_eq!(s.lines[1].self_pay_fen, 2_000);
        assert_eq!(s.deductible_fen, 100_000);
        // (5,180 − 1,000) × 80% = 3,344.
        assert_eq!(s.fund_fen, 334_400);
        assert_eq!(s.account_fen, 50_000);
        assert_eq!(s.cash_fen, 554_000 - 334_400 - 50_000);
        assert_eq!(s.lines[2].fund_fen, 0);
        assert!(s.lines[2].explanation[0].starts_with("丙类"));
        assert_eq!(
            s.ytd_after,
            YearToDate {
                deductible_paid_fen: 100_000,
                fund_paid_fen: 334_400
            }
        );
    }

    #[test]
    fn unfiled_treatment_ceilings_and_bands() {
        let cat = catalogue();
        let pol = policy();
        let lines = [line("A1", 1, 2_100_000)];
        let filed = settle(&Inputs {
            lines: &lines,
            catalogue: &cat,
            policy: &pol,
            ytd: YearToDate {
                deductible_paid_fen: 100_000,
                fund_paid_fen: 0,
            },
            filed: true,
            account_balance_fen: 0,
        })
        .unwrap();
        // 10,000 × 80% + 11,000 × 90%.
        assert_eq!(filed.fund_fen, 800_000 + 990_000);
        let unfiled = settle(&Inputs {
            lines: &lines,
            catalogue: &cat,
            policy: &pol,
            ytd: YearToDate {
                deductible_paid_fen: 100_000,
                fund_paid_fen: 0,
            },
            filed: false,
            account_balance_fen: 0,
        })
        .unwrap();
        assert_eq!(unfiled.fund_fen, 700_000 + 880_000);
        assert_eq!(unfiled.ratio_permille, 700);
        let near_ceiling = YearToDate {
            deductible_paid_fen: 100_000,
            fund_paid_fen: 29_500_000,
        };
        let capped = settle(&Inputs {
            lines: &lines,
            catalogue: &cat,
            policy: &pol,
            ytd: near_ceiling,
            filed: true,
            account_balance_fen: 0,
        })
        .unwrap();
        assert_eq!(capped.fund_fen, 500_000);
        assert!(capped.capped_by_ceiling);
        assert_eq!(
            settle(&Inputs {
                lines: &[line("X9", 1, 1)],
                catalogue: &cat,
                policy: &pol,
                ytd: YearToDate::default(),
                filed: true,
                account_balance_fen: 0
            }),
            Err(SettleError::UnknownItem(0, "X9".into()))
        );
        assert!(matches!(
            settle(&Inputs {
                lines: &[line("A1", 0, 1)],
                catalogue: &cat,
                policy: &pol,
                ytd: YearToDate::default(),
                filed: true,
                account_balance_fen: 0
            }),
            Err(SettleError::BadLine(0, _))
        ));
    }

    #[test]
    fn spreading_is_exact() {
        assert_eq!(spread(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(spread(0, &[5, 5]), vec![0, 0]);
        assert_eq!(spread(7, &[0, 0]), vec![0, 0]);
        assert_eq!(spread(100, &[1, 0, 3]).iter().sum::<i64>(), 100);
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Parts always add up, the fund never passes the ceiling, nothing is negative.
    #[test]
    fn invariants_hold_on_random_bills() {
        let cat = catalogue();
        let mut rng = Rng(0xDEAD_BEEF);
        for case in 0..20_000 {
            let deductible = rng.below(200_000) as i64;
            let b1 = rng.below(2_000_000) as i64 + 1;
            let pol = Policy {
                deductible_fen: deductible,
                bands: vec![
                    Band {
                        up_to_fen: Some(b1),
                        ratio_permille: rng.below(1001) as u32,
                    },
                    Band {
                        up_to_fen: None,
                        ratio_permille: rng.below(1001) as u32,
                    },
                ],
                annual_ceiling_fen: rng.below(5_000_000) as i64,
                unfiled_reduction_permille: rng.below(300) as u32,
                personal_account: rng.below(2) == 0,
            };
            let codes = ["A1", "B1", "C1"];
            let lines: Vec<BillLine> = (0..1 + rng.below(6))
                .map(|_| {
                    line(
                        codes[rng.below(3) as usize],
                        1 + rng.below(5) as i64,
                        rng.below(300_000) as i64,
                    )
                })
                .collect();
            let ytd = YearToDate {
                deductible_paid_fen: rng.below(250_000) as i64,
                fund_paid_fen: rng.below(6_000_000) as i64,
            };
            let s = settle(&Inputs {
                lines: &lines,
                catalogue: &cat,
                policy: &pol,
                ytd,
                filed: rng.below(2) == 0,
                account_balance_fen: rng.below(100_000) as i64,
            })
            .unwrap();
            assert_eq!(s.fund_fen + s.account_fen + s.cash_fen, s.total_fen, "case {case}");
            assert!(
                s.fund_fen <= (pol.annual_ceiling_fen - ytd.fund_paid_fen).max(0),
                "case {case}: ceiling"
            );
            assert!(s.fund_fen <= s.eligible_fen, "case {case}");
            for l in &s.lines {
                assert!(
                    l.fund_fen >= 0 && l.account_fen >= 0 && l.cash_fen >= 0,
                    "case {case}: {l:?}"
                );
                assert_eq!(l.fund_fen + l.account_fen + l.cash_fen, l.amount_fen, "case {case}");
                assert!(l.fund_fen <= l.eligible_fen, "case {case}");
            }
            assert_eq!(s.lines.iter().map(|l| l.fund_fen).sum::<i64>(), s.fund_fen);
        }
    }
}
