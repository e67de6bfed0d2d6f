//! The health exchange end to end over HTTP, on SQLite and (with
//! `YRD_TEST_POSTGRES_URL`) PostgreSQL: FHIR interactions, bad input, tenancy, consent,
//! emergency overrides, the patient index and mutual recognition.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use yrd_health::HealthModule;
use yrd_health::recognition::{self, Item};
use yrd_health::store::{self, Hospital};
use yrd_kernel::AccessLevel::{Admin, Approve};
use yrd_kernel::JurisdictionCode;
use yrd_kernel::national_id::with_check_digit;
use yrd_testkit::{Reply, TestApp, backends};
use yrd_web::Module;

const FHIR: &str = "application/fhir+json";

struct Fixture {
    app: TestApp,
    /// Hospital system tokens: Shanghai, Jiangsu (Nanjing), Zhejiang (Hangzhou), a level-1 Hefei clinic.
    sh: String,
    js: String,
    zj: String,
    clinic: String,
}

async fn hospital(app: &TestApp, org: &str, city: &str, level: i64, login: &str) -> String {
    let h = Hospital {
        org_id: org.into(),
        name: format!("{org} hospital"),
        jurisdiction: JurisdictionCode::parse(city).unwrap(),
        level,
        grade: "甲".into(),
    };
    store::save_hospital(&app.db, "test", &h).await.unwrap();
    let token = app.user_with_token(login, false, &[]).await;
    store::save_staff(&app.db, "test", login, org).await.unwrap();
    token
}

async fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for backend in backends() {
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(HealthModule::new())];
        let app = TestApp::start(backend, modules).await;
        let sh = hospital(&app, "sh", "310100", 3, "sys.sh").await;
        let js = hospital(&app, "js", "320100", 3, "sys.js").await;
        let zj = hospital(&app, "zj", "330100", 3, "sys.zj").await;
        let clinic = hospital(&app, "clinic", "340100", 1, "sys.clinic").await;
        for (code, kind, days, level, fee) in [
            ("718-7", "lab", 7, 2, 1_000),
            ("2345-7", "lab", 14, 2, 500),
            ("CT:51185008", "imaging", 180, 2, 30_000),
        ] {
            let item = Item {
                code: code.into(),
                kind: kind.into(),
                name_zh: code.into(),
                name_en: code.into(),
                validity_days: days,
                min_level: level,
                fee_fen: fee,
            };
            recognition::save_item(&app.db, "test", &item).await.unwrap();
        }
        out.push(Fixture {
            app,
            sh,
            js,
            zj,
            clinic,
        });
    }
    out
}

async fn fhir(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.header("content-type", FHIR).body(body.to_string());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    TestApp::reply(request.send().await.unwrap()).await
}

/// Asserts an OperationOutcome naming `expression` (when given) with this status.
fn assert_outcome(reply: &Reply, status: StatusCode, expression: Option<&str>) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.body["resourceType"], "OperationOutcome", "{}", reply.text);
    assert!(reply.header("content-type").unwrap_or_default().starts_with(FHIR));
    if let Some(expression) = expression {
        let found = reply.body["issue"].as_array().unwrap().iter().any(|i| {
            i["expression"]
                .as_array()
                .is_some_and(|e| e.iter().any(|p| p == expression))
        });
        assert!(found, "no issue at {expression}: {}", reply.text);
    }
}

fn patient(national_id: &str, family: &str, birth: &str, gender: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:yrd:sid:national-id", "value": national_id}, {"system": "urn:local:mrn", "value": format!("MRN-{family}")}],
        "name": [{"family": family, "given": ["测试"]}],
        "gender": gender,
        "birthDate": birth
    })
}

fn days_ago(days: i64) -> String {
    format!(
        "{}T09:00:00+08:00",
        yrd_kernel::time::today() - chrono::Duration::days(days)
    )
}

fn observation(patient: &str, loinc: &str, days: i64) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": days_ago(days),
        "valueQuantity": {"value": 130, "unit": "g/L", "system": "http://unitsofmeasure.org", "code": "g/L"}
    })
}

