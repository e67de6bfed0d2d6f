//! Cross-province medical insurance end to end over HTTP, on SQLite and (with
//! `YRD_TEST_POSTGRES_URL`) PostgreSQL.

use chrono::NaiveDate;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use yrd_insurance::InsuranceModule;
use yrd_insurance::domain::{Band, CatalogueItem, Category, Policy, VisitKind};
use yrd_insurance::service::{self, Fund, Institution, with_check_digit};
use yrd_kernel::AccessLevel::{Admin, Approve, Read, Write};
use yrd_kernel::JurisdictionCode;
use yrd_testkit::{TestApp, backends};
use yrd_web::Module;

struct Fixture {
    app: TestApp,
    /// The billing desk of a Shanghai hospital.
    desk: String,
    national_id: String,
}

fn code(c: &str) -> JurisdictionCode {
    JurisdictionCode::parse(c).unwrap()
}

async fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for backend in backends() {
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(InsuranceModule::new())];
        let app = TestApp::start(backend, modules).await;
        let db = &app.db;
        for (city, name) in [("340100", "合肥"), ("310100", "上海")] {
            service::save_fund(
                db,
                "t",
                &Fund {
                    code: format!("{city}-E"),
                    jurisdiction: code(city),
                    scheme: "employee".into(),
                    name_zh: name.into(),
                    name_en: name.into(),
                },
            )
            .await
            .unwrap();
        }
        let items = vec![
            CatalogueItem {
                code: "S001".into(),
                name_zh: "诊查费".into(),
                name_en: "Consultation".into(),
                category: Category::A,
                self_pay_permille: 0,
                price_ceiling_fen: Some(5_000),
            },
            CatalogueItem {
                code: "D003".into(),
                name_zh: "阿托伐他汀".into(),
                name_en: "Atorvastatin".into(),
                category: Category::B,
                self_pay_permille: 100,
                price_ceiling_fen: None,
            },
            CatalogueItem {
                code: "X999".into(),
                name_zh: "保健品".into(),
                name_en: "Supplement".into(),
                category: Category::C,
                self_pay_permille: 0,
                price_ceiling_fen: None,
            },
        ];
        service::save_catalogue(db, "t", "31", &items).await.unwrap();
        let policy = Policy {
            deductible_fen: 100_000,
            bands: vec![Band {
                up_to_fen: None,
                ratio_permille: 800,
            }],
            annual_ceiling_fen: 1_000_000,
            unfiled_reduction_permille: 100,
            personal_account: true,
        };
        for kind in [VisitKind::Outpatient, VisitKind::Inpatient] {
            service::save_policy(
                db,
                "t",
                "340100-E",
                3,
                kind,
                NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
                &policy,
            )
            .await
            .unwrap();
        }
        for (c, networked) in [("H3101A", true), ("H3101B", false)] {
            let inst = Institution {
                code: c.into(),
                name: c.into(),
                jurisdiction: code("310100"),
                level: 3,
                types: vec!["inpatient".into()],
                networked,
                status: "applied".into(),
            };
            service::apply_institution(db, "t", &inst).await.unwrap();
            service::set_institution_status(db, "t", c, "reviewing", None)
                .await
                .unwrap();
            service::set_institution_status(db, "t", c, "designated", None)
                .await
                .unwrap();
        }
        let national_id = with_check_digit("34010219800101001");
        let person = service::enrol(db, "t", &national_id, "张三", "340100-E", 30_000)
            .await
            .unwrap();
        let filing = service::Filing {
            kind: "long_term".into(),
            destination: code("310000"),
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            valid_to: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        };
        service::file(db, "t", &person, &filing).await.unwrap();
        service::prepay(db, "t", "340100-E", 100_000_000).await.unwrap();
        let desk = app
            .user_with_token("sh.desk", false, &[("insurance_desk", Write, "310100")])
            .await;
        out.push(Fixture { app, desk, national_id });
    }
    out
}

fn routing(message: &str, institution: &str) -> Value {
    json!({"message_id": message, "insuplc_admdvs": "340100", "mdtrtarea_admvs": "310100", "fixmedins_code": institution})
}

fn with(mut base: Value, extra: Value) -> Value {
    base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    base
}

