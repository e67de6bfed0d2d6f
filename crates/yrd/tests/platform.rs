//! The platform kernel, end to end over HTTP, on SQLite and (with
//! `YRD_TEST_POSTGRES_URL`) PostgreSQL.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use yrd_kernel::AccessLevel::{Admin, Read, Write};
use yrd_testkit::{Backend, ProbeModule, TestApp, backends};

async fn apps() -> Vec<TestApp> {
    let mut out = Vec::new();
    for backend in backends() {
        out.push(TestApp::start_probe(backend).await);
    }
    out
}

#[tokio::test]
async fn openapi_documents_every_route_and_the_docs_page_renders_it() {
    for app in apps().await {
        let reply = app.get("/api/openapi.json", None).await;
        assert_eq!(reply.status, StatusCode::OK);
        let doc = reply.body;
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        for (path, method) in [
            ("/healthz", "get"),
            ("/readyz", "get"),
            ("/metrics", "get"),
            ("/api/openapi.json", "get"),
            ("/api/v1/jurisdictions", "get"),
            ("/api/v1/jurisdictions/{code}", "get"),
            ("/api/v1/audit", "get"),
            ("/api/v1/me/tokens", "post"),
            ("/api/v1/me/tokens/{id}", "delete"),
            ("/api/v1/users/{login}/grants", "put"),
            ("/api/v1/probe/notes", "post"),
            ("/api/v1/probe/notes/{id}", "put"),
        ] {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} is documented"
            );
        }
        // Every documented operation is served: none answers 404 or 405.
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                let concrete = path
                    .replace("{code}", "320500")
                    .replace("{id}", "1")
                    .replace("{login}", "nobody");
                let reply = app
                    .call(method.to_uppercase().parse().unwrap(), &concrete, None, None)
                    .await;
                assert!(
                    reply.status != StatusCode::NOT_FOUND
                        || reply.body["detail"]
                            .as_str()
                            .is_some_and(|d| !d.starts_with("no route")),
                    "{method} {path} is routed ({:?})",
                    reply.status
                );
                assert_ne!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            }
        }
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(schemas.contains_key("Jurisdiction") && schemas.contains_key("Problem"));
        let page = app.get("/api/docs", None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("/api/v1/probe/notes"));
        assert!(!page.text.contains("cdn"), "no CDN on the docs page");
        app.finish().await;
    }
}

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    for app in apps().await {
        assert_eq!(app.get("/healthz", None).await.body["status"], "ok");
        let ready = app.get("/readyz", None).await;
        assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);
        assert_eq!(ready.body["status"], "ready");
        app.get("/api/v1/jurisdictions", None).await;
        let reply = app.get("/api/v1/jurisdictions/999999", None).await;
        assert!(reply.header("x-request-id").is_some_and(|id| id.len() == 16));
        let metrics = app.get("/metrics", None).await.text;
        assert!(
            metrics
                .contains("yrd_http_requests_total{method=\"GET\",route=\"/api/v1/jurisdictions\",status=\"200\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("route=\"/api/v1/jurisdictions/{code}\",status=\"404\""));
        assert!(metrics.contains("yrd_http_request_duration_seconds_bucket"));
        let sent = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", "trace-abc_1")
            .send()
            .await
            .unwrap();
        assert_eq!(sent.headers()["x-request-id"], "trace-abc_1");
        app.finish().await;
    }
}

