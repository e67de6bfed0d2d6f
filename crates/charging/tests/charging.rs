//! The charging network over HTTP and its storage, on SQLite and (with
//! `YRD_TEST_POSTGRES_URL`) PostgreSQL; stations over real WebSockets for the schema
//! checks and OCPP 2.1 battery swaps. The Python `ocpp` package drives 1.6, 2.0.1 and
//! 2.1 stations in `scripts/interop/ocpp*_walk.py` (CI).

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
        operator_with_staff(&app, &admin, "alpha", "alpha.ops").await;
        operator_with_staff(&app, &admin, "beta", "beta.ops").await;
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
        let kept: String = sqlx::query_scalar("SELECT readings FROM ch_sessions WHERE id = $1")
            .bind(session)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        assert!(
            kept.lines().count() == 1 && kept.ends_with(" 6000\n"),
            "the reading is kept for pricing: {kept:?}"
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

/// Registers an operator with one staff login (the admin's token does it).
async fn operator_with_staff(app: &TestApp, admin: &str, id: &str, login: &str) {
    let name = json!({"name": id});
    let saved = app
        .call(
            Method::PUT,
            &format!("/api/v1/charging/operators/{id}"),
            Some(admin),
            Some(&name),
        )
        .await;
    assert_eq!(saved.status, StatusCode::NO_CONTENT);
    let staff = app
        .call(
            Method::PUT,
            &format!("/api/v1/charging/operators/{id}/staff/{login}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(staff.status, StatusCode::NO_CONTENT);
}

/// A station speaking OCPP-J over a real WebSocket, one call at a time.
struct Station {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    next_id: u64,
}

impl Station {
    async fn connect(app: &TestApp, id: &str, key: &str, subprotocol: &str) -> (Station, String) {
        use base64::Engine;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("{}/ocpp/{id}", app.base.replacen("http", "ws", 1))
            .into_client_request()
            .unwrap();
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{key}"));
        request
            .headers_mut()
            .insert("authorization", format!("Basic {credentials}").parse().unwrap());
        request
            .headers_mut()
            .insert("sec-websocket-protocol", subprotocol.parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("handshake");
        let chosen = response.headers()["sec-websocket-protocol"]
            .to_str()
            .unwrap()
            .to_string();
        (Station { socket, next_id: 0 }, chosen)
    }

    async fn send(&mut self, text: String) -> serde_json::Value {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        self.socket.send(Message::Text(text.into())).await.unwrap();
        loop {
            match self.socket.next().await.expect("an answer").unwrap() {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                _ => continue,
            }
        }
    }

    async fn call(&mut self, action: &str, payload: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        self.send(json!([2, self.next_id.to_string(), action, payload]).to_string())
            .await
    }
}

fn battery_swap(event: &str, request: i64, slot: u32, serial: &str, soc: f64) -> serde_json::Value {
    json!({"eventType": event, "requestId": request, "idToken": {"idToken": "CARD-1", "type": "ISO14443"},
           "batteryData": [{"evseId": slot, "serialNumber": serial, "soC": soc, "soH": 95.0}]})
}

#[tokio::test]
async fn swap_stations_move_packs_over_ocpp_21_and_price_swaps() {
    for backend in backends() {
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(ChargingModule::new())];
        let app = TestApp::start(backend, modules).await;
        let admin = app
            .user_with_token("charging.admin", false, &[("charging", Admin, "")])
            .await;
        let alpha = app.user_with_token("alpha.ops", false, &[]).await;
        let beta = app.user_with_token("beta.ops", false, &[]).await;
        operator_with_staff(&app, &admin, "alpha", "alpha.ops").await;
        operator_with_staff(&app, &admin, "beta", "beta.ops").await;
        let tariff = json!({"energy_fen_per_kwh": 80, "service_fen_per_kwh": 0, "idle_fen_per_minute": 0, "idle_grace_minutes": 0, "swap_fen": 3000});
        assert_eq!(
            app.call(Method::PUT, "/api/v1/charging/tariff", Some(&alpha), Some(&tariff))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        let mut swap_station = station("swap-station-key-0001", 121.47);
        swap_station["connectors"] = json!([]);
        // Bad swap details name the field and write nothing.
        for (swap, path) in [
            (json!({"slots": 0, "vehicle_models": ["NIO ET5"]}), "swap.slots"),
            (json!({"slots": 13, "vehicle_models": []}), "swap.vehicle_models"),
            (serde_json::Value::Null, "connectors"),
        ] {
            swap_station["swap"] = swap;
            let refused = app
                .call(
                    Method::PUT,
                    "/api/v1/charging/stations/SW-1",
                    Some(&alpha),
                    Some(&swap_station),
                )
                .await;
            assert_eq!(
                (refused.status, refused.error_paths()),
                (StatusCode::UNPROCESSABLE_ENTITY, vec![path.to_string()])
            );
        }
        assert_eq!(app.count("ch_swap_stations").await, 0);
        swap_station["swap"] = json!({"slots": 3, "vehicle_models": ["NIO ET5", "NIO ES6"]});
        assert_eq!(
            app.call(
                Method::PUT,
                "/api/v1/charging/stations/SW-1",
                Some(&alpha),
                Some(&swap_station)
            )
            .await
            .status,
            StatusCode::NO_CONTENT
        );
        // Stocking: slots within the station, one pack a slot, only the operator's own.
        let stock = |slot: u32, soc: f64| json!({"slot": slot, "soc": soc, "soh": 97.0, "cycles": 12});
        for (serial, body, token, status) in [
            ("PK-1", stock(1, 100.0), &alpha, StatusCode::NO_CONTENT),
            ("PK-2", stock(2, 60.0), &alpha, StatusCode::NO_CONTENT),
            ("PK-3", stock(4, 90.0), &alpha, StatusCode::UNPROCESSABLE_ENTITY),
            ("PK-3", stock(1, 90.0), &alpha, StatusCode::CONFLICT),
            ("PK-3", stock(3, 101.0), &alpha, StatusCode::UNPROCESSABLE_ENTITY),
            ("PK-3", stock(3, 90.0), &beta, StatusCode::NOT_FOUND),
        ] {
            let reply = app
                .call(
                    Method::PUT,
                    &format!("/api/v1/charging/stations/SW-1/packs/{serial}"),
                    Some(token),
                    Some(&body),
                )
                .await;
            assert_eq!(reply.status, status, "{serial} {body}: {}", reply.text);
        }
        assert_eq!(
            app.get("/api/v1/charging/stations/SW-1/packs", Some(&beta))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let nearby = "/api/v1/charging/swap-stations/nearby?lon=121.47&lat=31.23&vehicle_model=nio%20et5&ready=true";
        let found = app.get(nearby, None).await;
        assert_eq!(found.body[0]["packs_ready"], 1, "{}", found.text);
        assert!(
            app.get(&nearby.replace("et5", "ec7"), None)
                .await
                .body
                .as_array()
                .unwrap()
                .is_empty()
        );

        // The station speaks OCPP 2.1, the newest it offers.
        let (mut ws, chosen) = Station::connect(&app, "SW-1", "swap-station-key-0001", "ocpp2.0.1, ocpp2.1").await;
        assert_eq!(chosen, "ocpp2.1");
        let boot = ws
            .call(
                "BootNotification",
                json!({"chargingStation": {"model": "PSS", "vendorName": "Test"}, "reason": "PowerUp"}),
            )
            .await;
        assert_eq!(boot[2]["status"], "Accepted");
        let status =
            json!({"timestamp": "2026-12-02T09:00:00Z", "connectorStatus": "Available", "evseId": 3, "connectorId": 1});
        assert_eq!(ws.call("StatusNotification", status).await[0], 3);
        // The vehicle's pack goes into the free slot 3, the full PK-1 comes out.
        assert_eq!(
            ws.call("BatterySwap", battery_swap("BatteryIn", 7, 3, "VEH-1", 22.0))
                .await[0],
            3
        );
        assert_eq!(
            ws.call("BatterySwap", battery_swap("BatteryIn", 7, 3, "VEH-1", 22.0))
                .await[0],
            3,
            "repeated"
        );
        assert_eq!(
            ws.call("BatterySwap", battery_swap("BatteryOut", 7, 1, "PK-1", 100.0))
                .await[0],
            3
        );
        let swaps = app.get("/api/v1/charging/swaps", Some(&alpha)).await;
        assert_eq!(swaps.body.as_array().unwrap().len(), 1, "{}", swaps.text);
        let swap = &swaps.body[0];
        assert_eq!(
            (&swap["status"], &swap["pack_in"], &swap["pack_out"], &swap["fee_fen"]),
            (&json!("completed"), &json!("VEH-1"), &json!("PK-1"), &json!(3000))
        );
        assert!(
            app.get("/api/v1/charging/swaps", Some(&beta))
                .await
                .body
                .as_array()
                .unwrap()
                .is_empty()
        );
        let csv = app.get("/api/v1/charging/swaps?format=csv", Some(&alpha)).await;
        assert!(
            csv.text
                .lines()
                .nth(1)
                .is_some_and(|l| l.contains("VEH-1,22,PK-1,100,completed,3000")),
            "{}",
            csv.text
        );
        // Nothing was ready after PK-1 left; the new pack charges in slot 3 and is.
        assert!(app.get(nearby, None).await.body.as_array().unwrap().is_empty());
        let soc = json!({"evseId": 3, "meterValue": [{"timestamp": "2026-12-02T09:40:00Z", "sampledValue": [{"value": 95.5, "measurand": "SoC"}]}]});
        assert_eq!(ws.call("MeterValues", soc).await[0], 3);
        assert_eq!(app.get(nearby, None).await.body[0]["packs_ready"], 1);
        let packs = app.get("/api/v1/charging/stations/SW-1/packs", Some(&alpha)).await;
        let slots: Vec<(serde_json::Value, serde_json::Value)> = packs
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["slot"].clone(), p["serial"].clone()))
            .collect();
        assert_eq!(slots, [(json!(2), json!("PK-2")), (json!(3), json!("VEH-1"))]);
        // A timed-out swap costs nothing and moves no pack out.
        assert_eq!(
            ws.call("BatterySwap", battery_swap("BatteryIn", 8, 1, "VEH-2", 30.0))
                .await[0],
            3
        );
        assert_eq!(
            ws.call("BatterySwap", battery_swap("BatteryOutTimeout", 8, 2, "PK-2", 60.0))
                .await[0],
            3
        );
        let swaps = app.get("/api/v1/charging/swaps", Some(&alpha)).await;
        assert_eq!(
            (&swaps.body[0]["status"], &swaps.body[0]["fee_fen"]),
            (&json!("timed_out"), &json!(0))
        );
        // What breaks the schema or names what the station does not have is refused,
        // with 2.x's codes, and the connection stays.
        for (payload, code) in [
            (
                battery_swap("BatteryIn", 9, 1, "X", 101.0),
                "PropertyConstraintViolation",
            ),
            (
                battery_swap("BatteryIn", 9, 4, "X", 50.0),
                "PropertyConstraintViolation",
            ),
            (
                battery_swap("BatteryOut", 99, 1, "X", 50.0),
                "PropertyConstraintViolation",
            ),
            (
                json!({"eventType": "BatteryIn", "requestId": 9}),
                "OccurrenceConstraintViolation",
            ),
            (
                json!({"eventType": "BatteryIn", "requestId": "9", "idToken": {"idToken": "C", "type": "ISO14443"}, "batteryData": [{"evseId": 1, "serialNumber": "X", "soC": 1, "soH": 1}]}),
                "TypeConstraintViolation",
            ),
        ] {
            let refused = ws.call("BatterySwap", payload.clone()).await;
            assert_eq!(
                (refused[0].clone(), refused[2].clone()),
                (json!(4), json!(code)),
                "{payload}"
            );
        }
        assert_eq!(ws.call("Heartbeat", json!({})).await[0], 3);
        // A command payload outside the 2.1 schema is refused before it is sent.
        let bad = app
            .call(
                Method::POST,
                "/api/v1/charging/stations/SW-1/commands",
                Some(&alpha),
                Some(
                    &json!({"action": "RequestBatterySwap", "payload": {"requestId": 1, "idToken": {"idToken": "C"}}}),
                ),
            )
            .await;
        assert_eq!(
            (bad.status, bad.error_paths()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["payload.idToken.type".to_string()]
            )
        );
        let stats = app.get("/api/v1/charging/stats", None).await;
        let shanghai = stats
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["jurisdiction"] == "310100")
            .unwrap()
            .clone();
        assert_eq!(
            (&shanghai["swap_stations"], &shanghai["packs"]),
            (&json!(1), &json!(3)),
            "{shanghai}"
        );
        assert!(shanghai["swaps_per_day"].as_f64().unwrap() > 0.0);
        let provinces = app.get("/api/v1/charging/stats?by=province", None).await;
        assert_eq!(provinces.body[0]["jurisdiction"], "310000", "{}", provinces.text);
        assert_eq!(
            (&provinces.body[0]["swap_stations"], &provinces.body[0]["connectors"]),
            (&json!(1), &shanghai["connectors"])
        );
        let refused = app.get("/api/v1/charging/stats?by=county", None).await;
        assert_eq!(
            (refused.status, refused.error_paths()),
            (StatusCode::UNPROCESSABLE_ENTITY, vec!["by".to_string()])
        );
        assert_eq!(app.audit_entries("swap.event").await.len(), 5);
        app.finish().await;
    }
}

#[tokio::test]
async fn ocpp_16_payloads_are_checked_against_the_official_schema() {
    for backend in backends() {
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(ChargingModule::new())];
        let app = TestApp::start(backend, modules).await;
        let admin = app
            .user_with_token("charging.admin", false, &[("charging", Admin, "")])
            .await;
        let alpha = app.user_with_token("alpha.ops", false, &[]).await;
        operator_with_staff(&app, &admin, "alpha", "alpha.ops").await;
        app.call(
            Method::PUT,
            "/api/v1/charging/stations/CS-1",
            Some(&alpha),
            Some(&station("station-key-00000001", 121.4)),
        )
        .await;
        let (mut ws, chosen) = Station::connect(&app, "CS-1", "station-key-00000001", "ocpp1.6").await;
        assert_eq!(chosen, "ocpp1.6");
        let boot = json!({"chargePointVendor": "V", "chargePointModel": "M"});
        assert_eq!(ws.call("BootNotification", boot).await[2]["status"], "Accepted");
        for (action, payload, code, description) in [
            (
                "Authorize",
                json!({"idTag": "x".repeat(21)}),
                "TypeConstraintViolation",
                "idTag: at most 20 characters",
            ),
            (
                "Heartbeat",
                json!({"x": 1}),
                "FormationViolation",
                "x: is not a field of this message",
            ),
            (
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "soon"}),
                "TypeConstraintViolation",
                "timestamp: must be a date and time (RFC 3339, e.g. 2026-11-28T10:00:00Z)",
            ),
            (
                "MeterValues",
                json!({"connectorId": 1, "meterValue": []}),
                "OccurenceConstraintViolation",
                "meterValue: needs at least 1 item(s)",
            ),
            (
                "BatterySwap",
                json!({}),
                "NotImplemented",
                "action 'BatterySwap' is not implemented",
            ),
        ] {
            let refused = ws.call(action, payload).await;
            assert_eq!(refused[0], 4);
            assert_eq!(
                (refused[2].as_str().unwrap(), refused[3].as_str().unwrap()),
                (code, description)
            );
        }
        assert_eq!(app.count("ch_sessions").await, 0);
        app.finish().await;
    }
}

