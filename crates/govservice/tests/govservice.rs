//! Government services end to end over HTTP, on SQLite and (with
//! `YRD_TEST_POSTGRES_URL`) PostgreSQL.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use yrd_govservice::domain::CaseState;
use yrd_govservice::{GovServiceModule, SHIPPED_CATALOGUE, catalogue, licence, service};
use yrd_kernel::AccessLevel::{Admin, Approve, Read, Write};
use yrd_testkit::{TestApp, backends};
use yrd_web::Module;

const CONSENT: &str = "5a0e2f5c7f3f1b6e7b9d0c4a3e2d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e";

struct Fixture {
    app: TestApp,
    /// A clerk at the Hefei window (Anhui).
    anhui: String,
    /// An officer of Shanghai's authorities.
    shanghai: String,
    /// A Zhejiang official with read and write in Zhejiang only.
    zhejiang: String,
}

async fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for backend in backends() {
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(GovServiceModule::new())];
        let app = TestApp::start(backend, modules).await;
        let catalogue = catalogue::parse(SHIPPED_CATALOGUE).unwrap();
        service::import_catalogue(&app.db, "test", &catalogue, "d")
            .await
            .unwrap();
        let anhui = app
            .user_with_token("ah.clerk", false, &[("govservice", Write, "34")])
            .await;
        let shanghai = app
            .user_with_token("sh.officer", false, &[("govservice", Approve, "31")])
            .await;
        let zhejiang = app
            .user_with_token("zj.clerk", false, &[("govservice", Write, "33")])
            .await;
        let window = service::Window {
            code: "AH-HF-01".into(),
            jurisdiction: yrd_kernel::JurisdictionCode::parse("340100").unwrap(),
            name_zh: "合肥市跨省通办窗口".into(),
            name_en: "Hefei window".into(),
            address: "潜山路 100 号".into(),
            staff: vec!["ah.clerk".into()],
        };
        service::save_window(&app.db, "test", &window).await.unwrap();
        out.push(Fixture {
            app,
            anhui,
            shanghai,
            zhejiang,
        });
    }
    out
}

fn application(item: &str) -> Value {
    json!({"item": item, "applicant_name": "上海某某贸易有限公司", "applicant_contact": "13800000000",
           "home": "310100", "channel": "remote_window", "window": "AH-HF-01", "consent_sha256": CONSENT})
}