#[tokio::test]
async fn readiness_fails_until_migrations_are_applied() {
    for backend in backends() {
        let test_db = yrd_testkit::TestDb::create(backend).await.unwrap();
        let modules: Vec<Arc<dyn yrd_web::Module>> = vec![Arc::new(ProbeModule::new())];
        let ctx = yrd_web::AppContext::new(test_db.db.clone(), yrd_web::Config::default());
        let platform = yrd_web::build(ctx, &modules);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/readyz", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum_serve(listener, platform.router).await });
        let reply = TestApp::reply(reqwest::get(&url).await.unwrap()).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(reply.body["detail"].as_str().unwrap().contains("yrd migrate"));
        server.abort();
        test_db.cleanup().await;
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, router: axum::Router) {
    let _ = axum::serve(listener, router).await;
}

#[tokio::test]
async fn jurisdictions_filter_and_reject_unknown_codes() {
    for app in apps().await {
        let all = app.get("/api/v1/jurisdictions", None).await.body;
        assert_eq!(all.as_array().unwrap().len(), 49);
        let jiangsu = app.get("/api/v1/jurisdictions?parent=320000", None).await.body;
        assert_eq!(jiangsu.as_array().unwrap().len(), 13);
        let g60 = app.get("/api/v1/jurisdictions?tag=g60", None).await.body;
        let codes: Vec<&str> = g60
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["code"].as_str().unwrap())
            .collect();
        assert!(
            codes.contains(&"310117") && codes.contains(&"340100") && codes.len() == 9,
            "{codes:?}"
        );
        let cities = app.get("/api/v1/jurisdictions?level=city", None).await.body;
        assert_eq!(cities.as_array().unwrap().len(), 41);
        let csv = app.get("/api/v1/jurisdictions?format=csv&level=province", None).await;
        assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
        assert_eq!(csv.text.lines().count(), 5);
        let one = app.get("/api/v1/jurisdictions/341300", None).await.body;
        assert_eq!(one["name_en"], "Suzhou");
        assert_eq!(one["parent"], "340000");

        let unknown = app.get("/api/v1/jurisdictions/110000", None).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(unknown.header("content-type"), Some("application/problem+json"));
        assert!(unknown.body["detail"].as_str().unwrap().contains("110000"));
        let malformed = app.get("/api/v1/jurisdictions/32AB00", None).await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert_eq!(malformed.error_paths(), ["code"]);
        let bad_parent = app.get("/api/v1/jurisdictions?parent=999999", None).await;
        assert_eq!(bad_parent.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad_parent.error_paths(), ["parent"]);
        let bad_level = app.get("/api/v1/jurisdictions?level=village", None).await;
        assert_eq!(bad_level.error_paths(), ["level"]);
        app.finish().await;
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named_and_nothing_written() {
    for app in apps().await {
        let token = app.user_with_token("js.writer", false, &[("probe", Write, "32")]).await;
        let notes_before = app.count("probe_notes").await;
        let audit_before = app.count("audit_log").await;

        let malformed = app
            .client
            .post(app.url("/api/v1/probe/notes"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{\"jurisdiction\": \"320500\", \"text\": ")
            .send()
            .await
            .unwrap();
        let malformed = TestApp::reply(malformed).await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert_eq!(malformed.header("content-type"), Some("application/problem+json"));
        assert_eq!(malformed.body["type"], "urn:yrd:problem:bad-request");

        let wrong_type = app
            .call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&token),
                Some(&json!({"jurisdiction": 320500, "text": "x"})),
            )
            .await;
        assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(wrong_type.error_paths(), ["jurisdiction"]);

        let unknown_code = app
            .call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&token),
                Some(&json!({"jurisdiction": "329999", "text": "x"})),
            )
            .await;
        assert_eq!(unknown_code.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(unknown_code.error_paths(), ["jurisdiction"]);
        assert!(
            unknown_code.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("329999")
        );

        let unknown_field = app
            .call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&token),
                Some(&json!({"jurisdiction": "320500", "text": "x", "colour": 1})),
            )
            .await;
        assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);

        let invalid = app
            .call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&token),
                Some(&json!({"jurisdiction": "320500", "text": "  "})),
            )
            .await;
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(invalid.error_paths(), ["text"]);

        let huge = json!({"jurisdiction": "320500", "text": "x".repeat(2 * 1024 * 1024)});
        let too_large = app
            .call(Method::POST, "/api/v1/probe/notes", Some(&token), Some(&huge))
            .await;
        assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(too_large.header("content-type"), Some("application/problem+json"));

        let not_json = app
            .client
            .post(app.url("/api/v1/probe/notes"))
            .bearer_auth(&token)
            .body("text=x")
            .send()
            .await
            .unwrap();
        assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let bad_grant = app.user_with_token("root", true, &[]).await;
        let reply = app
            .call(
                Method::PUT,
                "/api/v1/users/js.writer/grants",
                Some(&bad_grant),
                Some(&json!({"module": "probe", "level": "write", "scope": "3299"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_paths(), ["scope"]);
        let reply = app
            .call(
                Method::PUT,
                "/api/v1/users/js.writer/grants",
                Some(&bad_grant),
                Some(&json!({"module": "probe", "level": "owner", "scope": "32"})),
            )
            .await;
        assert_eq!(reply.error_paths(), ["level"]);

        assert_eq!(
            app.count("probe_notes").await,
            notes_before,
            "nothing written on {:?}",
            app.backend
        );
        // Creating the admin wrote its own entries; the refused requests wrote none.
        let admin_entries = 1;
        assert_eq!(
            app.count("audit_log").await,
            audit_before + admin_entries + 1,
            "only the admin's creation and token were audited"
        );

        let ok = app
            .call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&token),
                Some(&json!({"jurisdiction": "320500", "text": "苏州"})),
            )
            .await;
        assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
        assert_eq!(app.count("probe_notes").await, notes_before + 1);
        app.finish().await;
    }
}