/// The broker the two-node test uses: `YRD_TEST_NATS_URL`, or a NATS server on this
/// machine's default port (CI runs one). Without either the test says so and passes.
async fn test_broker() -> Option<String> {
    let explicit = std::env::var("YRD_TEST_NATS_URL").ok();
    let url = explicit.clone().unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let reachable = tokio::net::TcpStream::connect(url.trim_start_matches("nats://"))
        .await
        .is_ok();
    match (reachable, explicit) {
        (true, _) => Some(url),
        (false, Some(url)) => panic!("YRD_TEST_NATS_URL={url} is not reachable"),
        (false, None) => {
            eprintln!("no NATS server on 127.0.0.1:4222: the two-node command test is skipped");
            None
        }
    }
}

#[tokio::test]
async fn a_command_reaches_a_station_connected_to_another_node_through_nats() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use yrd_charging::central::{Central, CommandError, CommandRoute};
    let Some(url) = test_broker().await else { return };
    for backend in backends() {
        // Node A serves the API and holds the station's socket; node B shares the database.
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(ChargingModule::with_broker(url.clone()))];
        let app = TestApp::start(backend, modules).await;
        let admin = app
            .user_with_token("charging.admin", false, &[("charging", Admin, "")])
            .await;
        let alpha = app.user_with_token("alpha.ops", false, &[]).await;
        operator_with_staff(&app, &admin, "alpha", "alpha.ops").await;
        app.call(
            Method::PUT,
            "/api/v1/charging/stations/CS-N",
            Some(&alpha),
            Some(&station("station-key-00000002", 121.4)),
        )
        .await;
        let (mut ws, _) = Station::connect(&app, "CS-N", "station-key-00000002", "ocpp1.6").await;
        let boot = ws
            .call(
                "BootNotification",
                json!({"chargePointVendor": "V", "chargePointModel": "M"}),
            )
            .await;
        assert_eq!(boot[2]["status"], "Accepted");
        // The station answers whatever the central system asks, naming the action back.
        let mut socket = ws.socket;
        let answering = tokio::spawn(async move {
            while let Some(Ok(Message::Text(text))) = socket.next().await {
                let call: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                if call[0] == 2 {
                    let reply = json!([3, call[1], {"status": "Accepted"}]).to_string();
                    socket.send(Message::Text(reply.into())).await.unwrap();
                }
            }
        });
        let node_b = yrd_charging::broker::BrokerRoute::start(Central::new(app.db.clone()), &url);
        let mut answer = Err(CommandError::NotConnected("CS-N".into()));
        for _ in 0..50 {
            answer = node_b.deliver("CS-N", "Reset", json!({"type": "Soft"})).await;
            if answer.is_ok() {
                break;
            }
            // Until both nodes have their broker connections up.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(answer, Ok(json!({"status": "Accepted"})));
        assert_eq!(
            node_b.version_of("CS-N").await.map(|v| v.subprotocol()),
            Some("ocpp1.6")
        );
        assert_eq!(
            node_b.deliver("CS-NOWHERE", "Reset", json!({"type": "Soft"})).await,
            Err(CommandError::NotConnected("CS-NOWHERE".into()))
        );
        // Once the station hangs up, node A forgets it and B hears "not connected".
        answering.abort();
        let _ = answering.await;
        let mut gone = false;
        for _ in 0..50 {
            if store::location(&app.db, "CS-N").await.unwrap().is_none() {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(gone, "the station's node is cleared when it disconnects");
        assert_eq!(
            node_b.deliver("CS-N", "Reset", json!({"type": "Soft"})).await,
            Err(CommandError::NotConnected("CS-N".into()))
        );
        app.finish().await;
    }
}