async fn create(app: &TestApp, token: &str, resource: &Value) -> String {
    let kind = resource["resourceType"].as_str().unwrap();
    let reply = fhir(
        app,
        Method::POST,
        &format!("/fhir/{kind}"),
        Some(token),
        Some(resource),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn crud_versions_history_search_and_conditional_create() {
    for Fixture { app, sh, .. } in fixtures().await {
        let metadata = fhir(&app, Method::GET, "/fhir/metadata", None, None, &[]).await;
        assert_eq!(metadata.status, StatusCode::OK);
        let types: Vec<&str> = metadata.body["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap())
            .collect();
        assert_eq!(types.len(), 9, "{types:?}");
        assert!(types.contains(&"ImagingStudy") && types.contains(&"Consent"));

        let id_number = with_check_digit("31010119800101001");
        let reply = fhir(
            &app,
            Method::POST,
            "/fhir/Patient",
            Some(&sh),
            Some(&patient(&id_number, "李", "1980-01-01", "male")),
            &[],
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        assert_eq!(reply.header("etag"), Some("W/\"1\""));
        let id = reply.body["id"].as_str().unwrap().to_string();
        assert!(
            reply
                .header("location")
                .unwrap()
                .ends_with(&format!("/fhir/Patient/{id}/_history/1"))
        );
        assert_eq!(reply.body["identifier"][0]["system"], "urn:yrd:sid:national-id-hmac");
        assert!(!reply.text.contains(&id_number), "the national ID is never returned");
        let leaked = sqlx::query("SELECT COUNT(*) FROM fhir_versions WHERE content LIKE $1")
            .bind(format!("%{id_number}%"))
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        assert_eq!(
            sqlx::Row::get::<i64, _>(&leaked, 0),
            0,
            "the national ID is never stored"
        );

        let mut changed = reply.body.clone();
        changed["telecom"] = json!([{"system": "phone", "value": "021-0000"}]);
        let updated = fhir(
            &app,
            Method::PUT,
            &format!("/fhir/Patient/{id}"),
            Some(&sh),
            Some(&changed),
            &[("if-match", "W/\"1\"")],
        )
        .await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
        assert_eq!(updated.body["meta"]["versionId"], "2");
        let stale = fhir(
            &app,
            Method::PUT,
            &format!("/fhir/Patient/{id}"),
            Some(&sh),
            Some(&changed),
            &[("if-match", "W/\"1\"")],
        )
        .await;
        assert_outcome(&stale, StatusCode::PRECONDITION_FAILED, None);
        let bad_etag = fhir(
            &app,
            Method::PUT,
            &format!("/fhir/Patient/{id}"),
            Some(&sh),
            Some(&changed),
            &[("if-match", "yesterday")],
        )
        .await;
        assert_outcome(&bad_etag, StatusCode::BAD_REQUEST, None);
        let other_id = fhir(
            &app,
            Method::PUT,
            "/fhir/Patient/someone-else",
            Some(&sh),
            Some(&changed),
            &[],
        )
        .await;
        assert_outcome(&other_id, StatusCode::BAD_REQUEST, None);

        let v1 = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Patient/{id}/_history/1"),
            Some(&sh),
            None,
            &[],
        )
        .await;
        assert_eq!(v1.status, StatusCode::OK);
        assert!(v1.body.get("telecom").is_none());
        let history = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Patient/{id}/_history"),
            Some(&sh),
            None,
            &[],
        )
        .await;
        assert_eq!(history.body["type"], "history");
        assert_eq!(history.body["total"], 2);
        assert_outcome(
            &fhir(
                &app,
                Method::GET,
                &format!("/fhir/Patient/{id}/_history/9"),
                Some(&sh),
                None,
                &[],
            )
            .await,
            StatusCode::NOT_FOUND,
            None,
        );

        // Search by the national ID finds the record by its hash; a local identifier too.
        let by_id = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Patient?identifier=urn:yrd:sid:national-id|{id_number}"),
            Some(&sh),
            None,
            &[],
        )
        .await;
        assert_eq!(by_id.body["total"], 1, "{}", by_id.text);
        let by_mrn = fhir(
            &app,
            Method::GET,
            "/fhir/Patient?identifier=MRN-%E6%9D%8E",
            Some(&sh),
            None,
            &[],
        )
        .await;
        assert_eq!(by_mrn.body["total"], 1, "{}", by_mrn.text);

        // Conditional create: a match returns the existing record and writes nothing.
        let before = app.count("fhir_resources").await;
        let again = fhir(
            &app,
            Method::POST,
            "/fhir/Patient",
            Some(&sh),
            Some(&patient(&id_number, "李", "1980-01-01", "male")),
            &[(
                "if-none-exist",
                &format!("identifier=urn:yrd:sid:national-id|{id_number}"),
            )],
        )
        .await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.body["id"], id.as_str());
        assert_eq!(app.count("fhir_resources").await, before);

        for (loinc, days) in [("718-7", 1), ("718-7", 20), ("2345-7", 3)] {
            create(&app, &sh, &observation(&id, loinc, days)).await;
        }
        let by_code = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Observation?patient={id}&code=http://loinc.org|718-7"),
            Some(&sh),
            None,
            &[],
        )
        .await;
        assert_eq!(by_code.body["total"], 2, "{}", by_code.text);
        let since = (yrd_kernel::time::today() - chrono::Duration::days(10)).to_string();
        let recent = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Observation?subject=Patient/{id}&date=ge{since}"),
            Some(&sh),
            None,
            &[],
        )
        .await;
        assert_eq!(recent.body["total"], 2, "{}", recent.text);
        let old = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Observation?patient={id}&date=lt{since}"),
            Some(&sh),
            None,
            &[],
        )
        .await;
        assert_eq!(old.body["total"], 1, "{}", old.text);
        let page = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Observation?patient={id}&_count=2"),
            Some(&sh),
            None,
            &[],
        )
        .await;
        assert_eq!(page.body["entry"].as_array().unwrap().len(), 2);
        let next = page.body["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .expect("a next link")["url"]
            .as_str()
            .unwrap()
            .to_string();
        let path = next
            .split_once("/fhir/")
            .map(|(_, rest)| format!("/fhir/{rest}"))
            .unwrap();
        let second = fhir(&app, Method::GET, &path, Some(&sh), None, &[]).await;
        assert_eq!(second.body["entry"].as_array().unwrap().len(), 1, "{}", second.text);
        let updated_since = fhir(
            &app,
            Method::GET,
            "/fhir/Observation?_lastUpdated=ge2020-01-01",
            Some(&sh),
            None,
            &[],
        )
        .await;
        assert_eq!(updated_since.body["total"], 3);
        let audit = app.audit_entries("fhir.create").await;
        assert!(audit.len() >= 4);
        app.finish().await;
    }
}