#[tokio::test]
async fn one_province_cannot_read_or_change_another_provinces_records() {
    for app in apps().await {
        let js = app
            .user_with_token("js.official", false, &[("probe", Write, "32"), ("audit", Read, "32")])
            .await;
        let zj = app
            .user_with_token("zj.official", false, &[("probe", Write, "33"), ("audit", Read, "33")])
            .await;
        let office = app.user_with_token("office", false, &[("*", Read, "")]).await;

        let created = app
            .call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&zj),
                Some(&json!({"jurisdiction": "330100", "text": "杭州"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED);
        let id = created.body["id"].as_i64().unwrap();

        let read = app.get(&format!("/api/v1/probe/notes/{id}"), Some(&js)).await;
        assert_eq!(
            read.status,
            StatusCode::FORBIDDEN,
            "Jiangsu cannot read Zhejiang's note"
        );
        assert_eq!(read.header("content-type"), Some("application/problem+json"));
        let change = app
            .call(
                Method::PUT,
                &format!("/api/v1/probe/notes/{id}"),
                Some(&js),
                Some(&json!({"jurisdiction": "330100", "text": "changed"})),
            )
            .await;
        assert_eq!(change.status, StatusCode::FORBIDDEN);
        let create_there = app
            .call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&js),
                Some(&json!({"jurisdiction": "330200", "text": "宁波"})),
            )
            .await;
        assert_eq!(create_there.status, StatusCode::FORBIDDEN);
        let steal = app
            .call(
                Method::PUT,
                &format!("/api/v1/probe/notes/{id}"),
                Some(&zj),
                Some(&json!({"jurisdiction": "320500", "text": "moved"})),
            )
            .await;
        assert_eq!(
            steal.status,
            StatusCode::FORBIDDEN,
            "Zhejiang cannot move its note into Jiangsu"
        );
        let note = app.get(&format!("/api/v1/probe/notes/{id}"), Some(&zj)).await;
        assert_eq!(note.body["text"], "杭州", "unchanged");

        assert_eq!(
            app.get(&format!("/api/v1/probe/notes/{id}"), Some(&office))
                .await
                .status,
            StatusCode::OK
        );
        let office_write = app
            .call(
                Method::PUT,
                &format!("/api/v1/probe/notes/{id}"),
                Some(&office),
                Some(&json!({"jurisdiction": "330100", "text": "x"})),
            )
            .await;
        assert_eq!(office_write.status, StatusCode::FORBIDDEN, "read grants do not write");
        assert_eq!(
            app.get(&format!("/api/v1/probe/notes/{id}"), None).await.status,
            StatusCode::UNAUTHORIZED
        );

        // Every refusal is in the audit log, under the jurisdiction it concerned.
        let denials = app.get("/api/v1/audit?action=access.denied", Some(&zj)).await;
        assert_eq!(denials.status, StatusCode::OK);
        let denied: Vec<&Value> = denials.body.as_array().unwrap().iter().collect();
        assert!(
            denied
                .iter()
                .any(|e| e["actor"] == "js.official" && e["jurisdiction"] == "330100")
        );
        assert!(
            denied
                .iter()
                .all(|e| e["jurisdiction"].as_str().unwrap().starts_with("33")),
            "Zhejiang sees only its own"
        );

        // The audit log is scoped too.
        let js_audit = app.get("/api/v1/audit", Some(&js)).await.body;
        assert!(
            js_audit
                .as_array()
                .unwrap()
                .iter()
                .all(|e| { e["jurisdiction"].as_str().is_some_and(|j| j.starts_with("32")) })
        );
        let asked_other = app.get("/api/v1/audit?scope=33", Some(&js)).await;
        assert_eq!(asked_other.status, StatusCode::FORBIDDEN);
        let admin_only = app.get("/api/v1/users", Some(&js)).await;
        assert_eq!(admin_only.status, StatusCode::FORBIDDEN);
        let grant_self = app
            .call(
                Method::PUT,
                "/api/v1/users/js.official/grants",
                Some(&js),
                Some(&json!({"module": "probe", "level": "write", "scope": "33"})),
            )
            .await;
        assert_eq!(grant_self.status, StatusCode::FORBIDDEN, "no one grants themselves");
        app.finish().await;
    }
}

