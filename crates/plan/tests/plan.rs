//! The action plan module end to end over HTTP, on SQLite and (with
//! `YRD_TEST_POSTGRES_URL`) PostgreSQL.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use yrd_kernel::AccessLevel::{Approve, Read, Write};
use yrd_plan::{PlanModule, SHIPPED_PLAN, planfile, service};
use yrd_testkit::{ProbeModule, TestApp, backends};
use yrd_web::Module;

async fn apps() -> Vec<TestApp> {
    let mut out = Vec::new();
    for backend in backends() {
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(PlanModule::new()), Arc::new(ProbeModule::new())];
        out.push(TestApp::start(backend, modules).await);
    }
    out
}

async fn import_shipped(app: &TestApp) -> service::ImportSummary {
    let plan = planfile::parse(SHIPPED_PLAN).unwrap();
    service::import(&app.db, "test", &plan, "digest").await.unwrap()
}

#[tokio::test]
async fn the_shipped_plan_imports_once_and_again_without_duplicates() {
    for app in apps().await {
        let first = import_shipped(&app).await;
        assert_eq!(first.aspects, 9);
        assert_eq!(first.tasks_created, 35);
        assert_eq!(first.tasks_updated, 0);
        let second = import_shipped(&app).await;
        assert_eq!((second.tasks_created, second.tasks_updated), (0, 35));
        assert_eq!(app.count("plan_tasks").await, 35);
        assert_eq!(app.count("plan_aspects").await, 9);
        assert_eq!(app.count("plan_kpis").await, 7);
        let summary = app.get("/api/v1/plan", None).await.body;
        assert_eq!(summary["aspects"].as_array().unwrap().len(), 9);
        assert_eq!(summary["aspects"][0]["planned_tasks"], 20);
        // The export reads back as the same plan.
        let exported = service::export(&app.db, yrd_plan::http::today())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(planfile::parse(&planfile::render(&exported)).unwrap(), exported);
        assert_eq!(exported.tasks.len(), 35);
        app.finish().await;
    }
}

#[tokio::test]
async fn a_broken_file_is_refused_whole() {
    let broken = SHIPPED_PLAN
        .replacen("number = 2\naspect = 1", "number = 1\naspect = 1", 1)
        .replacen("aspect = 6", "aspect = 10", 1)
        .replacen("lead = [\"330000\"]", "lead = [\"330099\"]", 1)
        .replacen("due = \"2026-12-31\"", "due = \"2027-06-30\"", 1)
        .replacen("direction = \"down\"", "direction = \"up\"", 1)
        .replacen("start = \"2024-07-25\"", "start = \"2024-02-30\"", 1);
    let errors: Vec<String> = planfile::parse(&broken)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    let expect = [
        "task 1: number: task 1 is defined twice",
        "aspect: aspect 10 is not defined",
        "lead[0]: '330099' is not a jurisdiction",
        "due: 2027-06-30 is outside the plan period",
        "kpi 'pue': target: direction is up but the target 1.25 is not above the baseline 1.5",
        "start: '2024-02-30' is not a date",
    ];
    for e in expect {
        assert!(
            errors.iter().any(|line| line.contains(e) && line.starts_with("line ")),
            "missing {e:?} in {errors:#?}"
        );
    }
}

/// The shipped plan plus task 160: led by Anhui, joined by Jiangsu only.
const ANHUI_TASK: &str = r#"
[[tasks]]
number = 160
aspect = 9
title_zh = "皖苏联合应急物资储备"
title_en = "Anhui–Jiangsu joint emergency reserves"
lead = ["340000"]
participants = ["320000"]
start = "2024-07-25"
due = "2026-12-31"
provenance = "test"
"#;