async fn submit(f: &Fixture, item: &str) -> (String, String) {
    let reply = f
        .app
        .call(
            Method::POST,
            "/api/v1/govservice/cases",
            Some(&f.anhui),
            Some(&application(item)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    (
        reply.body["number"].as_str().unwrap().to_string(),
        reply.body["secret"].as_str().unwrap().to_string(),
    )
}

async fn act(
    f: &Fixture,
    number: &str,
    token: &str,
    action: &str,
    role: &str,
    reason: Option<&str>,
) -> yrd_testkit::Reply {
    let body = json!({"action": action, "role": role, "reason": reason});
    f.app
        .call(
            Method::POST,
            &format!("/api/v1/govservice/cases/{number}/actions"),
            Some(token),
            Some(&body),
        )
        .await
}

#[tokio::test]
async fn a_case_goes_from_an_anhui_window_to_a_shanghai_decision_and_a_verifiable_licence() {
    for f in fixtures().await {
        let (number, _) = submit(&f, "YRD-GS-001").await;
        let case = f
            .app
            .get(&format!("/api/v1/govservice/cases/{number}"), Some(&f.shanghai))
            .await
            .body;
        assert_eq!(case["case"]["authority"], "310000");
        assert_eq!(case["case"]["received_in"], "340100");
        assert_eq!(case["case"]["state"], "submitted");

        assert_eq!(
            act(&f, &number, &f.anhui, "accept", "intake_clerk", None).await.status,
            StatusCode::OK
        );
        let accepted = f
            .app
            .get(&format!("/api/v1/govservice/cases/{number}"), Some(&f.shanghai))
            .await
            .body;
        let accepted_on: chrono::NaiveDate = accepted["case"]["accepted_on"].as_str().unwrap().parse().unwrap();
        let deadline: chrono::NaiveDate = accepted["case"]["deadline"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            deadline,
            service::CALENDAR.add_working_days(accepted_on, 3),
            "three working days for this item"
        );

        assert_eq!(
            act(&f, &number, &f.shanghai, "start_review", "authority", None)
                .await
                .status,
            StatusCode::OK
        );
        let notes = json!({"note": "经营范围变更符合规定（内部）"});
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    &format!("/api/v1/govservice/cases/{number}/notes"),
                    Some(&f.shanghai),
                    Some(&notes)
                )
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        let seen_by_window = f
            .app
            .get(&format!("/api/v1/govservice/cases/{number}"), Some(&f.anhui))
            .await;
        assert_eq!(seen_by_window.status, StatusCode::OK);
        assert!(
            seen_by_window.body["review_notes"].is_null(),
            "the window in Anhui does not read Shanghai's review notes"
        );
        assert!(!seen_by_window.text.contains("经营范围变更符合规定"));
        assert_eq!(
            f.app
                .get(&format!("/api/v1/govservice/cases/{number}"), Some(&f.shanghai))
                .await
                .body["review_notes"][0]["note"],
            "经营范围变更符合规定（内部）"
        );

        // Deciding is the competent authority's alone.
        assert_eq!(
            act(&f, &number, &f.anhui, "approve", "intake_clerk", None).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            act(&f, &number, &f.anhui, "approve", "authority", None).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            act(&f, &number, &f.shanghai, "approve", "authority", None).await.status,
            StatusCode::OK
        );

        let issued = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/govservice/cases/{number}/licence"),
                Some(&f.shanghai),
                Some(&json!({"subject": {"name": "上海某某贸易有限公司"}})),
            )
            .await;
        assert_eq!(issued.status, StatusCode::CREATED, "{:?}", issued.body);
        let token = issued.body["token"].as_str().unwrap().to_string();
        let delivered = f
            .app
            .get(&format!("/api/v1/govservice/cases/{number}"), Some(&f.shanghai))
            .await
            .body;
        assert_eq!(delivered["case"]["state"], "result_delivered");

        let verified = f
            .app
            .call(
                Method::POST,
                "/api/v1/govservice/licences/verify",
                None,
                Some(&json!({"token": token})),
            )
            .await
            .body;
        assert_eq!(verified["valid"], true, "{verified}");
        assert_eq!(verified["licence"]["issuer"], "310000");
        // Offline, as `yrd licence verify` does it, from the published trust bundle.
        let bundle: licence::TrustBundle =
            serde_json::from_value(f.app.get("/api/v1/govservice/trust-bundle", None).await.body).unwrap();
        assert!(licence::verify_offline(&token, &bundle, chrono::Utc::now()).is_ok());
        let mut altered = token.clone().into_bytes();
        let i = altered.len() / 2;
        altered[i] = if altered[i] == b'x' { b'y' } else { b'x' };
        let altered = String::from_utf8(altered).unwrap();
        let refused = f
            .app
            .call(
                Method::POST,
                "/api/v1/govservice/licences/verify",
                None,
                Some(&json!({"token": altered})),
            )
            .await
            .body;
        assert_eq!(refused["valid"], false);
        assert!(licence::verify_offline(&altered, &bundle, chrono::Utc::now()).is_err());
        assert_eq!(
            f.app.audit_entries("licence.rejected").await.len(),
            1,
            "a refused licence is audited"
        );

        // Revocation shows in the API and in a newly exported bundle.
        let id = issued.body["id"].as_i64().unwrap();
        let revoked = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/govservice/licences/{id}/revoke"),
                Some(&f.shanghai),
                Some(&json!({"reason": "信息有误"})),
            )
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        let after = f
            .app
            .call(
                Method::POST,
                "/api/v1/govservice/licences/verify",
                None,
                Some(&json!({"token": token})),
            )
            .await
            .body;
        assert_eq!(after["problem"]["problem"], "revoked");
        let bundle: licence::TrustBundle =
            serde_json::from_value(f.app.get("/api/v1/govservice/trust-bundle", None).await.body).unwrap();
        assert_eq!(
            licence::verify_offline(&token, &bundle, chrono::Utc::now()),
            Err(licence::VerifyError::Revoked)
        );

        // The hand-offs between Anhui and Shanghai are signed and linked.
        let handoffs = f
            .app
            .get(&format!("/api/v1/govservice/handoffs?case={number}"), Some(&f.shanghai))
            .await
            .body;
        let kinds: Vec<&str> = handoffs
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["application", "decision"]);
        assert!(handoffs.as_array().unwrap().iter().all(|h| h["verified"] == true));
        f.app.finish().await;
    }
}