async fn visit(f: &Fixture, message: &str, day: &str) -> String {
    let body = with(
        routing(message, "H3101A"),
        json!({"national_id": f.national_id, "kind": "outpatient", "treated_on": day}),
    );
    let reply = f
        .app
        .call(Method::POST, "/api/v1/insurance/visits", Some(&f.desk), Some(&body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["visit"].as_str().unwrap().to_string()
}

async fn bill(f: &Fixture, number: &str, message: &str, lines: Value) -> yrd_testkit::Reply {
    let body = with(routing(message, "H3101A"), json!({"lines": lines}));
    f.app
        .call(
            Method::POST,
            &format!("/api/v1/insurance/visits/{number}/bill"),
            Some(&f.desk),
            Some(&body),
        )
        .await
}

#[tokio::test]
async fn a_visit_from_hefei_is_settled_in_shanghai_and_the_ledger_balances() {
    for f in fixtures().await {
        let eligibility = f
            .app
            .call(
                Method::POST,
                "/api/v1/insurance/eligibility",
                Some(&f.desk),
                Some(&with(routing("m1", "H3101A"), json!({"national_id": f.national_id}))),
            )
            .await;
        assert_eq!(eligibility.status, StatusCode::OK, "{:?}", eligibility.body);
        assert_eq!(eligibility.body["person"]["fund"], "340100-E");
        assert_eq!(eligibility.body["filed_for_this_place"], true);

        let number = visit(&f, "m2", "2026-11-20").await;
        let lines = json!([{"item": "S001", "quantity": 1, "unit_price_fen": 6_000}, {"item": "D003", "quantity": 10, "unit_price_fen": 20_000}, {"item": "X999", "quantity": 1, "unit_price_fen": 10_000}]);
        assert_eq!(bill(&f, &number, "m3", lines).await.status, StatusCode::OK);
        let quote = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/visits/{number}/quote"),
                Some(&f.desk),
                Some(&routing("m4", "H3101A")),
            )
            .await;
        assert_eq!(quote.status, StatusCode::OK, "{:?}", quote.body);
        // S001: ¥60, ¥10 above the ¥50 ceiling. D003: ¥2,000, 10% first by the person. X999 not covered.
        // Eligible 50 + 1,800 = ¥1,850; deductible ¥1,000; fund (850 × 80%) = ¥680; account ¥300.
        assert_eq!(quote.body["settlement"]["fund_fen"], 68_000);
        assert_eq!(quote.body["settlement"]["account_fen"], 30_000);
        let balances = |app: &TestApp| {
            let db = app.db.clone();
            async move { service::balances(&db, "").await.unwrap() }
        };
        let pending: i64 = balances(&f.app)
            .await
            .iter()
            .filter(|b| b.account == "institution:H3101A")
            .map(|b| b.pending_fen)
            .sum();
        assert_eq!(pending, 98_000, "the quote holds the fund's and the account's share");

        let settled = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/visits/{number}/settle"),
                Some(&f.desk),
                Some(&routing("m5", "H3101A")),
            )
            .await;
        assert_eq!(settled.status, StatusCode::OK, "{:?}", settled.body);
        let s = &settled.body["settlement"];
        assert_eq!(s["total_fen"], 216_000);
        assert_eq!(
            s["fund_fen"].as_i64().unwrap() + s["account_fen"].as_i64().unwrap() + s["cash_fen"].as_i64().unwrap(),
            216_000
        );
        assert!(s["lines"][2]["explanation"][0].as_str().unwrap().starts_with("丙类"));
        let after = balances(&f.app).await;
        let institution = after.iter().find(|b| b.account == "institution:H3101A").unwrap();
        assert_eq!(
            (institution.posted_fen, institution.pending_fen),
            (98_000, 0),
            "the hold was resolved once"
        );
        assert!(service::ledger_balances(&f.app.db).await.unwrap());
        let person = service::person_by_id(&f.app.db, &f.national_id).await.unwrap().unwrap();
        assert_eq!(person.account_balance_fen, 0);

        // A retry of the same message gets the same answer; the same id with another body is refused.
        let again = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/visits/{number}/settle"),
                Some(&f.desk),
                Some(&routing("m5", "H3101A")),
            )
            .await;
        assert_eq!(again.body, settled.body);
        let forged = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/visits/{number}/quote"),
                Some(&f.desk),
                Some(&routing("m5", "H3101A")),
            )
            .await;
        assert_eq!(forged.status, StatusCode::CONFLICT);

        // Reverse once; not twice; a reversal cannot be reversed.
        let id = settled.body["settlement_id"].as_i64().unwrap();
        let reverse = |message: &str, id: i64| {
            with(routing(message, "H3101A"), json!({"reason": "录入错误"})).to_string() + &id.to_string()
        };
        let _ = reverse;
        let path = format!("/api/v1/insurance/settlements/{id}/reverse");
        let first = f
            .app
            .call(
                Method::POST,
                &path,
                Some(&f.desk),
                Some(&with(routing("m6", "H3101A"), json!({"reason": "录入错误"}))),
            )
            .await;
        assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
        let second = f
            .app
            .call(
                Method::POST,
                &path,
                Some(&f.desk),
                Some(&with(routing("m7", "H3101A"), json!({"reason": "again"}))),
            )
            .await;
        assert_eq!(second.status, StatusCode::CONFLICT);
        let reversal = first.body["reversal_id"].as_i64().unwrap();
        let of_reversal = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/settlements/{reversal}/reverse"),
                Some(&f.desk),
                Some(&with(routing("m8", "H3101A"), json!({"reason": "x"}))),
            )
            .await;
        assert_eq!(of_reversal.status, StatusCode::CONFLICT);
        assert!(service::ledger_balances(&f.app.db).await.unwrap());
        let institution = service::balances(&f.app.db, "institution:H3101A").await.unwrap();
        assert_eq!(institution[0].posted_fen, 0, "the reversal gave everything back");
        assert_eq!(
            service::person_by_id(&f.app.db, &f.national_id)
                .await
                .unwrap()
                .unwrap()
                .account_balance_fen,
            30_000
        );
        f.app.finish().await;
    }
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_posted() {
    for f in fixtures().await {
        let postings_before = f.app.count("ins_postings").await;
        let unknown = f
            .app
            .call(
                Method::POST,
                "/api/v1/insurance/eligibility",
                Some(&f.desk),
                Some(&with(routing("b1", "NOPE"), json!({"national_id": f.national_id}))),
            )
            .await;
        assert_eq!(unknown.error_paths(), ["fixmedins_code"]);
        let wrong_place = json!({"message_id": "b2", "insuplc_admdvs": "320500", "mdtrtarea_admvs": "310100", "fixmedins_code": "H3101A", "national_id": f.national_id});
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    "/api/v1/insurance/eligibility",
                    Some(&f.desk),
                    Some(&wrong_place)
                )
                .await
                .error_paths(),
            ["insuplc_admdvs"]
        );
        let not_networked = with(
            routing("b3", "H3101B"),
            json!({"national_id": f.national_id, "kind": "outpatient", "treated_on": "2026-11-20"}),
        );
        let reply = f
            .app
            .call(
                Method::POST,
                "/api/v1/insurance/visits",
                Some(&f.desk),
                Some(&not_networked),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert!(reply.body["detail"].as_str().unwrap().contains("not networked"));
        let number = visit(&f, "b4", "2026-11-20").await;
        let reply = bill(&f, &number, "b5", json!([{"item": "S001", "quantity": 1, "unit_price_fen": 100}, {"item": "NOT-LISTED", "quantity": 1, "unit_price_fen": 100}])).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_paths(), ["lines/1/item"]);
        let unbilled = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/visits/{number}/settle"),
                Some(&f.desk),
                Some(&routing("b6", "H3101A")),
            )
            .await;
        assert_eq!(unbilled.status, StatusCode::CONFLICT);
        assert_eq!(f.app.count("ins_postings").await, postings_before);

        // Another province's desk cannot act for a Shanghai hospital; a fund cannot read another fund's people.
        let js_desk = f
            .app
            .user_with_token("js.desk", false, &[("insurance_desk", Write, "32")])
            .await;
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    "/api/v1/insurance/eligibility",
                    Some(&js_desk),
                    Some(&with(routing("b7", "H3101A"), json!({"national_id": f.national_id})))
                )
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let sh_fund = f
            .app
            .user_with_token("sh.fund", false, &[("insurance", Read, "31")])
            .await;
        let hf_fund = f
            .app
            .user_with_token("hf.fund", false, &[("insurance", Read, "3401")])
            .await;
        let lookup = json!({"national_id": f.national_id});
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    "/api/v1/insurance/persons/lookup",
                    Some(&sh_fund),
                    Some(&lookup)
                )
                .await
                .status,
            StatusCode::NOT_FOUND,
            "another fund's person answers like no one"
        );
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    "/api/v1/insurance/persons/lookup",
                    Some(&hf_fund),
                    Some(&lookup)
                )
                .await
                .status,
            StatusCode::OK
        );
        assert!(
            !f.app.audit_entries("access.denied").await.is_empty(),
            "refusals are audited"
        );
        let bad_id = json!({"national_id": "340102198001010010", "name": "x", "fund": "340100-E"});
        let hf_admin = f
            .app
            .user_with_token("hf.admin", false, &[("insurance", Admin, "3401")])
            .await;
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    "/api/v1/insurance/persons",
                    Some(&hf_admin),
                    Some(&bad_id)
                )
                .await
                .error_paths(),
            ["national_id"]
        );
        let huge = json!({"fund": "340100-E", "amount_fen": i64::MAX});
        let reply = f
            .app
            .call(
                Method::POST,
                "/api/v1/insurance/prepayments",
                Some(&hf_admin),
                Some(&huge),
            )
            .await;
        assert_eq!(reply.error_paths(), ["amount_fen"]);
        let future = with(
            routing("b9", "H3101A"),
            json!({"national_id": f.national_id, "kind": "outpatient", "treated_on": "2999-01-01"}),
        );
        let reply = f
            .app
            .call(Method::POST, "/api/v1/insurance/visits", Some(&f.desk), Some(&future))
            .await;
        assert_eq!(reply.error_paths(), ["treated_on"]);

        // Desks and funds are separate roles, even within one city.
        let sh_fund_admin = f
            .app
            .user_with_token("sh.fund.admin", false, &[("insurance", Admin, "31")])
            .await;
        let as_desk = with(routing("b11", "H3101A"), json!({"national_id": f.national_id}));
        let reply = f
            .app
            .call(
                Method::POST,
                "/api/v1/insurance/eligibility",
                Some(&sh_fund_admin),
                Some(&as_desk),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "a fund is not a billing desk");
        let enrol = json!({"national_id": with_check_digit("31010119900101002"), "name": "李四", "fund": "310100-E"});
        let reply = f
            .app
            .call(Method::POST, "/api/v1/insurance/persons", Some(&f.desk), Some(&enrol))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "a billing desk does not enrol people"
        );

        // A stored answer goes only to a caller who acts for the institution.
        let asked = with(routing("b10", "H3101A"), json!({"national_id": f.national_id}));
        let first = f
            .app
            .call(
                Method::POST,
                "/api/v1/insurance/eligibility",
                Some(&f.desk),
                Some(&asked),
            )
            .await;
        assert_eq!(first.status, StatusCode::OK);
        let again = f
            .app
            .call(
                Method::POST,
                "/api/v1/insurance/eligibility",
                Some(&f.desk),
                Some(&asked),
            )
            .await;
        assert_eq!(again.body, first.body, "a retry gets the first answer");
        for stranger in [None, Some(js_desk.as_str())] {
            let replayed = f
                .app
                .call(Method::POST, "/api/v1/insurance/eligibility", stranger, Some(&asked))
                .await;
            assert!(
                matches!(replayed.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                "{:?}",
                replayed.body
            );
        }
        f.app.finish().await;
    }
}