#[tokio::test]
async fn bad_input_gets_an_operation_outcome_and_writes_nothing() {
    for Fixture { app, sh, .. } in fixtures().await {
        let pid = create(
            &app,
            &sh,
            &patient(&with_check_digit("31010119800101001"), "李", "1980-01-01", "male"),
        )
        .await;
        let before = app.count("fhir_resources").await;
        let audit_before = app.count("audit_log").await;

        let raw = app
            .client
            .post(app.url("/fhir/Observation"))
            .bearer_auth(&sh)
            .header("content-type", FHIR)
            .body("{\"resourceType\": ")
            .send()
            .await
            .unwrap();
        assert_outcome(&TestApp::reply(raw).await, StatusCode::BAD_REQUEST, None);
        let xml = app
            .client
            .post(app.url("/fhir/Observation"))
            .bearer_auth(&sh)
            .header("content-type", "application/fhir+xml")
            .body("<Observation/>")
            .send()
            .await
            .unwrap();
        assert_outcome(&TestApp::reply(xml).await, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
        assert_outcome(
            &fhir(&app, Method::GET, "/fhir/Specimen/1", Some(&sh), None, &[]).await,
            StatusCode::NOT_FOUND,
            None,
        );
        assert_outcome(
            &fhir(
                &app,
                Method::POST,
                "/fhir/Medication",
                Some(&sh),
                Some(&json!({"resourceType": "Medication"})),
                &[],
            )
            .await,
            StatusCode::NOT_FOUND,
            None,
        );

        let mut missing = observation(&pid, "718-7", 1);
        missing.as_object_mut().unwrap().remove("status");
        assert_outcome(
            &fhir(&app, Method::POST, "/fhir/Observation", Some(&sh), Some(&missing), &[]).await,
            StatusCode::BAD_REQUEST,
            Some("Observation.status"),
        );
        let mut wrong_code = observation(&pid, "718-7", 1);
        wrong_code["status"] = json!("done");
        assert_outcome(
            &fhir(
                &app,
                Method::POST,
                "/fhir/Observation",
                Some(&sh),
                Some(&wrong_code),
                &[],
            )
            .await,
            StatusCode::BAD_REQUEST,
            Some("Observation.status"),
        );
        let mut no_zone = observation(&pid, "718-7", 1);
        no_zone["effectiveDateTime"] = json!("2024-05-01T10:00:00");
        assert_outcome(
            &fhir(&app, Method::POST, "/fhir/Observation", Some(&sh), Some(&no_zone), &[]).await,
            StatusCode::BAD_REQUEST,
            Some("Observation.effectiveDateTime"),
        );
        let dangling = observation("no-such-patient", "718-7", 1);
        assert_outcome(
            &fhir(&app, Method::POST, "/fhir/Observation", Some(&sh), Some(&dangling), &[]).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Observation.subject"),
        );
        let mut bad_reference = observation(&pid, "718-7", 1);
        bad_reference["performer"] = json!([{"reference": "Practitioner/nobody"}]);
        assert_outcome(
            &fhir(
                &app,
                Method::POST,
                "/fhir/Observation",
                Some(&sh),
                Some(&bad_reference),
                &[],
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Observation.performer[0]"),
        );
        let bad_id = patient("310101198001010010", "李", "1980-01-01", "male");
        assert_outcome(
            &fhir(&app, Method::POST, "/fhir/Patient", Some(&sh), Some(&bad_id), &[]).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Patient.identifier[0].value"),
        );
        let wrong_birth = patient(&with_check_digit("31010119800101001"), "李", "1981-01-01", "male");
        assert_outcome(
            &fhir(&app, Method::POST, "/fhir/Patient", Some(&sh), Some(&wrong_birth), &[]).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Patient.birthDate"),
        );
        assert_outcome(
            &fhir(&app, Method::GET, "/fhir/Observation?colour=red", Some(&sh), None, &[]).await,
            StatusCode::BAD_REQUEST,
            None,
        );
        assert_outcome(
            &fhir(
                &app,
                Method::GET,
                "/fhir/Observation?date=ge2024-13-01",
                Some(&sh),
                None,
                &[],
            )
            .await,
            StatusCode::BAD_REQUEST,
            None,
        );
        assert_outcome(
            &fhir(
                &app,
                Method::DELETE,
                &format!("/fhir/Patient/{pid}"),
                Some(&sh),
                None,
                &[],
            )
            .await,
            StatusCode::METHOD_NOT_ALLOWED,
            None,
        );

        // A transaction with one bad entry writes nothing of it.
        let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:7f0c2c5e-0000-4000-8000-000000000001", "resource": patient(&with_check_digit("32010119900202002"), "周", "1990-02-02", "female"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": observation("urn-uuid-placeholder", "718-7", 1), "request": {"method": "POST", "url": "Observation"}},
            {"resource": missing, "request": {"method": "POST", "url": "Observation"}}
        ]});
        let mut transaction = transaction;
        transaction["entry"][1]["resource"]["subject"]["reference"] =
            json!("urn:uuid:7f0c2c5e-0000-4000-8000-000000000001");
        let reply = fhir(&app, Method::POST, "/fhir", Some(&sh), Some(&transaction), &[]).await;
        assert_outcome(&reply, StatusCode::BAD_REQUEST, Some("Bundle.entry[2].resource.status"));

        let oversize = json!({"resourceType": "Bundle", "type": "batch", "entry": (0..201).map(|_| json!({"request": {"method": "GET", "url": "Patient"}})).collect::<Vec<_>>()});
        assert_outcome(
            &fhir(&app, Method::POST, "/fhir", Some(&sh), Some(&oversize), &[]).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        );
        let huge = "x".repeat(3 * 1024 * 1024);
        let reply = app
            .client
            .post(app.url("/fhir/Patient"))
            .bearer_auth(&sh)
            .header("content-type", FHIR)
            .body(huge)
            .send()
            .await
            .unwrap();
        assert_outcome(&TestApp::reply(reply).await, StatusCode::PAYLOAD_TOO_LARGE, None);

        assert_eq!(app.count("fhir_resources").await, before);
        assert_eq!(app.count("audit_log").await, audit_before);
        app.finish().await;
    }
}

#[tokio::test]
async fn transaction_and_batch_bundles() {
    for Fixture { app, sh, .. } in fixtures().await {
        let uuid = "urn:uuid:1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9";
        let mut obs = observation("x", "718-7", 1);
        obs["subject"]["reference"] = json!(uuid);
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": obs, "request": {"method": "POST", "url": "Observation"}},
            {"fullUrl": uuid, "resource": patient(&with_check_digit("31010119700505003"), "吴", "1970-05-05", "male"), "request": {"method": "POST", "url": "Patient"}}
        ]});
        let reply = fhir(&app, Method::POST, "/fhir", Some(&sh), Some(&bundle), &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["type"], "transaction-response");
        let locations: Vec<String> = reply.body["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["response"]["location"].as_str().unwrap().to_string())
            .collect();
        assert!(
            locations[0].starts_with("Observation/") && locations[1].starts_with("Patient/"),
            "{locations:?}"
        );
        let obs_path = format!("/fhir/{}", locations[0].split("/_history").next().unwrap());
        let stored = fhir(&app, Method::GET, &obs_path, Some(&sh), None, &[]).await;
        assert_eq!(
            stored.body["subject"]["reference"].as_str().unwrap(),
            locations[1].split("/_history").next().unwrap()
        );

        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": patient(&with_check_digit("31010119600606004"), "郑", "1960-06-06", "female"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Patient", "gender": "nobody"}, "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Patient?family=%E5%90%B4"}}
        ]});
        let reply = fhir(&app, Method::POST, "/fhir", Some(&sh), Some(&batch), &[]).await;
        assert_eq!(reply.body["type"], "batch-response", "{}", reply.text);
        let statuses: Vec<&str> = reply.body["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["response"]["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["201 Created", "400", "200 OK"]);
        assert_eq!(
            reply.body["entry"][1]["response"]["outcome"]["resourceType"],
            "OperationOutcome"
        );
        assert_eq!(reply.body["entry"][2]["resource"]["total"], 1);
        app.finish().await;
    }
}