#[tokio::test]
async fn illegal_transitions_are_refused_and_audited() {
    for f in fixtures().await {
        let (number, secret) = submit(&f, "YRD-GS-011").await;
        let withdraw = json!({"action": "withdraw", "role": "applicant", "secret": secret});
        let reply = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/govservice/cases/{number}/actions"),
                None,
                Some(&withdraw),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        let approve = act(&f, &number, &f.shanghai, "approve", "authority", None).await;
        assert_eq!(approve.status, StatusCode::CONFLICT);
        assert_eq!(
            approve.body["detail"],
            "conflict: a case that is withdrawn cannot be approve"
        );
        let wrong_secret = json!({"action": "supplement", "role": "applicant", "secret": "WRONG"});
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    &format!("/api/v1/govservice/cases/{number}/actions"),
                    None,
                    Some(&wrong_secret)
                )
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let refused = f.app.audit_entries("case.refused_transition").await;
        assert_eq!(refused.len(), 1);
        assert!(refused[0].detail.contains("withdrawn"));

        let (second, _) = submit(&f, "YRD-GS-011").await;
        let no_reason = act(&f, &second, &f.anhui, "refuse_at_intake", "intake_clerk", None).await;
        assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(no_reason.error_paths(), ["reason"]);
        // A Zhejiang clerk neither reads nor moves a case between Anhui and Shanghai.
        assert_eq!(
            f.app
                .get(&format!("/api/v1/govservice/cases/{second}"), Some(&f.zhejiang))
                .await
                .status,
            StatusCode::NOT_FOUND,
            "to outsiders a case they may not read does not exist"
        );
        assert_eq!(
            f.app
                .get(&format!("/api/v1/govservice/cases/{second}"), None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            act(&f, &second, &f.zhejiang, "accept", "intake_clerk", None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let listed = f.app.get("/api/v1/govservice/cases", Some(&f.zhejiang)).await.body;
        assert_eq!(listed.as_array().unwrap().len(), 0);
        f.app.finish().await;
    }
}

#[tokio::test]
async fn attachments_are_checked_for_size_and_type() {
    for f in fixtures().await {
        let (number, _) = submit(&f, "YRD-GS-007").await;
        let path = format!("/api/v1/govservice/cases/{number}/attachments");
        let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let png_as_pdf = json!({"name": "scan.pdf", "media_type": "application/pdf", "content_base64": encode(b"\x89PNG\r\n\x1a\nxxxx")});
        let reply = f.app.call(Method::POST, &path, Some(&f.anhui), Some(&png_as_pdf)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_paths(), ["content_base64"]);
        let exe = json!({"name": "x.exe", "media_type": "application/x-msdownload", "content_base64": encode(b"MZ")});
        assert_eq!(
            f.app
                .call(Method::POST, &path, Some(&f.anhui), Some(&exe))
                .await
                .error_paths(),
            ["media_type"]
        );
        let mut big = b"%PDF-1.4\n".to_vec();
        big.resize(600 * 1024, b'x');
        let oversize = json!({"name": "big.pdf", "media_type": "application/pdf", "content_base64": encode(&big)});
        let reply = f.app.call(Method::POST, &path, Some(&f.anhui), Some(&oversize)).await;
        assert!(
            matches!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::PAYLOAD_TOO_LARGE
            ),
            "{:?}",
            reply.status
        );
        assert_eq!(f.app.count("gs_attachments").await, 0);
        let pdf = b"%PDF-1.4\n% scan\n";
        let ok = f
            .app
            .call(
                Method::POST,
                &path,
                Some(&f.anhui),
                Some(&json!({"name": "scan.pdf", "media_type": "application/pdf", "content_base64": encode(pdf)})),
            )
            .await;
        assert_eq!(ok.status, StatusCode::CREATED);
        assert_eq!(ok.body["sha256"], yrd_audit::sha256_hex(pdf));
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    &path,
                    Some(&f.zhejiang),
                    Some(&json!({"name": "s.pdf", "media_type": "application/pdf", "content_base64": encode(pdf)}))
                )
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        f.app.finish().await;
    }
}