#[tokio::test]
async fn concurrent_settlements_never_spend_the_ceiling_twice() {
    for f in fixtures().await {
        // Each visit alone would take ¥4,000 from a ¥10,000 ceiling; eight run at once.
        let mut numbers = Vec::new();
        for i in 0..8 {
            let number = visit(&f, &format!("c{i}"), "2026-11-21").await;
            bill(
                &f,
                &number,
                &format!("cb{i}"),
                json!([{"item": "D003", "quantity": 1, "unit_price_fen": 700_000}]),
            )
            .await;
            numbers.push(number);
        }
        let mut handles = Vec::new();
        for (i, number) in numbers.iter().enumerate() {
            let client = f.app.client.clone();
            let url = f.app.url(&format!("/api/v1/insurance/visits/{number}/settle"));
            let token = f.desk.clone();
            let body = routing(&format!("cs{i}"), "H3101A");
            handles.push(tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        for h in handles {
            assert_eq!(h.await.unwrap(), StatusCode::OK);
        }
        let stats: i64 = service::stats(&f.app.db)
            .await
            .unwrap()
            .iter()
            .map(|p| p.fund_fen)
            .sum();
        assert_eq!(stats, 1_000_000, "exactly the annual ceiling, never more");
        assert!(service::ledger_balances(&f.app.db).await.unwrap());
        f.app.finish().await;
    }
}

#[tokio::test]
async fn month_end_clearing_reconciliation_and_review() {
    for f in fixtures().await {
        let mut ids = Vec::new();
        for (i, day) in ["2026-10-03", "2026-10-17"].iter().enumerate() {
            let number = visit(&f, &format!("v{i}"), day).await;
            bill(&f, &number, &format!("vb{i}"), json!([{"item": "S001", "quantity": 1, "unit_price_fen": 5_000}, {"item": "D003", "quantity": 5, "unit_price_fen": 40_000}])).await;
            let s = f
                .app
                .call(
                    Method::POST,
                    &format!("/api/v1/insurance/visits/{number}/settle"),
                    Some(&f.desk),
                    Some(&routing(&format!("vs{i}"), "H3101A")),
                )
                .await;
            ids.push((
                s.body["settlement_id"].as_i64().unwrap(),
                s.body["settlement"]["fund_fen"].as_i64().unwrap(),
                s.body["settlement"]["account_fen"].as_i64().unwrap(),
            ));
        }
        let office = f
            .app
            .user_with_token("office", false, &[("insurance", Admin, "")])
            .await;
        let cleared = f
            .app
            .call(Method::POST, "/api/v1/insurance/clearing/2026-10", Some(&office), None)
            .await;
        assert_eq!(cleared.status, StatusCode::OK, "{:?}", cleared.body);
        let statements = cleared.body.as_array().unwrap();
        assert_eq!(statements.len(), 1);
        assert_eq!(statements[0]["debtor_fund"], "340100-E");
        assert_eq!(statements[0]["creditor_place"], "310000");
        assert_eq!(
            statements[0]["total_fen"],
            ids.iter().map(|(_, f, a)| f + a).sum::<i64>()
        );
        assert_eq!(statements[0]["body"]["lines"].as_array().unwrap().len(), 2);
        let again = f
            .app
            .call(Method::POST, "/api/v1/insurance/clearing/2026-10", Some(&office), None)
            .await;
        assert_eq!(again.body, json!([]), "a month is cleared once");
        let running = chrono::Utc::now()
            .with_timezone(&yrd_kernel::time::shanghai())
            .format("%Y-%m")
            .to_string();
        let open = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/clearing/{running}"),
                Some(&office),
                None,
            )
            .await;
        assert_eq!(open.error_paths(), ["month"], "the running month stays open");
        let view = f
            .app
            .get("/api/v1/insurance/statements?month=2026-10", Some(&office))
            .await
            .body;
        let statement: service::Statement = serde_json::from_value(view["statements"][0].clone()).unwrap();
        let key = view["public_key"].as_str().unwrap();
        assert!(service::verify_statement(&statement, key));
        let mut altered = statement.clone();
        altered.body["header"]["total_fen"] = json!(1);
        assert!(
            !service::verify_statement(&altered, key),
            "an altered statement fails its signature"
        );
        let positions = service::net_positions(&f.app.db, "2026-10").await.unwrap();
        assert_eq!(
            positions,
            vec![("340000".to_string(), "310000".to_string(), statement.total_fen)]
        );

        // 3201: the hospital's totals against the ledger.
        let fund_total: i64 = ids.iter().map(|i| i.1).sum();
        let account_total: i64 = ids.iter().map(|i| i.2).sum();
        let theirs = json!({"settlements": 2, "total_fen": 410_000, "fund_fen": fund_total, "account_fen": account_total, "lines": [[ids[0].0, ids[0].1], [ids[1].0, ids[1].1 + 100]]});
        let rec = f
            .app
            .call(
                Method::POST,
                "/api/v1/insurance/reconciliation",
                Some(&f.desk),
                Some(&json!({"institution": "H3101A", "from": "2026-10-01", "to": "2026-10-31", "totals": theirs})),
            )
            .await;
        assert_eq!(rec.status, StatusCode::OK, "{:?}", rec.body);
        assert_eq!(rec.body["matches"], false);
        assert_eq!(
            rec.body["discrepancies"],
            json!([format!(
                "settlement {}: fund share institution {}, ledger {}",
                ids[1].0,
                ids[1].1 + 100,
                ids[1].1
            )])
        );

        // Review: a rejection corrects with a transfer back to the fund, never an edit.
        sqlx::query("INSERT INTO ins_reviews (settlement_id, reason, state, at) VALUES ($1, 'test', 'selected', '2026-11-01T00:00:00.000000Z')").bind(ids[0].0).execute(f.app.db.pool()).await.ok();
        let reviewer = f
            .app
            .user_with_token("hf.reviewer", false, &[("insurance", Approve, "3401")])
            .await;
        let reject = json!({"decision": "reject", "note": "超标准收费", "correction_fen": 1_000});
        let reply = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/reviews/{}", ids[0].0),
                Some(&reviewer),
                Some(&reject),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
        let twice = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/reviews/{}", ids[0].0),
                Some(&reviewer),
                Some(&reject),
            )
            .await;
        assert_eq!(twice.status, StatusCode::CONFLICT);
        let reverse = with(routing("vr0", "H3101A"), json!({"reason": "退费"}));
        let refused = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/settlements/{}/reverse", ids[0].0),
                Some(&f.desk),
                Some(&reverse),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::CONFLICT,
            "a corrected claim is not refunded twice"
        );
        assert!(service::ledger_balances(&f.app.db).await.unwrap());
        // A late settlement for the cleared month is cleared with the running month.
        let late = visit(&f, "late", "2026-10-20").await;
        bill(
            &f,
            &late,
            "late-b",
            json!([{"item": "S001", "quantity": 1, "unit_price_fen": 5_000}]),
        )
        .await;
        let settled = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/insurance/visits/{late}/settle"),
                Some(&f.desk),
                Some(&routing("late-s", "H3101A")),
            )
            .await;
        let late_id = settled.body["settlement_id"].as_i64().unwrap();
        let record = service::settlement(&f.app.db, late_id).await.unwrap().unwrap();
        assert_eq!(record.month, running);
        f.app.finish().await;
    }
}

