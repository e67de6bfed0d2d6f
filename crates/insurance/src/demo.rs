//! Demonstration data: funds for the 41 cities, hundreds of designated institutions,
//! insured people who move between provinces, settlements over three months, one month
//! cleared. Deterministic; names say demo.

use crate::domain::{Band, BillLine, CatalogueItem, Category, Policy, VisitKind};
use crate::service::{self, Filing, Fund, Institution};
use chrono::NaiveDate;
use sqlx::Row;
use yrd_db::Db;
use yrd_kernel::{JurisdictionCode, JurisdictionLevel, jurisdictions};

pub const DEMO_SETTLEMENTS: usize = 600;

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// (code, zh, en, category, 乙 share ‰, unit price ceiling in fen)
type DemoItem = (&'static str, &'static str, &'static str, Category, u32, Option<i64>);

const ITEMS: [DemoItem; 16] = [
    (
        "D001",
        "阿莫西林胶囊",
        "Amoxicillin capsules",
        Category::A,
        0,
        Some(3_000),
    ),
    ("D002", "二甲双胍片", "Metformin tablets", Category::A, 0, Some(2_500)),
    (
        "D003",
        "阿托伐他汀钙片",
        "Atorvastatin tablets",
        Category::B,
        100,
        Some(8_000),
    ),
    (
        "D004",
        "胰岛素注射液",
        "Insulin injection",
        Category::B,
        50,
        Some(20_000),
    ),
    (
        "D005",
        "进口抗肿瘤靶向药",
        "Imported targeted cancer drug",
        Category::B,
        300,
        Some(500_000),
    ),
    ("D006", "保健品", "Health supplements", Category::C, 0, None),
    (
        "S001",
        "普通门诊诊查费",
        "Outpatient consultation",
        Category::A,
        0,
        Some(2_500),
    ),
    ("S002", "血常规检查", "Full blood count", Category::A, 0, Some(2_000)),
    (
        "S003",
        "肝功能检查",
        "Liver function panel",
        Category::A,
        0,
        Some(6_000),
    ),
    ("S004", "CT 平扫", "CT scan", Category::B, 100, Some(30_000)),
    ("S005", "磁共振检查", "MRI scan", Category::B, 150, Some(60_000)),
    (
        "S006",
        "住院床位费（日）",
        "Hospital bed (day)",
        Category::A,
        0,
        Some(10_000),
    ),
    ("S007", "护理费（日）", "Nursing (day)", Category::A, 0, Some(5_000)),
    ("S008", "阑尾切除术", "Appendectomy", Category::A, 0, Some(300_000)),
    ("S009", "特需病房（日）", "VIP ward (day)", Category::C, 0, None),
    (
        "S010",
        "康复理疗",
        "Rehabilitation therapy",
        Category::B,
        200,
        Some(15_000),
    ),
];

fn policy(scheme: &str, level: i64, kind: VisitKind, newer: bool) -> Policy {
    let employee = scheme == "employee";
    let (deductible, ratio) = match (kind, level) {
        (VisitKind::Outpatient, _) => (
            if employee { 150_000 } else { 50_000 },
            if employee { 700 } else { 500 },
        ),
        (VisitKind::Inpatient, 3) => (
            if employee { 120_000 } else { 150_000 },
            if employee { 850 } else { 700 },
        ),
        (VisitKind::Inpatient, 2) => (
            if employee { 80_000 } else { 100_000 },
            if employee { 880 } else { 750 },
        ),
        (VisitKind::Inpatient, _) => (if employee { 50_000 } else { 60_000 }, if employee { 900 } else { 800 }),
    };
    Policy {
        deductible_fen: deductible,
        bands: vec![
            Band {
                up_to_fen: Some(5_000_000),
                ratio_permille: ratio,
            },
            Band {
                up_to_fen: None,
                ratio_permille: (ratio + 50).min(950),
            },
        ],
        annual_ceiling_fen: if employee { 40_000_000 } else { 30_000_000 } + if newer { 5_000_000 } else { 0 },
        unfiled_reduction_permille: 100,
        personal_account: employee,
    }
}

pub async fn load(db: &Db, settlements: usize) -> Result<(), String> {
    let e = |e: service::ServiceError| e.to_string();
    let existing: i64 = sqlx::query("SELECT COUNT(*) FROM ins_settlements")
        .fetch_one(db.pool())
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    if existing > 0 {
        return Ok(());
    }
    let cities: Vec<JurisdictionCode> = jurisdictions()
        .all()
        .filter(|j| j.level == JurisdictionLevel::City)
        .map(|j| j.code)
        .collect();
    for province in ["31", "32", "33", "34"] {
        let items: Vec<CatalogueItem> = ITEMS
            .iter()
            .map(|(code, zh, en, category, share, ceiling)| CatalogueItem {
                code: (*code).into(),
                name_zh: (*zh).into(),
                name_en: (*en).into(),
                category: *category,
                self_pay_permille: *share,
                price_ceiling_fen: *ceiling,
            })
            .collect();
        service::save_catalogue(db, "system", province, &items)
            .await
            .map_err(e)?;
    }
    for city in &cities {
        let name = &city.jurisdiction().name_zh;
        let name_en = &city.jurisdiction().name_en;
        for (scheme, letter, zh, en) in [
            ("employee", "E", "职工基本医疗保险", "employee medical insurance"),
            ("resident", "R", "城乡居民基本医疗保险", "resident medical insurance"),
        ] {
            let fund = Fund {
                code: format!("{city}-{letter}"),
                jurisdiction: *city,
                scheme: scheme.into(),
                name_zh: format!("{name}{zh}（演示）"),
                name_en: format!("{name_en} {en} (demo)"),
            };
            service::save_fund(db, "system", &fund).await.map_err(e)?;
            for level in 1..=3 {
                for kind in [VisitKind::Outpatient, VisitKind::Inpatient] {
                    // Two versions, so that treatment dates pick the one in force.
                    for (year, revised) in [(2024, false), (2026, true)] {
                        service::save_policy(
                            db,
                            "system",
                            &fund.code,
                            level,
                            kind,
                            NaiveDate::from_ymd_opt(year, 1, 1).expect("date"),
                            &policy(scheme, level, kind, revised),
                        )
                        .await
                        .map_err(e)?;
                    }
                }
            }
            service::prepay(db, "system", &fund.code, 1_000_000_000)
                .await
                .map_err(e)?;
        }
    }
    let mut rng = Rng(20260101);
    let mut institutions: Vec<Institution> = Vec::new();
    for (c, city) in cities.iter().enumerate() {
        for k in 0..5 {
            let level = [3, 3, 2, 2, 1][k];
            let inst = Institution {
                code: format!("H{}{k:02}", &city.to_string()[..4]),
                name: format!("{}第{}人民医院（演示）", city.jurisdiction().name_zh, k + 1),
                jurisdiction: *city,
                level,
                types: if level == 1 {
                    vec!["general_outpatient".into()]
                } else {
                    vec![
                        "general_outpatient".into(),
                        "chronic_outpatient".into(),
                        "inpatient".into(),
                    ]
                },
                networked: (c + k) % 10 != 9,
                status: "applied".into(),
            };
            service::apply_institution(db, "system", &inst).await.map_err(e)?;
            if (c * 5 + k) % 37 == 36 {
                continue; // still waiting for review
            }
            service::set_institution_status(db, "system", &inst.code, "reviewing", None)
                .await
                .map_err(e)?;
            service::set_institution_status(db, "system", &inst.code, "designated", None)
                .await
                .map_err(e)?;
            if (c * 5 + k) % 53 == 52 {
                service::set_institution_status(
                    db,
                    "system",
                    &inst.code,
                    "suspended",
                    Some("演示：违规收费调查中 / Demo: billing under investigation"),
                )
                .await
                .map_err(e)?;
                continue;
            }
            institutions.push(Institution {
                status: "designated".into(),
                ..inst
            });
        }
    }
    let mut people = Vec::new();
    for n in 0..300 {
        let city = cities[rng.below(cities.len() as u64) as usize];
        let scheme = if n % 3 == 0 { "R" } else { "E" };
        let id = service::with_check_digit(&format!(
            "{}19{:02}{:02}{:02}{:03}",
            city,
            50 + rng.below(50),
            1 + rng.below(12),
            1 + rng.below(28),
            n % 1000
        ));
        let person = service::enrol(
            db,
            "system",
            &id,
            &format!("演示参保人 {n:03}"),
            &format!("{city}-{scheme}"),
            if scheme == "E" {
                200_000 + rng.below(300_000) as i64
            } else {
                0
            },
        )
        .await
        .map_err(e)?;
        if n % 2 == 0 {
            let other = cities[rng.below(cities.len() as u64) as usize];
            let filing = Filing {
                kind: if n % 4 == 0 {
                    "long_term".into()
                } else {
                    "temporary".into()
                },
                destination: other.province(),
                valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
                valid_to: NaiveDate::from_ymd_opt(2026, 12, 31).expect("date"),
            };
            service::file(db, "system", &person, &filing).await.map_err(e)?;
        }
        people.push(person);
    }
    let networked: Vec<&Institution> = institutions.iter().filter(|i| i.networked).collect();
    for n in 0..settlements {
        let person = &people[rng.below(people.len() as u64) as usize];
        let home = &person.fund[..2];
        let candidates: Vec<&&Institution> = networked
            .iter()
            .filter(|i| !i.jurisdiction.to_string().starts_with(home))
            .collect();
        let inst = candidates[rng.below(candidates.len() as u64) as usize];
        let kind = if n % 4 == 0 {
            VisitKind::Inpatient
        } else {
            VisitKind::Outpatient
        };
        let day = NaiveDate::from_ymd_opt(2026, 9, 1).expect("date") + chrono::Duration::days(rng.below(85) as i64);
        let mut tx = db.begin().await.map_err(|e| e.to_string())?;
        let visit = service::register_visit(&mut tx, person, inst, kind, day)
            .await
            .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        let pool: &[usize] = if kind == VisitKind::Inpatient {
            &[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        } else {
            &[0, 1, 2, 3, 5, 6, 7, 8, 9, 15]
        };
        let lines: Vec<BillLine> = (0..2 + rng.below(3))
            .map(|_| {
                let (code, _, _, _, _, ceiling) = ITEMS[pool[rng.below(pool.len() as u64) as usize]];
                let base = ceiling.unwrap_or(20_000);
                BillLine {
                    item: code.into(),
                    quantity: 1 + rng.below(if kind == VisitKind::Inpatient { 8 } else { 3 }) as i64,
                    unit_price_fen: base * (80 + rng.below(40) as i64) / 100,
                }
            })
            .collect();
        sqlx::query("UPDATE ins_visits SET lines = $1, state = 'billed' WHERE id = $2")
            .bind(serde_json::to_string(&lines).unwrap_or_default())
            .bind(visit.id)
            .execute(db.pool())
            .await
            .map_err(|e| e.to_string())?;
        let visit = service::visit(db, &visit.number)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("visit vanished")?;
        if n % 5 == 0 {
            service::quote(db, "demo", &visit).await.map_err(e)?;
        }
        let (record, _) = service::settle(db, "demo", &visit, 3).await.map_err(e)?;
        if n % 50 == 49 {
            service::reverse(
                db,
                "demo",
                record.id,
                "演示：患者信息录入错误 / Demo: wrong patient data",
            )
            .await
            .map_err(e)?;
        }
    }
    service::clear_month(db, "system", "2026-10").await.map_err(e)?;
    Ok(())
}