#[tokio::test]
async fn a_zhejiang_official_cannot_edit_an_anhui_led_task() {
    for app in apps().await {
        let plan = planfile::parse(&format!("{SHIPPED_PLAN}{ANHUI_TASK}")).unwrap();
        service::import(&app.db, "test", &plan, "d").await.unwrap();
        let zj = app.user_with_token("zj.plan", false, &[("plan", Write, "33")]).await;
        let ah = app.user_with_token("ah.plan", false, &[("plan", Write, "34")]).await;
        let js = app.user_with_token("js.plan", false, &[("plan", Write, "32")]).await;
        let before = app.get("/api/v1/plan/tasks/160", None).await.body;

        let patch = json!({"lead_agency": "浙江省应急管理厅"});
        let refused = app
            .call(Method::PATCH, "/api/v1/plan/tasks/160", Some(&zj), Some(&patch))
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let milestone = app
            .call(
                Method::POST,
                "/api/v1/plan/tasks/160/flags",
                Some(&zj),
                Some(&json!({"kind": "risk", "description": "x", "owner": "y"})),
            )
            .await;
        assert_eq!(milestone.status, StatusCode::FORBIDDEN);
        let report =
            json!({"period": "2026-Q3", "percent_complete": 60, "narrative_zh": "进展", "narrative_en": "Progress"});
        assert_eq!(
            app.call(Method::POST, "/api/v1/plan/tasks/160/reports", Some(&zj), Some(&report))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let denials = app.audit_entries("access.denied").await;
        assert!(
            denials
                .iter()
                .all(|e| e.actor == "zj.plan" && e.jurisdiction.as_deref() == Some("340000")),
            "recorded under the lead"
        );
        assert_eq!(app.get("/api/v1/plan/tasks/160", None).await.body, before, "unchanged");
        assert_eq!(app.count("plan_reports").await, 0);

        // The lead and the participant may edit; Zhejiang may edit the Anhui-led task it joins (45).
        assert_eq!(
            app.call(Method::PATCH, "/api/v1/plan/tasks/160", Some(&ah), Some(&patch))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            app.call(
                Method::PATCH,
                "/api/v1/plan/tasks/160",
                Some(&js),
                Some(&json!({"lead_agency": "x"}))
            )
            .await
            .status,
            StatusCode::OK
        );
        assert_eq!(
            app.get("/api/v1/plan/tasks/45", None).await.body["lead"],
            json!(["340000"])
        );
        assert_eq!(
            app.call(Method::PATCH, "/api/v1/plan/tasks/45", Some(&zj), Some(&patch))
                .await
                .status,
            StatusCode::OK
        );

        // Reviewing needs approve over a lead: Jiangsu joins 160 but cannot accept its reports.
        let created = app
            .call(Method::POST, "/api/v1/plan/tasks/160/reports", Some(&ah), Some(&report))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let id = created.body["id"].as_i64().unwrap();
        let js_approver = app
            .user_with_token("js.approver", false, &[("plan", Approve, "32")])
            .await;
        let ah_approver = app
            .user_with_token("ah.approver", false, &[("plan", Approve, "34")])
            .await;
        let review = json!({"decision": "accept"});
        let path = format!("/api/v1/plan/reports/{id}/review");
        assert_eq!(
            app.call(Method::POST, &path, Some(&js_approver), Some(&review))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.call(Method::POST, &path, Some(&ah_approver), Some(&review))
                .await
                .status,
            StatusCode::OK
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn api_writes_name_the_bad_field_and_write_nothing() {
    for app in apps().await {
        import_shipped(&app).await;
        let sh = app.user_with_token("sh.plan", false, &[("plan", Write, "31")]).await;
        let audit_before = app.count("audit_log").await;
        let cases = [
            (
                "PATCH",
                "/api/v1/plan/tasks/2",
                json!({"due": "2027-06-30"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "due",
            ),
            (
                "PATCH",
                "/api/v1/plan/tasks/2",
                json!({"start": "2026-12-31", "due": "2025-01-01"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "due",
            ),
            (
                "PATCH",
                "/api/v1/plan/tasks/2",
                json!({"due": "31/12/2026"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "due",
            ),
            (
                "POST",
                "/api/v1/plan/tasks/26/kpis/public_chargers/values",
                json!({"on": "2025-01-01", "value": 5}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "value",
            ),
            (
                "POST",
                "/api/v1/plan/tasks/2/reports",
                json!({"period": "2026-09", "percent_complete": 50, "narrative_zh": "x", "narrative_en": "x"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "period",
            ),
            (
                "POST",
                "/api/v1/plan/tasks/2/reports",
                json!({"period": "2026-Q3", "percent_complete": 150, "narrative_zh": "x", "narrative_en": "x"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "percent_complete",
            ),
            (
                "POST",
                "/api/v1/plan/tasks/2/reports",
                json!({"period": "2026-Q3", "percent_complete": 50, "narrative_zh": "x", "narrative_en": "", "evidence": [{"name": "a.pdf", "media_type": "application/pdf", "content_base64": "%%%"}]}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "narrative_en",
            ),
            (
                "POST",
                "/api/v1/plan/tasks/2/flags",
                json!({"kind": "worry", "description": "x", "owner": "y"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "kind",
            ),
        ];
        for (method, path, body, status, field) in cases {
            let reply = app.call(method.parse().unwrap(), path, Some(&sh), Some(&body)).await;
            assert_eq!(reply.status, status, "{method} {path} {body}: {:?}", reply.body);
            assert!(
                reply.error_paths().iter().any(|p| p == field),
                "{method} {path}: {:?}",
                reply.body
            );
        }
        assert_eq!(app.count("plan_reports").await, 0);
        assert_eq!(app.count("plan_flags").await, 0);
        assert_eq!(app.count("plan_kpi_values").await, 0);
        assert_eq!(
            app.count("audit_log").await,
            audit_before,
            "nothing written, nothing audited"
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn reports_are_submitted_reviewed_and_move_the_status() {
    for app in apps().await {
        import_shipped(&app).await;
        let sh = app.user_with_token("sh.plan", false, &[("plan", Write, "31")]).await;
        let office = app.user_with_token("office", false, &[("*", Approve, "")]).await;
        let evidence =
            json!([{"name": "minutes.txt", "media_type": "text/plain", "content_base64": "5Lya6K6u57qq6KaB"}]);
        let draft = json!({"period": "2026-Q3", "percent_complete": 80, "narrative_zh": "基金已设立", "narrative_en": "Fund set up", "evidence": evidence, "submit": false});
        let created = app
            .call(Method::POST, "/api/v1/plan/tasks/2/reports", Some(&sh), Some(&draft))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        assert_eq!(created.body["status"], "draft");
        assert_eq!(
            created.body["evidence"][0]["sha256"],
            yrd_audit::sha256_hex("会议纪要".as_bytes())
        );
        let id = created.body["id"].as_i64().unwrap();

        // A participating province neither sees Shanghai's draft nor submits it.
        let js = app.user_with_token("js.plan", false, &[("plan", Write, "32")]).await;
        let listed = app.get("/api/v1/plan/tasks/2/reports", Some(&js)).await.body;
        assert!(listed.as_array().unwrap().iter().all(|r| r["id"] != id), "{listed:?}");
        let theirs = app.get("/api/v1/plan/tasks/2/reports", Some(&sh)).await.body;
        assert!(theirs.as_array().unwrap().iter().any(|r| r["id"] == id));
        let foreign_submit = app
            .call(
                Method::POST,
                &format!("/api/v1/plan/reports/{id}/submit"),
                Some(&js),
                None,
            )
            .await;
        assert_eq!(foreign_submit.status, StatusCode::FORBIDDEN);

        let not_yet = app
            .call(
                Method::POST,
                &format!("/api/v1/plan/reports/{id}/review"),
                Some(&office),
                Some(&json!({"decision": "accept"})),
            )
            .await;
        assert_eq!(not_yet.status, StatusCode::CONFLICT, "drafts are not reviewed");
        let submitted = app
            .call(
                Method::POST,
                &format!("/api/v1/plan/reports/{id}/submit"),
                Some(&sh),
                None,
            )
            .await;
        assert_eq!(submitted.body["status"], "submitted");
        let no_comment = app
            .call(
                Method::POST,
                &format!("/api/v1/plan/reports/{id}/review"),
                Some(&office),
                Some(&json!({"decision": "return"})),
            )
            .await;
        assert_eq!(no_comment.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(no_comment.error_paths(), ["comment"]);
        let self_review = app
            .call(
                Method::POST,
                &format!("/api/v1/plan/reports/{id}/review"),
                Some(&sh),
                Some(&json!({"decision": "accept"})),
            )
            .await;
        assert_eq!(self_review.status, StatusCode::FORBIDDEN, "write is not approve");
        let returned = app
            .call(
                Method::POST,
                &format!("/api/v1/plan/reports/{id}/review"),
                Some(&office),
                Some(&json!({"decision": "return", "comment": "补充数据"})),
            )
            .await;
        assert_eq!(returned.body["status"], "returned");
        app.call(
            Method::POST,
            &format!("/api/v1/plan/reports/{id}/submit"),
            Some(&sh),
            None,
        )
        .await;
        let accepted = app
            .call(
                Method::POST,
                &format!("/api/v1/plan/reports/{id}/review"),
                Some(&office),
                Some(&json!({"decision": "accept"})),
            )
            .await;
        assert_eq!(accepted.body["status"], "accepted");
        assert_eq!(accepted.body["reviewed_by"], "office");

        let task = app.get("/api/v1/plan/tasks/2", None).await.body;
        assert_eq!(task["percent_complete"], 80);
        assert_eq!(task["last_reported_period"], "2026-Q3");
        let reports = app.get("/api/v1/plan/tasks/2/reports", None).await;
        assert_eq!(reports.status, StatusCode::UNAUTHORIZED, "reports are not public");
        let reports = app.get("/api/v1/plan/tasks/2/reports", Some(&office)).await.body;
        assert_eq!(reports.as_array().unwrap().len(), 1);
        let trail = yrd_audit::list(
            &app.db,
            &yrd_audit::Filter {
                module: Some("plan".into()),
                limit: 20,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let actions: Vec<&str> = trail
            .iter()
            .rev()
            .map(|e| e.action.as_str())
            .filter(|a| *a != "access.denied")
            .collect();
        assert!(
            actions.ends_with(&[
                "report.create",
                "report.submit",
                "report.return",
                "report.submit",
                "report.accept"
            ]),
            "{actions:?}"
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn a_kpi_reads_its_value_live_from_another_module() {
    for app in apps().await {
        let text = SHIPPED_PLAN.replace("indicator:charging.public_chargers", "indicator:probe.notes");
        let plan = planfile::parse(&text).unwrap();
        service::import(&app.db, "test", &plan, "d").await.unwrap();
        let writer = app.user_with_token("sh.notes", false, &[("probe", Write, "31")]).await;
        for text in ["a", "b", "c"] {
            app.call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&writer),
                Some(&json!({"jurisdiction": "310100", "text": text})),
            )
            .await;
        }
        // The scheduled job records the day's value through the indicator seam.
        let specs = PlanModule::new().jobs(&app.ctx);
        let worker = yrd_jobs::Worker::new(app.db.clone(), "test", &specs);
        let mut tx = app.db.begin().await.unwrap();
        yrd_jobs::enqueue(&mut tx, "plan.indicator_values", &json!({}), chrono::Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(matches!(
            worker.run_once().await.unwrap(),
            Some(yrd_jobs::Outcome::Done { .. })
        ));
        let task = app.get("/api/v1/plan/tasks/26", None).await.body;
        let kpi = &task["kpis"][0];
        assert_eq!(kpi["source"], json!({"kind": "indicator", "indicator": "probe.notes"}));
        assert_eq!(kpi["latest"][1], 3.0);
        let history = app
            .get("/api/v1/plan/tasks/26/kpis/public_chargers/history", None)
            .await
            .body;
        assert_eq!(history.as_array().unwrap().len(), 1);
        app.finish().await;
    }
}

#[tokio::test]
async fn obligations_list_the_reports_each_department_owes() {
    for app in apps().await {
        import_shipped(&app).await;
        let (due, overdue) =
            service::refresh_obligations(&app.db, chrono::NaiveDate::from_ymd_opt(2025, 1, 10).unwrap())
                .await
                .unwrap();
        // Two ended quarters (2024-Q3, 2024-Q4) per task: Q3 overdue, Q4 still within its grace days.
        assert_eq!((due, overdue), (35, 35));
        let ah = app.user_with_token("ah.reader", false, &[("plan", Read, "34")]).await;
        let list = app.get("/api/v1/plan/obligations", Some(&ah)).await.body;
        let tasks: std::collections::BTreeSet<i64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["task"].as_i64().unwrap())
            .collect();
        assert!(
            tasks.contains(&22) && tasks.contains(&66),
            "Anhui leads 22 and joins 66"
        );
        assert!(
            !tasks.contains(&121),
            "task 121 concerns Suzhou, Shanghai, Jiaxing and Huzhou only"
        );
        let nobody = app.user_with_token("nobody", false, &[]).await;
        assert_eq!(
            app.get("/api/v1/plan/obligations", Some(&nobody)).await.status,
            StatusCode::FORBIDDEN
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn the_demo_shows_165_tasks_and_the_pages_render_in_both_languages() {
    for app in apps().await {
        yrd_plan::demo::load(&app.ctx).await.unwrap();
        yrd_plan::demo::load(&app.ctx).await.unwrap();
        let summary = app.get("/api/v1/plan", None).await.body;
        let total = &summary["total"];
        let sum: i64 = ["not_started", "on_track", "at_risk", "overdue", "done"]
            .iter()
            .map(|k| total[k].as_i64().unwrap())
            .sum();
        assert_eq!(sum, 165, "{total}");
        for status in ["not_started", "on_track", "at_risk", "overdue", "done"] {
            assert!(total[status].as_i64().unwrap() > 0, "the demo shows {status}");
        }
        let by_aspect: Vec<i64> = summary["aspects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                ["not_started", "on_track", "at_risk", "overdue", "done"]
                    .iter()
                    .map(|k| a["counts"][k].as_i64().unwrap())
                    .sum()
            })
            .collect();
        assert_eq!(&by_aspect[..4], &[20, 20, 25, 23]);
        let csv = app.get("/api/v1/plan/tasks?format=csv&aspect=3", None).await.text;
        assert_eq!(csv.lines().count(), 26);
        let at_risk = app
            .get("/api/v1/plan/tasks?status=at_risk&tag=govservice", None)
            .await
            .body;
        assert!(
            at_risk
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["assessment"]["status"] == "at_risk")
        );
        let rollup = app.get("/api/v1/plan/rollups?by=province", None).await.body;
        assert_eq!(rollup.as_array().unwrap().len(), 4);

        for (lang, needle) in [("zh", "重点任务"), ("en", "Key tasks")] {
            for path in [
                "/plan",
                "/plan/aspects/3",
                "/plan/tasks/24",
                "/plan/provinces",
                "/plan/print",
                "/plan/tasks?status=overdue",
            ] {
                let page = app
                    .client
                    .get(app.url(path))
                    .header("cookie", format!("yrd_lang={lang}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(page.status(), StatusCode::OK, "{path} ({lang})");
                let html = page.text().await.unwrap();
                assert!(
                    html.contains(&format!(
                        "<html lang=\"{}\">",
                        if lang == "zh" { "zh-CN" } else { "en" }
                    )),
                    "{path}"
                );
                if path == "/plan" {
                    assert!(html.contains(needle), "{path} ({lang})");
                }
            }
        }
        let task = app
            .client
            .get(app.url("/plan/tasks/24"))
            .header("cookie", "yrd_lang=en")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(task.contains("Why this status") && task.contains("Rack utilisation"));
        assert_eq!(
            app.client.get(app.url("/plan/mine")).send().await.unwrap().status(),
            StatusCode::SEE_OTHER
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn every_plan_route_is_documented() {
    for app in apps().await {
        let paths = app.openapi["paths"].as_object().unwrap();
        for path in [
            "/api/v1/plan",
            "/api/v1/plan/tasks",
            "/api/v1/plan/tasks/{number}",
            "/api/v1/plan/reports/{id}/review",
            "/api/v1/plan/export",
        ] {
            assert!(
                paths.contains_key(path),
                "{path} in {:?}",
                paths.keys().filter(|k| k.contains("plan")).collect::<Vec<_>>()
            );
        }
        let _: &Value = &app.openapi;
        app.finish().await;
    }
}

#[tokio::test]
async fn departments_report_and_the_office_reviews_through_the_console() {
    for app in apps().await {
        import_shipped(&app).await;
        for (login, grants) in [
            ("sh.clerk", ("plan", Write, "31")),
            ("office.clerk", ("*", Approve, "")),
        ] {
            let user = yrd_auth::NewUser {
                login: login.into(),
                display_name: login.into(),
                password: Some("a long password".into()),
                is_admin: false,
                is_demo: false,
            };
            yrd_auth::create_user(&app.db, "test", user).await.unwrap();
            let (module, level, scope) = grants;
            yrd_auth::grant(
                &app.db,
                "test",
                login,
                module,
                level,
                &yrd_kernel::Scope::parse(scope).unwrap(),
            )
            .await
            .unwrap();
        }
        let (sh, sh_csrf) = app.console_login("sh.clerk", "a long password").await.unwrap();
        let page = app
            .client
            .get(app.url("/plan/tasks/41"))
            .header("cookie", &sh)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("action=\"/plan/tasks/41/reports\""),
            "the report form is offered to a lead"
        );

        let form = [
            ("csrf", sh_csrf.as_str()),
            ("period", "2026-Q3"),
            ("percent_complete", "70"),
            ("narrative_zh", "完成清单"),
            ("narrative_en", "List done"),
        ];
        let forged = app
            .client
            .post(app.url("/plan/tasks/41/reports"))
            .header("cookie", &sh)
            .form(&form[1..])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "no CSRF token, no report");
        let bad = [
            ("csrf", sh_csrf.as_str()),
            ("period", "2026-13"),
            ("percent_complete", "70"),
            ("narrative_zh", "x"),
            ("narrative_en", "x"),
        ];
        let refused = app
            .client
            .post(app.url("/plan/tasks/41/reports"))
            .header("cookie", &sh)
            .form(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            refused.text().await.unwrap().contains("is not a period"),
            "the page names the problem"
        );
        assert_eq!(app.count("plan_reports").await, 0);
        let sent = app
            .client
            .post(app.url("/plan/tasks/41/reports"))
            .header("cookie", &sh)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), StatusCode::SEE_OTHER);
        assert_eq!(sent.headers()["location"], "/plan/tasks/41");
        let id: i64 = {
            use sqlx::Row;
            sqlx::query("SELECT id FROM plan_reports")
                .fetch_one(app.db.pool())
                .await
                .unwrap()
                .get(0)
        };

        let (office, office_csrf) = app.console_login("office.clerk", "a long password").await.unwrap();
        let page = app
            .client
            .get(app.url("/plan/tasks/41"))
            .header("cookie", &office)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(&format!("action=\"/plan/reports/{id}/review\"")),
            "the office is offered the review"
        );
        let accept = [("csrf", office_csrf.as_str()), ("decision", "accept"), ("comment", "")];
        let reviewed = app
            .client
            .post(app.url(&format!("/plan/reports/{id}/review")))
            .header("cookie", &office)
            .form(&accept)
            .send()
            .await
            .unwrap();
        assert_eq!(reviewed.status(), StatusCode::SEE_OTHER);
        let task = app.get("/api/v1/plan/tasks/41", None).await.body;
        assert_eq!(task["percent_complete"], 70);
        app.finish().await;
    }
}