#[tokio::test]
async fn institutions_follow_their_workflow_and_feed_the_plan() {
    for f in fixtures().await {
        let bureau = f
            .app
            .user_with_token("sh.bureau", false, &[("insurance", Approve, "31")])
            .await;
        let body = json!({"status": "designated"});
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    "/api/v1/insurance/institutions/H3101A/status",
                    Some(&bureau),
                    Some(&body)
                )
                .await
                .status,
            StatusCode::CONFLICT,
            "already designated"
        );
        let suspend_without_reason = json!({"status": "suspended"});
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    "/api/v1/insurance/institutions/H3101A/status",
                    Some(&bureau),
                    Some(&suspend_without_reason)
                )
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let indicator = f.app.ctx.indicator("insurance.designated_institutions").unwrap();
        assert_eq!(
            indicator.current(None).await.unwrap(),
            1.0,
            "one networked, designated institution"
        );
        // An applicant cannot put itself on the cross-province network; the bureau does.
        let application = json!({"code": "H3101N", "name": "新医院", "jurisdiction": "310100", "level": 2, "types": ["inpatient"], "networked": true, "status": "applied"});
        let applied = f
            .app
            .call(
                Method::POST,
                "/api/v1/insurance/institutions",
                Some(&f.desk),
                Some(&application),
            )
            .await;
        assert_eq!(applied.status, StatusCode::CREATED, "{:?}", applied.body);
        assert!(
            !service::institution(&f.app.db, "H3101N")
                .await
                .unwrap()
                .unwrap()
                .networked
        );
        let connect = json!({"networked": true});
        let path = "/api/v1/insurance/institutions/H3101N/networked";
        assert_eq!(
            f.app
                .call(Method::PUT, path, Some(&f.desk), Some(&connect))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            f.app
                .call(Method::PUT, path, Some(&bureau), Some(&connect))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert!(
            service::institution(&f.app.db, "H3101N")
                .await
                .unwrap()
                .unwrap()
                .networked
        );
        let suspend = json!({"status": "suspended", "reason": "违规收费"});
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    "/api/v1/insurance/institutions/H3101A/status",
                    Some(&bureau),
                    Some(&suspend)
                )
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(indicator.current(None).await.unwrap(), 0.0);
        let suspended_visit = with(
            routing("s1", "H3101A"),
            json!({"national_id": f.national_id, "kind": "outpatient", "treated_on": "2026-11-20"}),
        );
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    "/api/v1/insurance/visits",
                    Some(&f.desk),
                    Some(&suspended_visit)
                )
                .await
                .status,
            StatusCode::CONFLICT
        );
        f.app.finish().await;
    }
}