#[tokio::test]
async fn tokens_are_shown_once_stored_hashed_and_refused_when_revoked_or_expired() {
    for app in apps().await {
        let first = app.user_with_token("ah.clerk", false, &[("probe", Read, "34")]).await;
        let created = app
            .call(
                Method::POST,
                "/api/v1/me/tokens",
                Some(&first),
                Some(&json!({"name": "export", "expires_in_days": 30})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let secret = created.body["token"].as_str().unwrap().to_string();
        let id = created.body["id"].as_i64().unwrap();
        assert!(secret.starts_with("yrd_"));
        let listed = app.get("/api/v1/me/tokens", Some(&secret)).await;
        assert_eq!(listed.status, StatusCode::OK);
        assert!(!listed.text.contains(&secret), "the list never shows a secret");
        use sqlx::Row;
        let stored: Vec<String> = sqlx::query("SELECT token_hash FROM api_tokens")
            .fetch_all(app.db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(stored.iter().all(|h| h.len() == 64 && *h != secret));

        let bad_expiry = app
            .call(
                Method::POST,
                "/api/v1/me/tokens",
                Some(&first),
                Some(&json!({"name": "x", "expires_in_days": 0})),
            )
            .await;
        assert_eq!(bad_expiry.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad_expiry.error_paths(), ["expires_in_days"]);

        let revoked = app
            .call(Method::DELETE, &format!("/api/v1/me/tokens/{id}"), Some(&first), None)
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        let after = app.get("/api/v1/me", Some(&secret)).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED);
        assert!(after.body["detail"].as_str().unwrap().contains("revoked"));
        assert!(after.header("www-authenticate").is_some());

        sqlx::query("UPDATE api_tokens SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE name = 'test'")
            .execute(app.db.pool())
            .await
            .unwrap();
        let expired = app.get("/api/v1/me", Some(&first)).await;
        assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
        assert!(expired.body["detail"].as_str().unwrap().contains("expired"));
        let unknown = app.get("/api/v1/me", Some("yrd_0000")).await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

        let rejections = app.audit_entries("auth.token_rejected").await;
        assert_eq!(rejections.len(), 3, "each refused token is audited");
        app.finish().await;
    }
}

#[tokio::test]
async fn console_login_sessions_csrf_and_throttling() {
    for app in apps().await {
        let user = yrd_auth::NewUser {
            login: "sh.clerk".into(),
            display_name: "上海窗口".into(),
            password: Some("correct horse battery".into()),
            is_admin: false,
            is_demo: false,
        };
        yrd_auth::create_user(&app.db, "test", user).await.unwrap();

        assert_eq!(
            app.console_login("sh.clerk", "wrong password!").await.unwrap_err(),
            StatusCode::UNAUTHORIZED
        );
        let (cookie, csrf) = app.console_login("sh.clerk", "correct horse battery").await.unwrap();
        let me = app
            .client
            .get(app.url("/api/v1/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(me.json::<Value>().await.unwrap()["user"]["login"], "sh.clerk");

        // A session on an unsafe API call needs its CSRF token.
        let without = app
            .client
            .post(app.url("/api/v1/me/tokens"))
            .header("cookie", &cookie)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(without.status(), StatusCode::FORBIDDEN);
        let with = app
            .client
            .post(app.url("/api/v1/me/tokens"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(with.status(), StatusCode::CREATED);
        // A console form without the token is refused too.
        let form = app
            .client
            .post(app.url("/me/tokens"))
            .header("cookie", &cookie)
            .form(&[("name", "y")])
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), StatusCode::FORBIDDEN);
        let logout = app
            .client
            .post(app.url("/logout"))
            .header("cookie", &cookie)
            .form(&[("csrf", "nope")])
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::FORBIDDEN);
        let logout = app
            .client
            .post(app.url("/logout"))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::SEE_OTHER);
        let after = app
            .client
            .get(app.url("/api/v1/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(after.status(), StatusCode::UNAUTHORIZED, "the session ended");

        // A login form without its CSRF cookie is refused.
        let forged = app
            .client
            .post(app.url("/login"))
            .form(&[
                ("csrf", "abc"),
                ("login", "sh.clerk"),
                ("password", "correct horse battery"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);

        // Five failures lock the login, even for the right password.
        for _ in 0..yrd_auth::MAX_LOGIN_FAILURES {
            assert_eq!(
                app.console_login("sh.clerk", "wrong password!").await.unwrap_err(),
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            app.console_login("sh.clerk", "correct horse battery")
                .await
                .unwrap_err(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let failures = app.audit_entries("auth.login_failed").await;
        assert_eq!(
            failures.len(),
            7,
            "one before the good login, five after, one throttled"
        );
        assert!(
            failures.iter().all(|e| !e.detail.contains("wrong password")),
            "no password in the log"
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn audit_log_is_append_only_and_verify_finds_tampering() {
    for app in apps().await {
        let token = app.user_with_token("js.writer", false, &[("probe", Write, "32")]).await;
        for text in ["a", "b", "c"] {
            app.call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&token),
                Some(&json!({"jurisdiction": "320500", "text": text})),
            )
            .await;
        }
        let intact = yrd_audit::verify(&app.db).await.unwrap();
        assert_eq!(intact.first_broken, None);
        assert_eq!(intact.checked, app.count("audit_log").await);

        let update = sqlx::query("UPDATE audit_log SET actor = 'someone else' WHERE seq = 3")
            .execute(app.db.pool())
            .await;
        assert!(update.unwrap_err().to_string().contains("append-only"));
        let delete = sqlx::query("DELETE FROM audit_log WHERE seq = 3")
            .execute(app.db.pool())
            .await;
        assert!(delete.unwrap_err().to_string().contains("append-only"));

        // Behind the triggers' back: disable them, alter a row, put them back.
        match app.backend {
            Backend::Sqlite => {
                sqlx::query("DROP TRIGGER audit_log_no_update")
                    .execute(app.db.pool())
                    .await
                    .unwrap();
                sqlx::query("UPDATE audit_log SET detail = '{\"text\":\"forged\"}' WHERE seq = 4")
                    .execute(app.db.pool())
                    .await
                    .unwrap();
            }
            Backend::Postgres => {
                let mut tx = app.db.begin().await.unwrap();
                sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
                    .execute(tx.conn())
                    .await
                    .unwrap();
                sqlx::query("UPDATE audit_log SET detail = '{\"text\":\"forged\"}' WHERE seq = 4")
                    .execute(tx.conn())
                    .await
                    .unwrap();
                sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
                    .execute(tx.conn())
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }
        let broken = yrd_audit::verify(&app.db).await.unwrap();
        let first = broken.first_broken.expect("tampering is found");
        assert_eq!(first.seq, 4);
        assert!(first.reason.contains("digest"), "{}", first.reason);
        app.finish().await;
    }
}

#[tokio::test]
async fn concurrent_writers_keep_one_unbroken_chain() {
    for app in apps().await {
        let token = app.user_with_token("js.writer", false, &[("probe", Write, "32")]).await;
        let mut handles = Vec::new();
        for i in 0..24 {
            let client = app.client.clone();
            let url = app.url("/api/v1/probe/notes");
            let token = token.clone();
            handles.push(tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"jurisdiction": "320500", "text": format!("n{i}")}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        for handle in handles {
            assert_eq!(handle.await.unwrap(), StatusCode::CREATED);
        }
        let verified = yrd_audit::verify(&app.db).await.unwrap();
        assert_eq!(verified.first_broken, None);
        assert_eq!(app.count("probe_notes").await, 24);
        app.finish().await;
    }
}

#[tokio::test]
async fn both_backends_have_the_same_tables_and_columns() {
    let backends = backends();
    if !backends.contains(&Backend::Postgres) {
        eprintln!("YRD_TEST_POSTGRES_URL is not set: comparing SQLite with itself only");
    }
    let mut schemas = Vec::new();
    for backend in backends {
        let app = TestApp::start(
            backend,
            yrd::modules()
                .into_iter()
                .chain([Arc::new(ProbeModule::new()) as Arc<dyn yrd_web::Module>])
                .collect(),
        )
        .await;
        schemas.push(app.db.schema_columns().await.unwrap());
        app.finish().await;
    }
    assert!(schemas[0].iter().any(|(t, c)| t == "audit_log" && c == "hash"));
    for other in &schemas[1..] {
        assert_eq!(&schemas[0], other);
    }
}

#[tokio::test]
async fn indicators_are_read_across_the_module_seam() {
    for app in apps().await {
        let token = app.user_with_token("js.writer", false, &[("probe", Write, "32")]).await;
        for city in ["320500", "320509", "320100"] {
            app.call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&token),
                Some(&json!({"jurisdiction": city, "text": "x"})),
            )
            .await;
        }
        let indicator = app
            .ctx
            .indicator("probe.notes")
            .expect("the probe's indicator is wired");
        assert_eq!(indicator.current(None).await.unwrap(), 3.0);
        let suzhou = yrd_kernel::JurisdictionCode::parse("320500").unwrap();
        assert_eq!(indicator.current(Some(suzhou)).await.unwrap(), 2.0);
        app.finish().await;
    }
}

#[tokio::test]
async fn jobs_run_once_retry_with_backoff_and_show_in_the_console() {
    for app in apps().await {
        let admin = app.user_with_token("root", true, &[]).await;
        let token = app.user_with_token("js.writer", false, &[("probe", Write, "32")]).await;
        let note = app
            .call(
                Method::POST,
                "/api/v1/probe/notes",
                Some(&token),
                Some(&json!({"jurisdiction": "320500", "text": "x"})),
            )
            .await;
        let id = note.body["id"].as_i64().unwrap();
        let mut tx = app.db.begin().await.unwrap();
        let now = chrono::Utc::now();
        for target in [id, 999_999] {
            yrd_jobs::enqueue(&mut tx, "probe.touch", &json!({"id": target}), now)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();

        // Two workers race for the two jobs: each job is claimed by exactly one.
        let specs = ProbeModule::new();
        let specs = yrd_web::Module::jobs(&specs, &app.ctx);
        let a = yrd_jobs::Worker::new(app.db.clone(), "a", &specs);
        let b = yrd_jobs::Worker::new(app.db.clone(), "b", &specs);
        let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
        let mut outcomes: Vec<_> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
        outcomes.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(outcomes.len(), 2, "{outcomes:?}");
        assert!(matches!(outcomes[0], yrd_jobs::Outcome::Done { .. }));
        assert!(matches!(outcomes[1], yrd_jobs::Outcome::Retry { .. }));
        assert_eq!(a.run_once().await.unwrap(), None, "the retry waits for its backoff");

        // Past its backoff, the failing job is retried until it fails for good.
        for _ in 1..yrd_jobs::DEFAULT_MAX_ATTEMPTS {
            sqlx::query("UPDATE jobs SET run_at = '2000-01-01T00:00:00.000000Z' WHERE status = 'queued'")
                .execute(app.db.pool())
                .await
                .unwrap();
            a.run_once().await.unwrap().expect("due again");
        }
        let failed = app.get("/api/v1/jobs?failed=true", Some(&admin)).await.body;
        assert_eq!(failed.as_array().unwrap().len(), 1);
        assert_eq!(failed[0]["attempts"], yrd_jobs::DEFAULT_MAX_ATTEMPTS);
        assert!(failed[0]["last_error"].as_str().unwrap().contains("999999"));
        assert_eq!(
            app.get("/api/v1/jobs", Some(&token)).await.status,
            StatusCode::FORBIDDEN
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn expired_leases_are_taken_over_and_schedules_fire_once() {
    for app in apps().await {
        let mut tx = app.db.begin().await.unwrap();
        yrd_jobs::enqueue(&mut tx, "probe.touch", &json!({"id": 1}), chrono::Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        sqlx::query("UPDATE jobs SET status = 'running', worker = 'dead', lease_until = '2000-01-01T00:00:00.000000Z'")
            .execute(app.db.pool())
            .await
            .unwrap();
        let specs = yrd_web::Module::jobs(&ProbeModule::new(), &app.ctx);
        let worker = yrd_jobs::Worker::new(app.db.clone(), "alive", &specs);
        assert!(
            worker.run_once().await.unwrap().is_some(),
            "a dead worker's job is taken over"
        );

        let scheduled = vec![yrd_jobs::JobSpec {
            every: Some(std::time::Duration::from_secs(3600)),
            ..specs[0].clone()
        }];
        let one = yrd_jobs::Worker::new(app.db.clone(), "one", &scheduled);
        let two = yrd_jobs::Worker::new(app.db.clone(), "two", &scheduled);
        one.register_schedules().await.unwrap();
        two.register_schedules().await.unwrap();
        let (x, y) = tokio::join!(one.enqueue_due_schedules(), two.enqueue_due_schedules());
        assert_eq!(x.unwrap() + y.unwrap(), 1, "one node enqueues the due run");
        assert_eq!(
            one.enqueue_due_schedules().await.unwrap(),
            0,
            "not due again for an hour"
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn console_pages_render_in_both_languages() {
    for app in apps().await {
        let zh = app
            .client
            .get(app.url("/"))
            .header("accept-language", "zh-CN")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(zh.contains("<html lang=\"zh-CN\">") && zh.contains("长三角一体化平台") && zh.contains("苏州市"));
        assert_eq!(zh.matches("class=\"city\"").count(), 41);
        assert!(zh.contains("href=\"/probe\""), "module tiles and navigation");
        let switch = app
            .client
            .get(app.url("/lang/en?back=/jurisdictions"))
            .send()
            .await
            .unwrap();
        assert_eq!(switch.headers()["location"], "/jurisdictions");
        let cookie = switch.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let en = app
            .client
            .get(app.url("/jurisdictions"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            en.contains("<html lang=\"en\">") && en.contains("Jurisdictions") && en.contains("Huai&#39;an")
                || en.contains("Huai'an")
        );
        let offsite = app
            .client
            .get(app.url("/lang/en?back=//evil.example"))
            .send()
            .await
            .unwrap();
        assert_eq!(offsite.headers()["location"], "/");
        let me = app.client.get(app.url("/me")).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::SEE_OTHER);
        assert_eq!(me.headers()["location"], "/login?next=%2Fme");
        let missing = app.client.get(app.url("/nowhere")).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(missing.text().await.unwrap().contains("<html"));
        let api_missing = app.get("/api/v1/nowhere", None).await;
        assert_eq!(api_missing.status, StatusCode::NOT_FOUND);
        assert_eq!(api_missing.header("content-type"), Some("application/problem+json"));
        app.finish().await;
    }
}

#[tokio::test]
async fn demo_data_is_loaded_once_and_only_on_request() {
    for backend in backends() {
        let app = TestApp::start(backend, yrd::modules()).await;
        assert!(
            !yrd_auth::has_users(&app.db).await.unwrap(),
            "no demo users without --demo"
        );
        yrd::load_demo(&app.ctx, &yrd::modules()).await.unwrap();
        let users = app.count("users").await;
        let grants = app.count("grants").await;
        yrd::load_demo(&app.ctx, &yrd::modules()).await.unwrap();
        assert_eq!(app.count("users").await, users);
        assert_eq!(app.count("grants").await, grants);
        assert_eq!(users as usize, yrd::DEMO_USERS.len());
        let admin = yrd_auth::login(&app.db, "demo.admin", yrd::DEMO_PASSWORD)
            .await
            .unwrap();
        assert!(admin.is_admin);
        app.finish().await;
    }
}

#[tokio::test]
async fn admins_manage_users_and_grants_through_the_api() {
    for app in apps().await {
        let root = app.user_with_token("root", true, &[]).await;
        let created = app
            .call(
                Method::POST,
                "/api/v1/users",
                Some(&root),
                Some(&json!({"login": "wx.health", "display_name": "无锡卫健委"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let dup = app
            .call(
                Method::POST,
                "/api/v1/users",
                Some(&root),
                Some(&json!({"login": "wx.health", "display_name": "again"})),
            )
            .await;
        assert_eq!(dup.status, StatusCode::CONFLICT);
        let bad = app
            .call(
                Method::POST,
                "/api/v1/users",
                Some(&root),
                Some(&json!({"login": "A B", "display_name": "", "password": "short"})),
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.error_paths(), ["login", "display_name", "password"]);
        let granted = app
            .call(
                Method::PUT,
                "/api/v1/users/wx.health/grants",
                Some(&root),
                Some(&json!({"module": "probe", "level": "admin", "scope": "3202"})),
            )
            .await;
        assert_eq!(granted.status, StatusCode::NO_CONTENT);
        let users = app.get("/api/v1/users", Some(&root)).await.body;
        let wx = users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["login"] == "wx.health")
            .unwrap();
        assert_eq!(
            wx["grants"],
            json!([{"module": "probe", "level": "admin", "scope": "3202"}])
        );
        let revoked = app
            .call(
                Method::DELETE,
                "/api/v1/users/wx.health/grants?module=probe&scope=3202",
                Some(&root),
                None,
            )
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        let again = app
            .call(
                Method::DELETE,
                "/api/v1/users/wx.health/grants?module=probe&scope=3202",
                Some(&root),
                None,
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
        let _ = Admin;
        app.finish().await;
    }
}

mod cli {
    //! The `yrd` binary itself, on an SQLite file (its storage code is the library's,
    //! tested above on both backends).

    use std::io::Write;
    use std::process::{Command, Output, Stdio};

    fn yrd(db: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_yrd"))
            .arg("--db")
            .arg(db)
            .args(args)
            .env("YRD_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    fn text(output: &Output) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    fn temp_db(name: &str) -> String {
        let path = std::env::temp_dir().join(format!("yrd-cli-{name}-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path.to_str().unwrap().to_string()
    }

    #[test]
    fn help_names_every_command() {
        let help = text(&yrd("unused.db", &["--help"], None));
        for command in ["serve", "migrate", "demo", "user", "audit"] {
            assert!(help.contains(command), "{help}");
        }
        let user = text(&yrd("unused.db", &["user", "--help"], None));
        for command in ["add", "grant", "revoke", "list", "token"] {
            assert!(user.contains(command), "{user}");
        }
        let token = text(&yrd("unused.db", &["user", "token", "--help"], None));
        assert!(token.contains("create") && token.contains("revoke"));
    }

    #[tokio::test]
    async fn first_admin_grants_tokens_and_audit_verify() {
        let db = temp_db("admin");
        let migrated = yrd(&db, &["migrate"], None);
        assert!(migrated.status.success(), "{}", text(&migrated));
        let status = text(&yrd(&db, &["migrate", "--status"], None));
        assert!(status.contains("audit") && status.contains("applied") && !status.contains("pending"));

        let short = yrd(
            &db,
            &["user", "add", "admin", "--name", "Administrator", "--admin"],
            Some("short\n"),
        );
        assert!(!short.status.success());
        assert!(text(&short).contains("password"), "{}", text(&short));
        let added = yrd(
            &db,
            &["user", "add", "admin", "--name", "Administrator", "--admin"],
            Some("a long enough secret\n"),
        );
        assert!(added.status.success(), "{}", text(&added));
        let clerk = yrd(
            &db,
            &["user", "add", "hz.clerk", "--name", "杭州窗口", "--no-password"],
            None,
        );
        assert!(clerk.status.success(), "{}", text(&clerk));
        let granted = yrd(
            &db,
            &[
                "user", "grant", "hz.clerk", "--module", "plan", "--level", "write", "--scope", "3301",
            ],
            None,
        );
        assert!(granted.status.success(), "{}", text(&granted));
        let bad_scope = yrd(
            &db,
            &[
                "user", "grant", "hz.clerk", "--module", "plan", "--level", "write", "--scope", "9",
            ],
            None,
        );
        assert!(!bad_scope.status.success());
        assert!(text(&bad_scope).contains("scope"));
        let list = text(&yrd(&db, &["user", "list"], None));
        assert!(list.contains("hz.clerk") && list.contains("plan:write@'3301'") && list.contains("admin"));

        let token = yrd(
            &db,
            &[
                "user",
                "token",
                "create",
                "hz.clerk",
                "--name",
                "sync",
                "--expires-days",
                "30",
            ],
            None,
        );
        assert!(token.status.success());
        let secret = String::from_utf8_lossy(&token.stdout).trim().to_string();
        assert!(secret.starts_with("yrd_") && secret.len() == 68);
        let tokens = text(&yrd(&db, &["user", "token", "list", "hz.clerk"], None));
        assert!(tokens.contains("active") && !tokens.contains(&secret));
        assert!(yrd(&db, &["user", "token", "revoke", "1"], None).status.success());

        let verified = yrd(&db, &["audit", "verify"], None);
        assert!(verified.status.success(), "{}", text(&verified));
        assert!(text(&verified).contains("intact"));

        // Alter an entry behind the trigger's back, as someone with file access could.
        let conn = yrd_db::Db::connect(&db).await.unwrap();
        sqlx::raw_sql("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 2;")
            .execute(conn.pool())
            .await
            .unwrap();
        conn.close().await;
        let broken = yrd(&db, &["audit", "verify"], None);
        assert_eq!(broken.status.code(), Some(2));
        assert!(text(&broken).contains("BROKEN at entry 2"), "{}", text(&broken));
        let _ = std::fs::remove_file(&db);
    }

    #[test]
    fn plan_import_validates_first_and_never_duplicates() {
        let db = temp_db("plan");
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/plan/yrd-2024-2026.toml");
        let first = yrd(&db, &["plan", "import", shipped], None);
        assert!(first.status.success(), "{}", text(&first));
        assert!(
            text(&first).contains("9 aspects; tasks: 35 created, 0 updated"),
            "{}",
            text(&first)
        );
        let again = yrd(&db, &["plan", "import", shipped], None);
        assert!(
            text(&again).contains("tasks: 0 created, 35 updated"),
            "{}",
            text(&again)
        );

        let broken_path = std::env::temp_dir().join(format!("yrd-broken-plan-{}.toml", std::process::id()));
        let shipped_text = std::fs::read_to_string(shipped).unwrap();
        let broken = shipped_text
            .replacen("number = 2\naspect = 1", "number = 1\naspect = 1", 1)
            .replacen("lead = [\"330000\"]", "lead = [\"330099\"]", 1);
        std::fs::write(&broken_path, broken).unwrap();
        let refused = yrd(&db, &["plan", "import", broken_path.to_str().unwrap()], None);
        assert_eq!(refused.status.code(), Some(2));
        let message = text(&refused);
        assert!(message.contains("task 1: number: task 1 is defined twice"), "{message}");
        assert!(message.contains("lead[0]: '330099' is not a jurisdiction"), "{message}");
        assert!(message.contains("nothing was imported"), "{message}");
        assert!(
            message
                .lines()
                .all(|l| !l.contains(": line ") || l.starts_with(broken_path.to_str().unwrap())),
            "{message}"
        );

        let exported = yrd(&db, &["plan", "export"], None);
        assert!(exported.status.success());
        assert!(String::from_utf8_lossy(&exported.stdout).contains("number = 26"));
        let check = yrd(&db, &["plan", "import", "--check", shipped], None);
        assert!(text(&check).contains("valid: 9 aspects, 35 tasks"));
        let _ = std::fs::remove_file(&broken_path);
        let _ = std::fs::remove_file(&db);
    }

    #[tokio::test]
    async fn recognition_catalogue_import_is_all_or_nothing() {
        let db = temp_db("recognition");
        assert!(yrd(&db, &["migrate"], None).status.success());
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/health/recognition.csv");
        let broken_path = std::env::temp_dir().join(format!("yrd-broken-recognition-{}.csv", std::process::id()));
        let text_of_shipped = std::fs::read_to_string(shipped).unwrap();
        std::fs::write(
            &broken_path,
            text_of_shipped.replacen(
                "718-7,lab,血红蛋白,Haemoglobin,7,",
                "718-7,lab,血红蛋白,Haemoglobin,0,",
                1,
            ),
        )
        .unwrap();
        let refused = yrd(
            &db,
            &["health", "import-catalogue", broken_path.to_str().unwrap()],
            None,
        );
        assert_eq!(refused.status.code(), Some(2));
        assert!(
            text(&refused).contains("validity_days: 1–3650 days"),
            "{}",
            text(&refused)
        );
        let conn = yrd_db::Db::connect(&db).await.unwrap();
        use sqlx::Row;
        let count = |conn: yrd_db::Db| async move {
            sqlx::query("SELECT COUNT(*) FROM health_recognition_items")
                .fetch_one(conn.pool())
                .await
                .unwrap()
                .get::<i64, _>(0)
        };
        assert_eq!(count(conn.clone()).await, 0, "nothing imported");
        let imported = yrd(&db, &["health", "import-catalogue", shipped], None);
        assert!(
            text(&imported).contains("23 recognised tests imported"),
            "{}",
            text(&imported)
        );
        assert_eq!(count(conn).await, 23);
        let _ = std::fs::remove_file(&broken_path);
        let _ = std::fs::remove_file(&db);
    }

    #[tokio::test]
    async fn catalogue_import_and_offline_licence_verification() {
        let db = temp_db("licence");
        assert!(yrd(&db, &["migrate"], None).status.success());
        let catalogue = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/govservice/catalogue.toml");
        let broken_path = std::env::temp_dir().join(format!("yrd-broken-catalogue-{}.toml", std::process::id()));
        let shipped = std::fs::read_to_string(catalogue).unwrap();
        std::fs::write(
            &broken_path,
            shipped.replacen("time_limit_days = 3", "time_limit_days = 0", 1),
        )
        .unwrap();
        let refused = yrd(
            &db,
            &["govservice", "import-catalogue", broken_path.to_str().unwrap()],
            None,
        );
        assert_eq!(refused.status.code(), Some(2));
        assert!(
            text(&refused).contains("item 'YRD-GS-001': time_limit_days: 1 to 120 working days"),
            "{}",
            text(&refused)
        );
        let conn = yrd_db::Db::connect(&db).await.unwrap();
        use sqlx::Row;
        let items: i64 = sqlx::query("SELECT COUNT(*) FROM gs_items")
            .fetch_one(conn.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(items, 0, "nothing imported");
        let imported = yrd(&db, &["govservice", "import-catalogue", catalogue], None);
        assert!(
            text(&imported).contains("15 licence types, 62 service items"),
            "{}",
            text(&imported)
        );

        assert!(yrd(&db, &["demo"], None).status.success());
        let bundle = std::env::temp_dir().join(format!("yrd-trust-{}.json", std::process::id()));
        assert!(
            yrd(
                &db,
                &["licence", "export-trust", "--out", bundle.to_str().unwrap()],
                None
            )
            .status
            .success()
        );
        let rows = sqlx::query("SELECT token, revoked_at FROM gs_licences ORDER BY id")
            .fetch_all(conn.pool())
            .await
            .unwrap();
        conn.close().await;
        let valid: String = rows
            .iter()
            .find(|r| r.get::<Option<String>, _>(1).is_none())
            .unwrap()
            .get(0);
        let revoked: String = rows
            .iter()
            .find(|r| r.get::<Option<String>, _>(1).is_some())
            .unwrap()
            .get(0);
        let trust = bundle.to_str().unwrap();
        let ok = yrd(&db, &["licence", "verify", "-", "--trust", trust], Some(&valid));
        assert!(ok.status.success(), "{}", text(&ok));
        assert!(text(&ok).starts_with("VALID"));
        let no = yrd(&db, &["licence", "verify", "-", "--trust", trust], Some(&revoked));
        assert_eq!(no.status.code(), Some(1));
        assert!(text(&no).contains("revoked"));
        let tampered = valid.replacen("eyJ", "eyK", 1);
        let no = yrd(&db, &["licence", "verify", "-", "--trust", trust], Some(&tampered));
        assert_eq!(no.status.code(), Some(1));
        let _ = std::fs::remove_file(&broken_path);
        let _ = std::fs::remove_file(&bundle);
        let _ = std::fs::remove_file(&db);
    }
}