#[tokio::test]
async fn licences_from_retired_or_unknown_keys_are_refused() {
    for f in fixtures().await {
        let admin = f
            .app
            .user_with_token("sh.keys", false, &[("govservice", Admin, "31")])
            .await;
        let (number, _) = submit(&f, "YRD-GS-001").await;
        for (token, action, role) in [
            (&f.anhui, "accept", "intake_clerk"),
            (&f.shanghai, "start_review", "authority"),
            (&f.shanghai, "approve", "authority"),
        ] {
            assert_eq!(act(&f, &number, token, action, role, None).await.status, StatusCode::OK);
        }
        let issued = f
            .app
            .call(
                Method::POST,
                &format!("/api/v1/govservice/cases/{number}/licence"),
                Some(&f.shanghai),
                Some(&json!({"subject": {"name": "x"}})),
            )
            .await
            .body;
        let old_kid = issued["kid"].as_str().unwrap().to_string();
        let old_token = issued["token"].as_str().unwrap().to_string();
        assert_eq!(
            f.app
                .call(
                    Method::POST,
                    "/api/v1/govservice/keys/rotate",
                    Some(&f.anhui),
                    Some(&json!({"issuer": "310000"}))
                )
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let rotated = f
            .app
            .call(
                Method::POST,
                "/api/v1/govservice/keys/rotate",
                Some(&admin),
                Some(&json!({"issuer": "310000"})),
            )
            .await;
        assert_eq!(rotated.status, StatusCode::CREATED);
        assert_ne!(rotated.body["kid"], old_kid.as_str());
        // What the old key signed before it retired stays valid.
        let still = f
            .app
            .call(
                Method::POST,
                "/api/v1/govservice/licences/verify",
                None,
                Some(&json!({"token": old_token})),
            )
            .await
            .body;
        assert_eq!(still["valid"], true, "{still}");
        // A licence the retired key signs afterwards is refused.
        use sqlx::Row;
        let private: String = sqlx::query("SELECT private_key FROM gs_keys WHERE kid = $1")
            .bind(&old_kid)
            .fetch_one(f.app.db.pool())
            .await
            .unwrap()
            .get(0);
        let bytes: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(private)
            .unwrap()
            .try_into()
            .unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&bytes);
        let later =
            (chrono::Utc::now() + chrono::Duration::seconds(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let forged = licence::sign(
            &key,
            &old_kid,
            licence::MEDIA_TYPE,
            &json!({"issuer": licence::issuer_id("310000"), "validFrom": later, "credentialSubject": {}}),
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let bundle: licence::TrustBundle =
            serde_json::from_value(f.app.get("/api/v1/govservice/trust-bundle", None).await.body).unwrap();
        let in_future = chrono::Utc::now() + chrono::Duration::seconds(10);
        assert!(matches!(
            licence::verify_offline(&forged, &bundle, in_future),
            Err(licence::VerifyError::SignedAfterKeyRetired { .. })
        ));
        // A key nobody published.
        let stranger = licence::generate_key();
        let unknown = licence::sign(
            &stranger,
            "yrd:310000:99",
            licence::MEDIA_TYPE,
            &json!({"issuer": licence::issuer_id("310000"), "validFrom": later}),
        );
        let reply = f
            .app
            .call(
                Method::POST,
                "/api/v1/govservice/licences/verify",
                None,
                Some(&json!({"token": unknown})),
            )
            .await
            .body;
        assert_eq!(reply["problem"]["problem"], "unknown_key");
        f.app.finish().await;
    }
}

#[tokio::test]
async fn applicants_follow_their_case_with_the_secret_and_guessing_is_throttled() {
    for f in fixtures().await {
        let (number, secret) = submit(&f, "YRD-GS-011").await;
        act(&f, &number, &f.anhui, "accept", "intake_clerk", None).await;
        let found = f
            .app
            .call(
                Method::POST,
                "/api/v1/govservice/lookup",
                None,
                Some(&json!({"number": number, "secret": secret})),
            )
            .await;
        assert_eq!(found.status, StatusCode::OK);
        let steps: Vec<&str> = found.body["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["已提交申请", "已受理"], "in the applicant's language");
        for _ in 0..service::MAX_LOOKUP_FAILURES {
            let wrong = f
                .app
                .call(
                    Method::POST,
                    "/api/v1/govservice/lookup",
                    None,
                    Some(&json!({"number": number, "secret": "GUESS123"})),
                )
                .await;
            assert_eq!(wrong.status, StatusCode::NOT_FOUND);
        }
        let locked = f
            .app
            .call(
                Method::POST,
                "/api/v1/govservice/lookup",
                None,
                Some(&json!({"number": number, "secret": secret})),
            )
            .await;
        assert_eq!(
            locked.status,
            StatusCode::TOO_MANY_REQUESTS,
            "locked even for the right secret"
        );
        let unknown = f
            .app
            .call(
                Method::POST,
                "/api/v1/govservice/lookup",
                None,
                Some(&json!({"number": "GS20260101-AAAAAA", "secret": "x"})),
            )
            .await;
        assert_eq!(
            unknown.status,
            StatusCode::NOT_FOUND,
            "the same answer as a wrong secret: no enumeration"
        );
        f.app.finish().await;
    }
}

#[tokio::test]
async fn supplements_stop_the_clock_and_bundles_complete_with_their_cases() {
    for f in fixtures().await {
        let bundle = json!({"name": "企业变更一件事", "cases": [application("YRD-GS-001"), application("YRD-GS-049")]});
        let created = f
            .app
            .call(
                Method::POST,
                "/api/v1/govservice/bundles",
                Some(&f.anhui),
                Some(&bundle),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let bundle_number = created.body["number"].as_str().unwrap().to_string();
        let numbers: Vec<String> = created.body["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["number"].as_str().unwrap().to_string())
            .collect();
        let bad = json!({"name": "x", "cases": [application("YRD-GS-001"), application("NO-SUCH")]});
        let refused = f
            .app
            .call(Method::POST, "/api/v1/govservice/bundles", Some(&f.anhui), Some(&bad))
            .await;
        assert_eq!(refused.error_paths(), ["cases/1/item"]);
        // The catalogue's rules too are checked for every case before any is opened.
        let mut online_only_at_windows = application("YRD-GS-023");
        online_only_at_windows["channel"] = json!("online");
        online_only_at_windows.as_object_mut().unwrap().remove("window");
        let bad = json!({"name": "x", "cases": [application("YRD-GS-001"), online_only_at_windows]});
        let refused = f
            .app
            .call(Method::POST, "/api/v1/govservice/bundles", Some(&f.anhui), Some(&bad))
            .await;
        assert_eq!(refused.error_paths(), ["cases/1/channel"], "{:?}", refused.body);
        assert_eq!(f.app.count("gs_cases").await, 2, "a refused bundle opens nothing");
        assert_eq!(f.app.count("gs_bundles").await, 1);
        for number in &numbers {
            act(&f, number, &f.anhui, "accept", "intake_clerk", None).await;
            act(&f, number, &f.shanghai, "start_review", "authority", None).await;
        }
        let supplement = act(
            &f,
            &numbers[1],
            &f.shanghai,
            "request_supplement",
            "authority",
            Some("请补充营业执照"),
        )
        .await;
        assert_eq!(supplement.body["state"], "supplement_requested");
        assert_eq!(
            act(&f, &numbers[1], &f.anhui, "supplement", "intake_clerk", None)
                .await
                .body["state"],
            "supplemented"
        );
        act(&f, &numbers[1], &f.shanghai, "start_review", "authority", None).await;
        let view = f
            .app
            .get(
                &format!("/api/v1/govservice/bundles/{bundle_number}"),
                Some(&f.shanghai),
            )
            .await
            .body;
        assert_eq!(view["complete"], false);
        for number in &numbers {
            act(&f, number, &f.shanghai, "approve", "authority", None).await;
            let body = json!({"action": "deliver_result", "role": "authority", "delivery": "SF1234567890"});
            let delivered = f
                .app
                .call(
                    Method::POST,
                    &format!("/api/v1/govservice/cases/{number}/actions"),
                    Some(&f.shanghai),
                    Some(&body),
                )
                .await;
            assert_eq!(delivered.body["state"], "result_delivered", "{:?}", delivered.body);
        }
        assert_eq!(
            f.app
                .get(
                    &format!("/api/v1/govservice/bundles/{bundle_number}"),
                    Some(&f.shanghai)
                )
                .await
                .body["complete"],
            true
        );
        f.app.finish().await;
    }
}

#[tokio::test]
async fn a_hand_off_altered_behind_the_logs_back_is_found() {
    for f in fixtures().await {
        let (number, _) = submit(&f, "YRD-GS-011").await;
        act(&f, &number, &f.anhui, "accept", "intake_clerk", None).await;
        let office = f.app.user_with_token("office", false, &[("*", Read, "")]).await;
        let all = f.app.get("/api/v1/govservice/handoffs", Some(&office)).await.body;
        assert!(all.as_array().unwrap().iter().all(|h| h["verified"] == true));
        sqlx::query("UPDATE gs_handoffs SET body = REPLACE(body, 'remote_window', 'online')")
            .execute(f.app.db.pool())
            .await
            .unwrap();
        let after = f.app.get("/api/v1/govservice/handoffs", Some(&office)).await.body;
        assert_eq!(after[0]["verified"], false);
        assert_eq!(after[0]["problem"], "the content does not match its hash");
        assert_eq!(
            f.app.get("/api/v1/govservice/handoffs", Some(&f.zhejiang)).await.status,
            StatusCode::FORBIDDEN
        );
        f.app.finish().await;
    }
}

#[tokio::test]
async fn the_demo_has_cases_in_every_state_and_the_pages_render() {
    for backend in backends() {
        let app = TestApp::start(backend, yrd_testkit_modules()).await;
        yrd_govservice::demo::load(&app.db).await.unwrap();
        yrd_govservice::demo::load(&app.db).await.unwrap();
        let office = app.user_with_token("office", false, &[("*", Approve, "")]).await;
        let cases = app.get("/api/v1/govservice/cases?limit=500", Some(&office)).await.body;
        let cases = cases.as_array().unwrap();
        for state in CaseState::ALL {
            assert!(
                cases.iter().any(|c| c["state"] == state.as_str()),
                "a demo case is {state}"
            );
        }
        for province in ["31", "32", "33", "34"] {
            assert!(
                cases
                    .iter()
                    .any(|c| c["received_in"].as_str().unwrap().starts_with(province)),
                "received in {province}"
            );
        }
        assert!(
            app.get("/api/v1/govservice/items", None)
                .await
                .body
                .as_array()
                .unwrap()
                .len()
                >= 60
        );
        assert_eq!(
            app.get("/api/v1/govservice/licence-types", None)
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            15
        );
        let stats = app.get("/api/v1/govservice/stats", Some(&office)).await.body;
        assert!(stats["cross_province_cases"].as_i64().unwrap() > 0);
        let indicator = app.ctx.indicator("govservice.services_online").unwrap();
        assert_eq!(indicator.current(None).await.unwrap(), 62.0);
        let number = cases[0]["number"].as_str().unwrap();
        let (cookie, _) = {
            let user = yrd_auth::NewUser {
                login: "viewer".into(),
                display_name: "viewer".into(),
                password: Some("a long password".into()),
                is_admin: true,
                is_demo: false,
            };
            yrd_auth::create_user(&app.db, "test", user).await.unwrap();
            app.console_login("viewer", "a long password").await.unwrap()
        };
        for lang in ["zh", "en"] {
            for path in [
                "/govservice".to_string(),
                "/govservice/catalogue".into(),
                format!("/govservice/cases/{number}"),
                "/govservice/lookup".into(),
                "/govservice/verify".into(),
                "/govservice/handoffs".into(),
            ] {
                let page = app
                    .client
                    .get(app.url(&path))
                    .header("cookie", format!("{cookie}; yrd_lang={lang}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(page.status(), StatusCode::OK, "{path} ({lang})");
            }
        }
        let with_licence = cases
            .iter()
            .find(|c| c["delivery"].as_str().is_some_and(|d| d.starts_with("e-licence")))
            .unwrap();
        let page = app
            .client
            .get(app.url(&format!(
                "/govservice/cases/{}",
                with_licence["number"].as_str().unwrap()
            )))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("<svg"), "the licence shows as a QR code");
        app.finish().await;
    }
}

fn yrd_testkit_modules() -> Vec<Arc<dyn Module>> {
    vec![Arc::new(GovServiceModule::new())]
}

#[tokio::test]
async fn a_window_clerk_registers_an_application_in_the_console() {
    for f in fixtures().await {
        let user = yrd_auth::NewUser {
            login: "ah.desk".into(),
            display_name: "合肥窗口".into(),
            password: Some("a long password".into()),
            is_admin: false,
            is_demo: false,
        };
        yrd_auth::create_user(&f.app.db, "test", user).await.unwrap();
        yrd_auth::grant(
            &f.app.db,
            "test",
            "ah.desk",
            "govservice",
            Write,
            &yrd_kernel::Scope::parse("34").unwrap(),
        )
        .await
        .unwrap();
        let (cookie, csrf) = f.app.console_login("ah.desk", "a long password").await.unwrap();
        let page = f
            .app
            .client
            .get(f.app.url("/govservice/apply"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!page.contains("AH-HF-01"), "not on the Hefei window's staff yet");
        let mut window: Vec<service::Window> = service::windows(&f.app.db).await.unwrap();
        window[0].staff.push("ah.desk".into());
        service::save_window(&f.app.db, "test", &window[0]).await.unwrap();
        let page = f
            .app
            .client
            .get(f.app.url("/govservice/apply"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("value=\"AH-HF-01\""));

        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("window", "AH-HF-01"),
            ("item", "YRD-GS-011"),
            ("home", "310100"),
            ("applicant_name", "张三"),
            ("applicant_contact", "13900000000"),
            ("language", "zh"),
        ];
        let refused = f
            .app
            .client
            .post(f.app.url("/govservice/apply"))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            refused.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no consent form, no application"
        );
        assert!(refused.text().await.unwrap().contains("consent_sha256"));
        form.push(("consent_reference", "AH-2026-000123"));
        let done = f
            .app
            .client
            .post(f.app.url("/govservice/apply"))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), StatusCode::CREATED);
        let text = done.text().await.unwrap();
        assert!(
            text.contains("GS") && text.contains("上海市"),
            "the receipt shows the case number and the deciding authority"
        );
        let cases = service::cases(&f.app.db, None, None, 10).await.unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(
            cases[0].consent_sha256.as_deref(),
            Some(yrd_audit::sha256_hex(b"AH-2026-000123").as_str())
        );
        let forged = f
            .app
            .client
            .post(f.app.url("/govservice/apply"))
            .header("cookie", &cookie)
            .form(&form[1..])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "no CSRF token");
        f.app.finish().await;
    }
}

#[tokio::test]
async fn a_window_stays_in_its_province_and_its_staff_are_not_public() {
    for f in fixtures().await {
        submit(&f, "YRD-GS-011").await;
        let takeover = json!({"code": "x", "jurisdiction": "310100", "name_zh": "接管", "name_en": "Taken", "address": "x", "staff": ["sh.admin"]});
        let shanghai_admin = f
            .app
            .user_with_token("sh.admin", false, &[("govservice", Admin, "31")])
            .await;
        let reply = f
            .app
            .call(
                Method::PUT,
                "/api/v1/govservice/windows/AH-HF-01",
                Some(&shanghai_admin),
                Some(&takeover),
            )
            .await;
        assert_eq!(reply.error_paths(), ["jurisdiction"], "{:?}", reply.body);

        // Hefei's administrator renames the window although cases refer to it.
        let hefei_admin = f
            .app
            .user_with_token("hf.admin", false, &[("govservice", Admin, "3401")])
            .await;
        let renamed = json!({"code": "x", "jurisdiction": "340100", "name_zh": "合肥市政务服务中心窗口", "name_en": "Hefei service centre window", "address": "潜山路 100 号", "staff": ["ah.clerk"]});
        let reply = f
            .app
            .call(
                Method::PUT,
                "/api/v1/govservice/windows/AH-HF-01",
                Some(&hefei_admin),
                Some(&renamed),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);

        let public = f.app.get("/api/v1/govservice/windows", None).await.body;
        let window = public
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["code"] == "AH-HF-01")
            .unwrap()
            .clone();
        assert_eq!(window["jurisdiction"], "340100");
        assert_eq!(window["name_en"], "Hefei service centre window");
        assert_eq!(window["staff"], json!([]), "staff logins are not public");
        let theirs = f.app.get("/api/v1/govservice/windows", Some(&hefei_admin)).await.body;
        assert!(theirs.to_string().contains("ah.clerk"));

        // Case figures are for officials: a visitor's overview has the catalogue only.
        let overview = f
            .app
            .client
            .get(f.app.url("/govservice"))
            .header("cookie", "yrd_lang=en")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!overview.contains("Decided on time"));
        assert!(!overview.contains("<td>1</td>"), "no route counts for visitors");
        f.app.finish().await;
    }
}