#[tokio::test]
async fn the_demo_loads_and_the_pages_render() {
    for backend in backends() {
        let app = TestApp::start(backend, vec![Arc::new(InsuranceModule::new()) as Arc<dyn Module>]).await;
        yrd_insurance::demo::load(&app.db, 40).await.unwrap();
        yrd_insurance::demo::load(&app.db, 40).await.unwrap();
        assert_eq!(app.count("ins_funds").await, 82);
        assert!(app.count("ins_institutions").await >= 200);
        assert!(service::ledger_balances(&app.db).await.unwrap());
        let user = yrd_auth::NewUser {
            login: "viewer".into(),
            display_name: "v".into(),
            password: Some("a long password".into()),
            is_admin: true,
            is_demo: false,
        };
        yrd_auth::create_user(&app.db, "t", user).await.unwrap();
        let (cookie, _) = app.console_login("viewer", "a long password").await.unwrap();
        for lang in ["zh", "en"] {
            for path in ["/insurance", "/insurance/desk", "/insurance/institutions"] {
                let page = app
                    .client
                    .get(app.url(path))
                    .header("cookie", format!("{cookie}; yrd_lang={lang}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(page.status(), StatusCode::OK, "{path}");
                if path == "/insurance" {
                    let html = page.text().await.unwrap();
                    assert!(html.contains(r#"<td class="mono">"#), "the office sees the statements");
                }
            }
        }
        let anonymous = app
            .client
            .get(app.url("/insurance"))
            .header("cookie", "yrd_lang=en")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(anonymous.contains("Sign in to see the figures"));
        assert!(
            !anonymous.contains(r#"<td class="mono">"#),
            "no statements for visitors"
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn lines_far_above_the_norm_for_their_item_are_selected_for_review() {
    for f in fixtures().await {
        let settle = async |i: usize, quantity: i64| {
            let number = visit(&f, &format!("n{i}"), "2026-10-05").await;
            let lines = json!([{"item": "S001", "quantity": quantity, "unit_price_fen": 3_000}]);
            assert_eq!(bill(&f, &number, &format!("nb{i}"), lines).await.status, StatusCode::OK);
            let reply = f
                .app
                .call(
                    Method::POST,
                    &format!("/api/v1/insurance/visits/{number}/settle"),
                    Some(&f.desk),
                    Some(&routing(&format!("ns{i}"), "H3101A")),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            reply.body["settlement_id"].as_i64().unwrap()
        };
        // Until the item has a norm of 30 lines, nothing is compared.
        let early = settle(0, 4).await;
        for i in 1..=30 {
            settle(i, 1).await;
        }
        let usual = settle(31, 2).await;
        let unusual = settle(32, 4).await;
        let reviewer = f
            .app
            .user_with_token("hf.reviewer", false, &[("insurance", Approve, "3401")])
            .await;
        let reviews = f.app.get("/api/v1/insurance/reviews", Some(&reviewer)).await.body;
        let reason = |id: i64| {
            reviews
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["settlement"] == id)
                .map(|r| r["reason"].as_str().unwrap().to_string())
        };
        // ¥60.00 against a norm of ¥32.90 (31 lines) is under 3×; ¥120.00 against ¥33.75 is over.
        let selected = reason(unusual).expect("the unusual line is selected");
        assert!(selected.starts_with("deviation"), "{selected}");
        assert!(selected.contains("S001 ¥120.00"), "{selected}");
        assert!(!reason(usual).unwrap_or_default().starts_with("deviation"));
        assert!(!reason(early).unwrap_or_default().starts_with("deviation"));
        let shanghai = f
            .app
            .user_with_token("sh.reviewer", false, &[("insurance", Approve, "31")])
            .await;
        let theirs = f.app.get("/api/v1/insurance/reviews", Some(&shanghai)).await.body;
        assert_eq!(theirs, json!([]), "Hefei's claims are reviewed by Hefei's fund only");
        f.app.finish().await;
    }
}
