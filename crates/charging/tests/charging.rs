//! The charging network over HTTP and its storage, on SQLite and (with
//! `YRD_TEST_POSTGRES_URL`) PostgreSQL. The OCPP protocol itself is driven by the
//! Python `ocpp` package in `scripts/interop/ocpp16_walk.py` (CI).

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use yrd_charging::ChargingModule;
use yrd_charging::ocpp::ConnectorStatus;
use yrd_charging::store;
use yrd_kernel::AccessLevel::{Admin, Read};
use yrd_testkit::{TestApp, backends};
use yrd_web::Module;

fn station(key: &str, lon: f64) -> serde_json::Value {
    json!({
        "name": "测试站", "jurisdiction": "310100", "lon": lon, "lat": 31.23, "address": "上海", "public": true, "key": key,
        "connectors": [{"connector_id": 1, "standard": "GB/T DC", "max_kw": 120.0}, {"connector_id": 2, "standard": "GB/T AC", "max_kw": 7.0}]
    })
}

#[tokio::test]
async fn operators_register_stations_price_sessions_and_stay_apart() {
    for backend in backends() {
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(ChargingModule::new())];
        let app = TestApp::start(backend, modules).await;
        let admin = app
            .user_with_token("charging.admin", false, &[("charging", Admin, "")])
            .await;
        let alpha = app.user_with_token("alpha.ops", false, &[]).await;
        let beta = app.user_with_token("beta.ops", false, &[]).await;
        for (id, login) in [("alpha", "alpha.ops"), ("beta", "beta.ops")] {
            assert_eq!(
                app.call(
                    Method::PUT,
                    &format!("/api/v1/charging/operators/{id}"),
                    Some(&admin),
                    Some(&json!({"name": id}))
                )
                .await
                .status,
                StatusCode::NO_CONTENT
            );
            assert_eq!(
                app.call(
                    Method::PUT,
                    &format!("/api/v1/charging/operators/{id}/staff/{login}"),
                    Some(&admin),
                    None
                )
                .await
                .status,
                StatusCode::NO_CONTENT
            );
        }
        // Bad input names the field and writes nothing.
        let before = app.count("ch_stations").await;
        let short_key = app
            .call(
                Method::PUT,
                "/api/v1/charging/stations/A-1",
                Some(&alpha),
                Some(&station("short", 121.47)),
            )
            .await;
        assert_eq!(short_key.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(short_key.error_paths(), ["key"]);
        let mut odd = station("a-long-enough-station-key", 121.47);
        odd["connectors"][1]["standard"] = json!("Schuko");
        assert_eq!(
            app.call(Method::PUT, "/api/v1/charging/stations/A-1", Some(&alpha), Some(&odd))
                .await
                .error_paths(),
            ["connectors[1].standard"]
        );
        assert_eq!(app.count("ch_stations").await, before);

        let put = app
            .call(
                Method::PUT,
                "/api/v1/charging/stations/A-1",
                Some(&alpha),
                Some(&station("a-long-enough-station-key", 121.47)),
            )
            .await;
        assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.text);
        let stolen = app
            .call(
                Method::PUT,
                "/api/v1/charging/stations/A-1",
                Some(&beta),
                Some(&station("beta-wants-this-station", 121.47)),
            )
            .await;
        assert_eq!(stolen.status, StatusCode::FORBIDDEN);
        assert!(
            store::station_key_ok(&app.db, "A-1", "a-long-enough-station-key")
                .await
                .unwrap()
        );
        assert!(
            !store::station_key_ok(&app.db, "A-1", "beta-wants-this-station")
                .await
                .unwrap()
        );
        let leaked = sqlx::query("SELECT COUNT(*) FROM ch_stations WHERE key_hash LIKE '%a-long-enough%'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        assert_eq!(sqlx::Row::get::<i64, _>(&leaked, 0), 0, "keys are stored hashed");

        // An operator sees and commands only its own stations.
        assert_eq!(
            app.get("/api/v1/charging/stations", Some(&alpha))
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(
            app.get("/api/v1/charging/stations", Some(&beta))
                .await
                .body
                .as_array()
                .unwrap()
                .is_empty()
        );
        let command = json!({"action": "Reset", "payload": {"type": "Soft"}});
        let foreign = app
            .call(
                Method::POST,
                "/api/v1/charging/stations/A-1/commands",
                Some(&beta),
                Some(&command),
            )
            .await;
        assert_eq!(
            foreign.status,
            StatusCode::NOT_FOUND,
            "another operator's station answers like an unknown one"
        );
        assert!(
            !app.audit_entries("access.denied").await.is_empty(),
            "and the attempt is audited"
        );
        let offline = app
            .call(
                Method::POST,
                "/api/v1/charging/stations/A-1/commands",
                Some(&alpha),
                Some(&command),
            )
            .await;
        assert_eq!(offline.status, StatusCode::CONFLICT, "{}", offline.text);

        // A session priced by the tariff in force, idle time included.
        let tariff = json!({"energy_fen_per_kwh": 80, "service_fen_per_kwh": 60, "idle_fen_per_minute": 50, "idle_grace_minutes": 0});
        assert_eq!(
            app.call(Method::PUT, "/api/v1/charging/tariff", Some(&alpha), Some(&tariff))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        let bad_bands = json!({"energy_fen_per_kwh": 80, "bands": [{"start_minute": 60, "energy_fen_per_kwh": 30}], "service_fen_per_kwh": 60, "idle_fen_per_minute": 50, "idle_grace_minutes": 0});
        assert_eq!(
            app.call(Method::PUT, "/api/v1/charging/tariff", Some(&alpha), Some(&bad_bands))
                .await
                .error_paths(),
            ["bands"]
        );
        let banded = json!({"energy_fen_per_kwh": 80, "bands": [{"start_minute": 0, "energy_fen_per_kwh": 80}, {"start_minute": 720, "energy_fen_per_kwh": 80}], "service_fen_per_kwh": 60, "idle_fen_per_minute": 50, "idle_grace_minutes": 0});
        assert_eq!(
            app.call(Method::PUT, "/api/v1/charging/tariff", Some(&alpha), Some(&banded))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            store::tariff(&app.db, "alpha").await.unwrap().unwrap().bands.len(),
            2,
            "bands are stored"
        );
        let session = store::start_session(&app.db, "A-1", 1, "CARD", 1_000, None)
            .await
            .unwrap();
        assert!(store::meter(&app.db, "A-1", session, 6_000).await.unwrap());
        assert!(
            !store::meter(&app.db, "B-9", session, 7_000).await.unwrap(),
            "another station's reading is ignored"
        );
        // The session began two hours ago (for utilisation).
        sqlx::query("UPDATE ch_sessions SET started_at = $1 WHERE id = $2")
            .bind(yrd_kernel::time::to_db(chrono::Utc::now() - chrono::Duration::hours(2)))
            .bind(session)
            .execute(app.db.pool())
            .await
            .unwrap();
        store::set_status(&app.db, "A-1", 1, ConnectorStatus::SuspendedEV)
            .await
            .unwrap();
        sqlx::query("UPDATE ch_sessions SET idle_since = $1 WHERE id = $2")
            .bind(yrd_kernel::time::to_db(
                chrono::Utc::now() - chrono::Duration::seconds(125),
            ))
            .bind(session)
            .execute(app.db.pool())
            .await
            .unwrap();
        store::set_status(&app.db, "A-1", 1, ConnectorStatus::Charging)
            .await
            .unwrap();
        assert!(
            store::stop_session(&app.db, "A-1", session + 100, 9_000, "Local")
                .await
                .unwrap()
                .is_none(),
            "unknown transaction"
        );
        let cdr = store::stop_session(&app.db, "A-1", session, 13_345, "Remote")
            .await
            .unwrap()
            .unwrap();
        // 12,345 Wh at 0.80 + 0.60 yuan/kWh; 2 min 5 s idle is 3 started minutes at 0.50.
        assert_eq!(
            (
                cdr.charge.energy_fen,
                cdr.charge.service_fen,
                cdr.charge.idle_fen,
                cdr.charge.total_fen
            ),
            (988, 741, 150, 1879)
        );
        assert!(
            store::stop_session(&app.db, "A-1", session, 13_345, "Remote")
                .await
                .unwrap()
                .is_none(),
            "stopped once"
        );
        let cdrs = app.get("/api/v1/charging/cdrs", Some(&alpha)).await;
        assert_eq!(cdrs.body[0]["total_fen"], 1879, "{}", cdrs.text);
        assert!(
            app.get("/api/v1/charging/cdrs", Some(&beta))
                .await
                .body
                .as_array()
                .unwrap()
                .is_empty()
        );
        let csv = app
            .client
            .get(app.url("/api/v1/charging/cdrs?format=csv"))
            .bearer_auth(&alpha)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(csv.lines().nth(1).unwrap().ends_with(",988,741,150,1879"), "{csv}");
        let reader = app.user_with_token("office", false, &[("charging", Read, "")]).await;
        assert_eq!(
            app.get("/api/v1/charging/cdrs", Some(&reader))
                .await
                .body
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let outsider = app.user_with_token("outsider", false, &[]).await;
        assert_eq!(
            app.get("/api/v1/charging/cdrs", Some(&outsider)).await.status,
            StatusCode::FORBIDDEN
        );

        // Roaming partners pull locations, sessions and CDRs over OCPI 2.2.1.
        let partner = app
            .call(
                Method::POST,
                "/api/v1/charging/ocpi/partners",
                Some(&alpha),
                Some(&json!({"name": "eMSP", "country_code": "CN", "party_id": "EMS"})),
            )
            .await;
        assert_eq!(partner.status, StatusCode::CREATED, "{}", partner.text);
        let secret = partner.body["token"].as_str().unwrap().to_string();
        let bad = app
            .call(
                Method::POST,
                "/api/v1/charging/ocpi/partners",
                Some(&alpha),
                Some(&json!({"name": "x", "country_code": "China", "party_id": "EMS"})),
            )
            .await;
        assert_eq!(bad.error_paths(), ["country_code"]);
        let beta_partner = app
            .call(
                Method::POST,
                "/api/v1/charging/ocpi/partners",
                Some(&beta),
                Some(&json!({"name": "other", "country_code": "CN", "party_id": "OTH"})),
            )
            .await;
        let beta_secret = beta_partner.body["token"].as_str().unwrap().to_string();
        let ocpi = |path: String, token: Option<String>| {
            let mut request = app.client.get(app.url(&path));
            if let Some(token) = token {
                request = request.header("authorization", format!("Token {token}"));
            }
            async move { TestApp::reply(request.send().await.unwrap()).await }
        };
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&secret);
        let versions = ocpi("/ocpi/alpha/versions".into(), Some(encoded.clone())).await;
        assert_eq!(versions.status, StatusCode::OK, "{}", versions.text);
        assert_eq!(versions.body["status_code"], 1000);
        assert_eq!(versions.body["data"][0]["version"], "2.2.1");
        assert_eq!(
            ocpi("/ocpi/alpha/versions".into(), None).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ocpi("/ocpi/alpha/versions".into(), Some(beta_secret.clone()))
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "a partner of beta reads nothing of alpha"
        );
        let details = ocpi("/ocpi/alpha/2.2.1".into(), Some(encoded.clone())).await;
        assert_eq!(details.body["data"]["endpoints"].as_array().unwrap().len(), 4);
        let locations = ocpi("/ocpi/alpha/2.2.1/locations".into(), Some(encoded.clone())).await;
        let location = &locations.body["data"][0];
        assert_eq!(
            (location["id"].as_str(), location["country"].as_str()),
            (Some("A-1"), Some("CHN")),
            "{}",
            locations.text
        );
        assert_eq!(location["evses"][0]["connectors"][0]["standard"], "GBT_DC");
        assert_eq!(locations.header("x-total-count"), Some("1"));
        let records = ocpi("/ocpi/alpha/2.2.1/cdrs?limit=1".into(), Some(secret.clone())).await;
        assert_eq!(
            records.body["data"][0]["total_cost"]["excl_vat"], 18.79,
            "{}",
            records.text
        );
        assert_eq!(records.body["data"][0]["total_energy"], 12.345);
        let sessions = ocpi("/ocpi/alpha/2.2.1/sessions".into(), Some(secret.clone())).await;
        assert_eq!(sessions.body["data"][0]["status"], "COMPLETED", "{}", sessions.text);
        assert_eq!(
            ocpi("/ocpi/alpha/2.2.1/cdrs?limit=500".into(), Some(secret.clone()))
                .await
                .status,
            StatusCode::BAD_REQUEST
        );
        assert!(
            ocpi("/ocpi/beta/2.2.1/cdrs".into(), Some(beta_secret)).await.body["data"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        // The finder sees the station and follows its status.
        let near = app
            .get(
                "/api/v1/charging/nearby?lon=121.47&lat=31.23&radius_km=2&min_kw=50",
                None,
            )
            .await;
        let found = near.body.as_array().unwrap();
        assert_eq!(found.len(), 1, "{}", near.text);
        assert_eq!(
            (found[0]["station_id"].as_str(), found[0]["connector_id"].as_u64()),
            (Some("A-1"), Some(1))
        );
        assert_eq!(
            app.get("/api/v1/charging/nearby?lon=200&lat=31", None)
                .await
                .error_paths(),
            ["lon"]
        );
        assert_eq!(
            app.get("/api/v1/charging/nearby?lon=121&lat=31&connector=Schuko", None)
                .await
                .error_paths(),
            ["connector"]
        );
        let stats = app.get("/api/v1/charging/stats", None).await;
        assert_eq!(stats.body[0]["connectors"], 2, "{}", stats.text);
        assert_eq!(stats.body[0]["energy_wh"], 12_345);
        let per_day = stats.body[0]["sessions_per_day"].as_f64().unwrap();
        assert!((per_day - 1.0 / 7.0).abs() < 1e-9, "{per_day}");
        // Two hours of one session over 2 connectors × 7 days.
        let utilisation = stats.body[0]["utilisation"].as_f64().unwrap();
        assert!(
            (utilisation - 7_200.0 / (2.0 * 7.0 * 86_400.0)).abs() < 1e-6,
            "{utilisation}"
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn demo_loads_once_and_pages_render() {
    for backend in backends() {
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(ChargingModule::new())];
        let app = TestApp::start(backend, modules).await;
        let module = ChargingModule::new();
        module.demo(&app.ctx).await.unwrap();
        let connectors = app.count("ch_connectors").await;
        module.demo(&app.ctx).await.unwrap();
        assert_eq!(app.count("ch_connectors").await, connectors);
        assert!(connectors > 1_900, "{connectors}");
        let near = app
            .get(
                "/api/v1/charging/nearby?lon=120.15&lat=30.28&radius_km=20&available=true",
                None,
            )
            .await;
        let found = near.body.as_array().unwrap();
        assert!(
            !found.is_empty() && found.iter().all(|c| c["status"] == "Available"),
            "{}",
            near.text
        );
        let distances: Vec<f64> = found.iter().map(|c| c["distance_km"].as_f64().unwrap()).collect();
        assert!(distances.windows(2).all(|w| w[0] <= w[1]), "nearest first");
        for (path, lang, text) in [
            ("/charging", "zh", "找桩"),
            ("/charging?city=330100&available=on", "en", "Stations in the city"),
        ] {
            let page = app
                .client
                .get(app.url(path))
                .header("cookie", format!("yrd_lang={lang}"))
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), StatusCode::OK);
            assert!(page.text().await.unwrap().contains(text));
        }
        app.finish().await;
    }
}