#[tokio::test]
async fn a_hospital_writes_only_as_itself() {
    for Fixture { app, sh, js, .. } in fixtures().await {
        let sh_patient = create(
            &app,
            &sh,
            &patient(&with_check_digit("31010119800101001"), "李", "1980-01-01", "male"),
        )
        .await;
        let record = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Patient/{sh_patient}"),
            Some(&sh),
            None,
            &[],
        )
        .await
        .body;
        let mut changed = record.clone();
        changed["gender"] = json!("female");
        let reply = fhir(
            &app,
            Method::PUT,
            &format!("/fhir/Patient/{sh_patient}"),
            Some(&js),
            Some(&changed),
            &[],
        )
        .await;
        assert_outcome(&reply, StatusCode::FORBIDDEN, None);
        let reply = fhir(
            &app,
            Method::POST,
            "/fhir/Observation",
            Some(&js),
            Some(&observation(&sh_patient, "718-7", 1)),
            &[],
        )
        .await;
        assert_outcome(&reply, StatusCode::UNPROCESSABLE_ENTITY, Some("Observation.subject"));
        // A hospital may not record a consent that lets itself in.
        let js_patient = create(
            &app,
            &js,
            &patient(&with_check_digit("31010119800101001"), "李", "1980-01-01", "male"),
        )
        .await;
        let self_consent = consent(&js_patient, json!({"reference": "Organization/js"}));
        assert_outcome(
            &fhir(&app, Method::POST, "/fhir/Consent", Some(&js), Some(&self_consent), &[]).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Consent.provision.actor[0].reference"),
        );
        let province_consent = consent(
            &js_patient,
            json!({"identifier": {"system": "urn:yrd:sid:jurisdiction", "value": "320000"}}),
        );
        assert_outcome(
            &fhir(
                &app,
                Method::POST,
                "/fhir/Consent",
                Some(&js),
                Some(&province_consent),
                &[],
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        );

        // Its own registration changes only through the registry.
        let own = fhir(&app, Method::GET, "/fhir/Organization/js", Some(&js), None, &[]).await;
        let mut promoted = own.body.clone();
        promoted["extension"][0]["valueCode"] = json!("3甲");
        promoted["name"] = json!("Best hospital");
        assert_outcome(
            &fhir(
                &app,
                Method::PUT,
                "/fhir/Organization/js",
                Some(&js),
                Some(&promoted),
                &[],
            )
            .await,
            StatusCode::FORBIDDEN,
            None,
        );

        // No token, a console-less anonymous call, a user who is no hospital's staff.
        assert_outcome(
            &fhir(
                &app,
                Method::GET,
                &format!("/fhir/Patient/{sh_patient}"),
                None,
                None,
                &[],
            )
            .await,
            StatusCode::UNAUTHORIZED,
            None,
        );
        let outsider = app.user_with_token("outsider", false, &[]).await;
        assert_outcome(
            &fhir(
                &app,
                Method::GET,
                &format!("/fhir/Patient/{sh_patient}"),
                Some(&outsider),
                None,
                &[],
            )
            .await,
            StatusCode::FORBIDDEN,
            None,
        );
        let unchanged = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Patient/{sh_patient}"),
            Some(&sh),
            None,
            &[],
        )
        .await;
        assert_eq!(unchanged.body["meta"]["versionId"], "1");
        app.finish().await;
    }
}

fn consent(patient: &str, actor: Value) -> Value {
    json!({
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": format!("Patient/{patient}")},
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {"type": "permit", "actor": [{"role": {"text": "recipient"}, "reference": actor}],
            "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]}
    })
}

#[tokio::test]
async fn cross_hospital_reads_need_consent_and_are_logged() {
    for Fixture { app, sh, js, zj, .. } in fixtures().await {
        let id_number = with_check_digit("31010119800101001");
        let sh_patient = create(&app, &sh, &patient(&id_number, "李", "1980-01-01", "male")).await;
        let result = create(&app, &sh, &observation(&sh_patient, "718-7", 1)).await;
        // Jiangsu registers the visiting patient; the index links both records to one person.
        let js_patient = create(&app, &js, &patient(&id_number, "李", "1980-01-01", "male")).await;
        let persons = app.count("health_persons").await;
        assert_eq!(persons, 1);

        let read = |token: &str, headers: &'static [(&'static str, &'static str)]| {
            let path = format!("/fhir/Observation/{result}");
            let app = &app;
            let token = token.to_string();
            async move { fhir(app, Method::GET, &path, Some(&token), None, headers).await }
        };
        assert_outcome(&read(&js, &[]).await, StatusCode::FORBIDDEN, None);
        let search = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Observation?patient={sh_patient}"),
            Some(&js),
            None,
            &[],
        )
        .await;
        assert_outcome(&search, StatusCode::FORBIDDEN, None);
        let unfiltered = fhir(&app, Method::GET, "/fhir/Observation", Some(&js), None, &[]).await;
        assert_eq!(
            unfiltered.body["total"], 0,
            "without consent another hospital's data is not found"
        );
        let matched = fhir(&app, Method::POST, "/fhir/Patient/$match", Some(&js), Some(&json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient(&id_number, "李", "1980-01-01", "male")}]})), &[]).await;
        assert_eq!(
            matched.body["total"], 1,
            "only its own record before consent: {}",
            matched.text
        );
        let refused = app.audit_entries("access.refused").await;
        assert!(refused.len() >= 2, "refusals are audited");

        // Zhejiang's data is Zhejiang's: Jiangsu reading it without consent is refused.
        let zj_patient = create(&app, &zj, &patient(&id_number, "李", "1980-01-01", "male")).await;
        let zj_result = create(&app, &zj, &observation(&zj_patient, "2345-7", 1)).await;
        assert_outcome(
            &fhir(
                &app,
                Method::GET,
                &format!("/fhir/Observation/{zj_result}"),
                Some(&js),
                None,
                &[],
            )
            .await,
            StatusCode::FORBIDDEN,
            None,
        );
        let refusals = app.audit_entries("access.refused").await;
        assert!(
            refusals
                .iter()
                .any(|e| e.entity_id == format!("Observation/{zj_result}")),
            "the refusal is in the audit log"
        );
        // The patient consents in the portal to the Jiangsu hospital.
        let patient_token = app.user_with_token("patient.li", false, &[]).await;
        let admin = app
            .user_with_token("health.admin", false, &[("health", Admin, "")])
            .await;
        let link = app
            .call(
                Method::PUT,
                "/api/v1/health/patient-accounts/patient.li",
                Some(&admin),
                Some(&json!({"national_id": id_number})),
            )
            .await;
        assert_eq!(link.status, StatusCode::NO_CONTENT, "{}", link.text);
        let given = app
            .call(
                Method::POST,
                "/api/v1/health/me/consents",
                Some(&patient_token),
                Some(&json!({"hospital": "js", "days": 30})),
            )
            .await;
        assert_eq!(given.status, StatusCode::CREATED, "{}", given.text);
        let consent_id = given.body["id"].as_str().unwrap().to_string();

        assert_eq!(read(&js, &[]).await.status, StatusCode::OK);
        let search = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Observation?patient={sh_patient}"),
            Some(&js),
            None,
            &[],
        )
        .await;
        assert_eq!(search.body["total"], 1, "{}", search.text);
        let matched = fhir(&app, Method::POST, "/fhir/Patient/$match", Some(&js), Some(&json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient(&id_number, "李", "1980-01-01", "male")}]})), &[]).await;
        assert_eq!(
            matched.body["total"], 3,
            "the records at all three hospitals: {}",
            matched.text
        );
        assert_eq!(
            matched.body["entry"][0]["search"]["extension"][0]["valueCode"],
            "certain"
        );
        // The consent names Jiangsu's hospital, not Zhejiang's, and only for treatment.
        assert_outcome(&read(&zj, &[]).await, StatusCode::FORBIDDEN, None);
        assert_outcome(
            &read(&js, &[("x-purpose-of-use", "HRESCH")]).await,
            StatusCode::FORBIDDEN,
            None,
        );
        assert_outcome(
            &read(&js, &[("x-purpose-of-use", "SPYING")]).await,
            StatusCode::BAD_REQUEST,
            None,
        );

        // Withdrawn: the very next read is refused.
        let withdrawn = app
            .call(
                Method::POST,
                &format!("/api/v1/health/me/consents/{consent_id}/withdraw"),
                Some(&patient_token),
                None,
            )
            .await;
        assert_eq!(withdrawn.status, StatusCode::NO_CONTENT, "{}", withdrawn.text);
        assert_outcome(&read(&js, &[]).await, StatusCode::FORBIDDEN, None);
        let again = app
            .call(
                Method::POST,
                &format!("/api/v1/health/me/consents/{consent_id}/withdraw"),
                Some(&patient_token),
                None,
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);

        // A province-wide consent covers every Zhejiang hospital.
        let given = app
            .call(
                Method::POST,
                "/api/v1/health/me/consents",
                Some(&patient_token),
                Some(&json!({"province": "330000"})),
            )
            .await;
        assert_eq!(given.status, StatusCode::CREATED, "{}", given.text);
        assert_eq!(read(&zj, &[]).await.status, StatusCode::OK);
        let bad = app
            .call(
                Method::POST,
                "/api/v1/health/me/consents",
                Some(&patient_token),
                Some(&json!({"province": "330100"})),
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.error_paths(), ["province"]);

        // An emergency override reads without consent, and is reviewed afterwards.
        let emergency = read(&js, &[("x-break-glass-reason", "unconscious on arrival")]).await;
        assert_eq!(emergency.status, StatusCode::OK, "{}", emergency.text);
        let reviewer = app
            .user_with_token("commission.js", false, &[("health", Approve, "32")])
            .await;
        let other_reviewer = app
            .user_with_token("commission.zj", false, &[("health", Approve, "33")])
            .await;
        let pending = app.get("/api/v1/health/break-glass", Some(&reviewer)).await;
        let overrides = pending.body.as_array().unwrap();
        assert_eq!(overrides.len(), 1, "{}", pending.text);
        let id = overrides[0]["id"].as_i64().unwrap();
        assert!(
            app.get("/api/v1/health/break-glass", Some(&other_reviewer))
                .await
                .body
                .as_array()
                .unwrap()
                .is_empty()
        );
        let (session, _) = {
            let user = yrd_auth::NewUser {
                login: "commission.page".into(),
                display_name: "c".into(),
                password: Some("a long password".into()),
                is_admin: false,
                is_demo: false,
            };
            yrd_auth::create_user(&app.db, "t", user).await.unwrap();
            yrd_auth::grant(
                &app.db,
                "t",
                "commission.page",
                "health",
                Approve,
                &yrd_kernel::Scope::parse("32").unwrap(),
            )
            .await
            .unwrap();
            app.console_login("commission.page", "a long password").await.unwrap()
        };
        let listing = app
            .client
            .get(app.url("/health/break-glass"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(listing.contains("unconscious on arrival"), "{listing}");
        let review = json!({"outcome": "justified", "note": "patient arrived by ambulance"});
        assert_eq!(
            app.call(
                Method::POST,
                &format!("/api/v1/health/break-glass/{id}/review"),
                Some(&other_reviewer),
                Some(&review)
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.call(
                Method::POST,
                &format!("/api/v1/health/break-glass/{id}/review"),
                Some(&reviewer),
                Some(&review)
            )
            .await
            .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.call(
                Method::POST,
                &format!("/api/v1/health/break-glass/{id}/review"),
                Some(&reviewer),
                Some(&review)
            )
            .await
            .status,
            StatusCode::CONFLICT
        );

        // The patient sees who looked, when and why — refusals included.
        let log = app.get("/api/v1/health/me/access-log", Some(&patient_token)).await;
        let lines = log.body.as_array().unwrap();
        assert!(
            lines
                .iter()
                .any(|l| l["reader_org"] == "js" && l["outcome"] == "refused"),
            "{}",
            log.text
        );
        assert!(lines.iter().any(|l| l["reader_org"] == "js" && l["basis"] == "consent"));
        assert!(
            lines
                .iter()
                .any(|l| l["basis"] == "break-glass" && l["review_outcome"] == "justified")
        );
        assert!(
            lines
                .iter()
                .any(|l| l["reader_org"] == "zj" && l["outcome"] == "allowed")
        );
        assert!(
            lines.iter().all(|l| l["reader_org"] != "sh"),
            "own reads are not cross-hospital"
        );
        // Another patient's account sees nothing of this.
        assert_eq!(
            app.get("/api/v1/health/me/access-log", Some(&sh)).await.status,
            StatusCode::FORBIDDEN
        );
        let _ = js_patient;
        app.finish().await;
    }
}

#[tokio::test]
async fn recognition_of_results_is_signed_and_counted() {
    for Fixture {
        app, sh, js, clinic, ..
    } in fixtures().await
    {
        let id_number = with_check_digit("34010219850315002");
        let at_clinic = create(&app, &clinic, &patient(&id_number, "王", "1985-03-15", "female")).await;
        let at_sh = create(&app, &sh, &patient(&id_number, "王", "1985-03-15", "female")).await;
        let fresh = create(&app, &sh, &observation(&at_sh, "718-7", 2)).await;
        let stale = create(&app, &sh, &observation(&at_sh, "2345-7", 30)).await;
        let unlisted = create(&app, &sh, &observation(&at_sh, "3016-3", 1)).await;
        let low_level = create(&app, &clinic, &observation(&at_clinic, "718-7", 1)).await;
        let ct = create(&app, &sh, &json!({
            "resourceType": "ImagingStudy", "status": "available", "subject": {"reference": format!("Patient/{at_sh}")},
            "started": days_ago(10),
            "series": [{"uid": "1.2.3.4", "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"},
                        "bodySite": {"system": "http://snomed.info/sct", "code": "51185008"},
                        "instance": [{"uid": "1.2.3.4.1", "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}}]}]
        })).await;
        let at_js = create(&app, &js, &patient(&id_number, "王", "1985-03-15", "female")).await;

        let results = app
            .get(&format!("/api/v1/health/patients/{at_js}/results"), Some(&js))
            .await;
        assert_eq!(
            results.status,
            StatusCode::FORBIDDEN,
            "no consent yet: {}",
            results.text
        );
        for home in [&sh, &clinic] {
            let reply = fhir(
                &app,
                Method::POST,
                "/fhir/Consent",
                Some(home),
                Some(&consent(
                    if home == &sh { &at_sh } else { &at_clinic },
                    json!({"reference": "Organization/js"}),
                )),
                &[],
            )
            .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        }
        let results = app
            .get(&format!("/api/v1/health/patients/{at_js}/results"), Some(&js))
            .await;
        assert_eq!(results.status, StatusCode::OK, "{}", results.text);
        let view = |id: &str| {
            results
                .body
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["result"].as_str().unwrap().ends_with(id))
                .cloned()
                .unwrap()
        };
        assert_eq!(view(&fresh)["recognisable"], true);
        assert_eq!(view(&ct)["recognisable"], true);
        assert_eq!(view(&stale)["recognisable"], false);
        assert!(view(&stale)["why_not"].as_str().unwrap().contains("days old"));
        assert!(view(&unlisted)["why_not"].as_str().unwrap().contains("catalogue"));
        assert!(view(&low_level)["why_not"].as_str().unwrap().contains("level 1"));
        // The same view is not another hospital's to ask for: the patient record must be its own.
        assert_eq!(
            app.get(&format!("/api/v1/health/patients/{at_sh}/results"), Some(&js))
                .await
                .status,
            StatusCode::NOT_FOUND
        );

        let decide = |result: String, decision: &str, reason: Option<&str>| json!({"patient": at_js, "result": result, "decision": decision, "reason": reason});
        let accepted = app
            .call(
                Method::POST,
                "/api/v1/health/decisions",
                Some(&js),
                Some(&decide(format!("Observation/{fresh}"), "accepted", None)),
            )
            .await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.text);
        assert_eq!(accepted.body["fee_fen"], 1_000);
        let refused = app
            .call(
                Method::POST,
                "/api/v1/health/decisions",
                Some(&js),
                Some(&decide(format!("Observation/{stale}"), "accepted", None)),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert_eq!(refused.error_paths(), ["decision"]);
        let no_reason = app
            .call(
                Method::POST,
                "/api/v1/health/decisions",
                Some(&js),
                Some(&decide(format!("ImagingStudy/{ct}"), "declined", None)),
            )
            .await;
        assert_eq!(no_reason.error_paths(), ["reason"]);
        let declined = app
            .call(
                Method::POST,
                "/api/v1/health/decisions",
                Some(&js),
                Some(&decide(
                    format!("ImagingStudy/{ct}"),
                    "declined",
                    Some("symptoms changed"),
                )),
            )
            .await;
        assert_eq!(declined.status, StatusCode::CREATED, "{}", declined.text);
        let twice = app
            .call(
                Method::POST,
                "/api/v1/health/decisions",
                Some(&js),
                Some(&decide(format!("Observation/{fresh}"), "accepted", None)),
            )
            .await;
        assert_eq!(
            twice.status,
            StatusCode::CONFLICT,
            "one decision per result and hospital"
        );

        // The signed record verifies with the published key; an altered one does not.
        let jwks = app.get("/api/v1/health/keys", None).await.body;
        let x = B64URL.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
        let key = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        let jws = accepted.body["jws"].as_str().unwrap();
        let (input, signature) = jws.rsplit_once('.').unwrap();
        let signature = Signature::from_slice(&B64URL.decode(signature).unwrap()).unwrap();
        assert!(key.verify(input.as_bytes(), &signature).is_ok());
        let claims: Value = serde_json::from_slice(&B64URL.decode(input.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["decision"], "accepted");
        assert_eq!(claims["result"], format!("Observation/{fresh}"));
        let forged = input.replace(
            input.split('.').nth(1).unwrap(),
            &B64URL.encode(claims.to_string().replace("accepted", "declined")),
        );
        assert!(key.verify(forged.as_bytes(), &signature).is_err());
        let id = accepted.body["id"].as_str().unwrap();
        assert_eq!(
            app.get(&format!("/api/v1/health/decisions/{id}"), Some(&sh))
                .await
                .status,
            StatusCode::OK,
            "the source hospital sees it"
        );
        let outsider = app.user_with_token("outsider", false, &[]).await;
        assert_eq!(
            app.get(&format!("/api/v1/health/decisions/{id}"), Some(&outsider))
                .await
                .status,
            StatusCode::NOT_FOUND
        );

        let office = app
            .user_with_token("office", false, &[("health", yrd_kernel::AccessLevel::Read, "")])
            .await;
        let stats = app.get("/api/v1/health/stats", Some(&office)).await;
        let pair = stats
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["source_province"] == "310000" && p["reader_province"] == "320000")
            .cloned()
            .unwrap();
        assert_eq!(pair["results_reused"], 1);
        assert_eq!(pair["repeats_avoided"], 1);
        assert_eq!(pair["declined"], 1);
        assert_eq!(pair["saved_fen"], 1_000);
        let anhui = app
            .user_with_token("anhui", false, &[("health", yrd_kernel::AccessLevel::Read, "34")])
            .await;
        assert!(
            app.get("/api/v1/health/stats", Some(&anhui))
                .await
                .body
                .as_array()
                .unwrap()
                .is_empty(),
            "the pair is outside Anhui's scope"
        );
        assert_eq!(
            app.get("/api/v1/health/stats", Some(&outsider)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(app.audit_entries("recognition.decide").await.len(), 2);
        app.finish().await;
    }
}

#[tokio::test]
async fn demo_loads_once_and_pages_render_in_both_languages() {
    for backend in backends() {
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(HealthModule::new())];
        let app = TestApp::start(backend, modules).await;
        for login in ["demo.hospital.sh", "demo.patient"] {
            let user = yrd_auth::NewUser {
                login: login.into(),
                display_name: login.into(),
                password: Some("a long password".into()),
                is_admin: false,
                is_demo: true,
            };
            yrd_auth::create_user(&app.db, "t", user).await.unwrap();
        }
        yrd_health::demo::load(&app.db).await.unwrap();
        let resources = app.count("fhir_resources").await;
        yrd_health::demo::load(&app.db).await.unwrap();
        assert_eq!(
            app.count("fhir_resources").await,
            resources,
            "loading twice adds nothing"
        );
        assert_eq!(app.count("health_hospitals").await, 42, "one per city and a clinic");
        assert!(app.count("health_decisions").await > 20);

        let (cookie, csrf) = app.console_login("demo.hospital.sh", "a long password").await.unwrap();
        let page = |path: String, lang: &'static str| {
            let request = app
                .client
                .get(app.url(&path))
                .header("cookie", format!("{cookie}; yrd_lang={lang}"));
            async move { request.send().await.unwrap() }
        };
        let hospital = page("/health/hospital".into(), "en").await.text().await.unwrap();
        assert!(hospital.contains("Our patient"), "{hospital}");
        let patient_id = hospital
            .split("option value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_string();
        let view = page(format!("/health/hospital?patient={patient_id}"), "zh").await;
        assert_eq!(view.status(), StatusCode::OK);
        // The clerk registers 王芳 from her ID card and lands on her results from Hefei.
        let registered = app
            .client
            .post(app.url("/health/hospital/register"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("national_id", yrd_health::demo::walkthrough_national_id().as_str()),
                ("family", "王"),
                ("given", "芳"),
            ])
            .send()
            .await
            .unwrap();
        assert!(registered.status().is_redirection(), "{}", registered.status());
        let location = registered.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with("/health/hospital?patient="), "{location}");
        let view = page(location.clone(), "en").await.text().await.unwrap();
        assert!(
            view.contains("王芳") && view.contains("no active consent"),
            "without her consent: {view}"
        );
        assert!(view.contains("break_glass_reason"), "the override form is offered");
        let again = app
            .client
            .post(app.url("/health/hospital/register"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("national_id", yrd_health::demo::walkthrough_national_id().as_str()),
                ("family", "王"),
                ("given", "芳"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            again.headers()["location"].to_str().unwrap(),
            location,
            "the same record, not a second one"
        );
        let overview = page("/health".into(), "zh").await.text().await.unwrap();
        assert!(overview.contains("医疗互通"));
        let catalogue = page("/health/catalogue".into(), "en").await.text().await.unwrap();
        assert!(catalogue.contains("Haemoglobin"));

        let (patient_cookie, csrf) = app.console_login("demo.patient", "a long password").await.unwrap();
        let me = app
            .client
            .get(app.url("/health/me"))
            .header("cookie", &patient_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK);
        let given = app
            .client
            .post(app.url("/health/me/consents"))
            .header("cookie", &patient_cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("hospital", "h-310100"),
                ("province", ""),
                ("days", "30"),
            ])
            .send()
            .await
            .unwrap();
        assert!(given.status().is_redirection() || given.status().is_success());
        let me = app
            .client
            .get(app.url("/health/me"))
            .header("cookie", &patient_cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(me.contains("h-310100"), "the new consent is listed");
        let no_csrf = app
            .client
            .post(app.url("/health/me/consents"))
            .header("cookie", &patient_cookie)
            .form(&[("hospital", "h-310100")])
            .send()
            .await
            .unwrap();
        assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
        app.finish().await;
    }
}

#[tokio::test]
async fn rules_that_close_side_doors() {
    for Fixture { app, sh, js, zj, .. } in fixtures().await {
        let id_number = with_check_digit("31010119800101001");
        let sh_patient = create(&app, &sh, &patient(&id_number, "李", "1980-01-01", "male")).await;
        let sh_result = create(&app, &sh, &observation(&sh_patient, "718-7", 1)).await;
        let zj_patient = create(&app, &zj, &patient(&id_number, "李", "1980-01-01", "male")).await;
        let zj_result = create(&app, &zj, &observation(&zj_patient, "718-7", 1)).await;
        let js_patient = create(&app, &js, &patient(&id_number, "李", "1980-01-01", "male")).await;

        // A conditional create matches only the writer's own data, even with an override.
        let created = fhir(
            &app,
            Method::POST,
            "/fhir/Observation",
            Some(&js),
            Some(&observation(&js_patient, "718-7", 1)),
            &[
                ("if-none-exist", &format!("_id={sh_result}")),
                ("x-break-glass-reason", "curious"),
            ],
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_ne!(created.body["id"], sh_result.as_str());

        // A consent the Shanghai hospital recorded opens Shanghai's data to Jiangsu, not Zhejiang's.
        let recorded = fhir(
            &app,
            Method::POST,
            "/fhir/Consent",
            Some(&sh),
            Some(&consent(&sh_patient, json!({"reference": "Organization/js"}))),
            &[],
        )
        .await;
        assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.text);
        assert_eq!(
            fhir(
                &app,
                Method::GET,
                &format!("/fhir/Observation/{sh_result}"),
                Some(&js),
                None,
                &[]
            )
            .await
            .status,
            StatusCode::OK
        );
        assert_outcome(
            &fhir(
                &app,
                Method::GET,
                &format!("/fhir/Observation/{zj_result}"),
                Some(&js),
                None,
                &[],
            )
            .await,
            StatusCode::FORBIDDEN,
            None,
        );
        let search = fhir(
            &app,
            Method::GET,
            "/fhir/Observation?code=http://loinc.org|718-7",
            Some(&js),
            None,
            &[],
        )
        .await;
        let holders: Vec<&str> = search.body["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap())
            .collect();
        assert!(
            holders.contains(&sh_result.as_str()) && !holders.contains(&zj_result.as_str()),
            "{holders:?}"
        );

        // Consents say what the server understands, or are refused.
        let mut narrowed = consent(&sh_patient, json!({"reference": "Organization/zj"}));
        narrowed["provision"]["class"] =
            json!([{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}]);
        assert_outcome(
            &fhir(&app, Method::POST, "/fhir/Consent", Some(&sh), Some(&narrowed), &[]).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Consent.provision.class"),
        );
        let mut odd_purpose = consent(&sh_patient, json!({"reference": "Organization/zj"}));
        odd_purpose["provision"]["purpose"] = json!([{"system": "urn:local", "code": "TREAT"}]);
        assert_outcome(
            &fhir(&app, Method::POST, "/fhir/Consent", Some(&sh), Some(&odd_purpose), &[]).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Consent.provision.purpose[0]"),
        );

        // National IDs go only in Patient.identifier; a hash is not a key to a person.
        let practitioner = json!({"resourceType": "Practitioner", "identifier": [{"system": "urn:yrd:sid:national-id", "value": id_number}]});
        assert_outcome(
            &fhir(
                &app,
                Method::POST,
                "/fhir/Practitioner",
                Some(&js),
                Some(&practitioner),
                &[],
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Practitioner.identifier[0]"),
        );
        let hash = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Patient/{sh_patient}"),
            Some(&sh),
            None,
            &[],
        )
        .await
        .body["identifier"][0]["value"]
            .as_str()
            .unwrap()
            .to_string();
        let claim = json!({"resourceType": "Patient", "identifier": [{"system": "urn:yrd:sid:national-id-hmac", "value": hash}]});
        assert_outcome(
            &fhir(&app, Method::POST, "/fhir/Patient", Some(&js), Some(&claim), &[]).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Patient.identifier[0].value"),
        );
        // Its own record read back and sent again keeps its hash.
        let own = fhir(
            &app,
            Method::GET,
            &format!("/fhir/Patient/{sh_patient}"),
            Some(&sh),
            None,
            &[],
        )
        .await
        .body;
        assert_eq!(
            fhir(
                &app,
                Method::PUT,
                &format!("/fhir/Patient/{sh_patient}"),
                Some(&sh),
                Some(&own),
                &[]
            )
            .await
            .status,
            StatusCode::OK
        );
        // A patient with consents is not matched to someone else in passing.
        let mut other = own.clone();
        other["identifier"] =
            json!([{"system": "urn:yrd:sid:national-id", "value": with_check_digit("31010119800101011")}]);
        assert_outcome(
            &fhir(
                &app,
                Method::PUT,
                &format!("/fhir/Patient/{sh_patient}"),
                Some(&sh),
                Some(&other),
                &[],
            )
            .await,
            StatusCode::CONFLICT,
            None,
        );

        // Paging has a floor; a version count is not told to strangers.
        assert_outcome(
            &fhir(
                &app,
                Method::GET,
                "/fhir/Observation?_offset=18446744073709551615",
                Some(&sh),
                None,
                &[],
            )
            .await,
            StatusCode::BAD_REQUEST,
            None,
        );
        let ids = vec!["a"; 101].join(",");
        assert_outcome(
            &fhir(
                &app,
                Method::GET,
                &format!("/fhir/Observation?_id={ids}"),
                Some(&sh),
                None,
                &[],
            )
            .await,
            StatusCode::BAD_REQUEST,
            None,
        );
        let stranger = fhir(
            &app,
            Method::PUT,
            &format!("/fhir/Patient/{sh_patient}"),
            Some(&zj),
            Some(&own),
            &[("if-match", "W/\"0\"")],
        )
        .await;
        assert_outcome(&stranger, StatusCode::FORBIDDEN, None);
        assert!(!stranger.text.contains("version"), "{}", stranger.text);
        app.finish().await;
    }
}
