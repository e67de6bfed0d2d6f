//! Demonstration data: three operators with tariffs and cards, twelve stations of four
//! connectors in each of the 41 cities (about 2,000 connectors), with statuses; and
//! `CS-DEMO-1`, a station a simulator or the Python `ocpp` client can connect as
//! (key `demo-station-key-0001`). Deterministic; idempotent.

use crate::pricing::Tariff;
use crate::store::{self, ConnectorSpec, StationInput};
use sqlx::Row;
use yrd_db::Db;
use yrd_kernel::{JurisdictionCode, JurisdictionLevel, jurisdictions};

pub const DEMO_STATION: &str = "CS-DEMO-1";
pub const DEMO_STATION_KEY: &str = "demo-station-key-0001";
pub const DEMO_OPERATOR_LOGIN: &str = "demo.operator";
pub const DEMO_CARD: &str = "DEMO-CARD-1";

const OPERATORS: [(&str, &str, Tariff); 3] = [
    (
        "op-grid",
        "电网充电（示例）",
        Tariff {
            bands: Vec::new(),
            energy_fen_per_kwh: 75,
            service_fen_per_kwh: 60,
            idle_fen_per_minute: 50,
            idle_grace_minutes: 15,
        },
    ),
    (
        "op-city",
        "城市快充（示例）",
        Tariff {
            bands: Vec::new(),
            energy_fen_per_kwh: 80,
            service_fen_per_kwh: 70,
            idle_fen_per_minute: 100,
            idle_grace_minutes: 10,
        },
    ),
    (
        "op-star",
        "星充网络（示例）",
        Tariff {
            bands: Vec::new(),
            energy_fen_per_kwh: 72,
            service_fen_per_kwh: 55,
            idle_fen_per_minute: 30,
            idle_grace_minutes: 20,
        },
    ),
];

pub async fn load(db: &Db) -> Result<(), String> {
    let done = sqlx::query("SELECT COUNT(*) FROM ch_operators")
        .fetch_one(db.pool())
        .await
        .map_err(|e| e.to_string())?;
    if done.get::<i64, _>(0) > 0 {
        return Ok(());
    }
    let fail = |e: store::ServiceError| e.to_string();
    for (id, name, tariff) in &OPERATORS {
        store::save_operator(db, "demo", id, name).await.map_err(fail)?;
        let mut tariff = tariff.clone();
        if *id == "op-star" {
            // 峰谷电价: valley 23:00–07:00, flat, peak 10:00–15:00 and 18:00–21:00 (illustrative).
            tariff.bands = [
                (0, 35),
                (7 * 60, 75),
                (10 * 60, 110),
                (15 * 60, 75),
                (18 * 60, 110),
                (21 * 60, 75),
                (23 * 60, 35),
            ]
            .iter()
            .map(|&(start_minute, energy_fen_per_kwh)| crate::pricing::Band {
                start_minute,
                energy_fen_per_kwh,
            })
            .collect();
        }
        store::save_tariff(db, "demo", id, &tariff).await.map_err(fail)?;
        store::save_token(db, "demo", id, DEMO_CARD, "Accepted")
            .await
            .map_err(fail)?;
        store::save_token(db, "demo", id, "DEMO-CARD-BLOCKED", "Blocked")
            .await
            .map_err(fail)?;
    }
    if yrd_auth::find_user(db, DEMO_OPERATOR_LOGIN)
        .await
        .ok()
        .flatten()
        .is_some()
    {
        store::save_staff(db, "demo", DEMO_OPERATOR_LOGIN, "op-grid")
            .await
            .map_err(fail)?;
    }
    let shanghai = JurisdictionCode::parse("310100").map_err(|e| e.to_string())?;
    let spec = |n: u32, standard: &str, kw: f64| ConnectorSpec {
        connector_id: n,
        standard: standard.into(),
        max_kw: kw,
    };
    store::save_station(
        db,
        "demo",
        "op-grid",
        DEMO_STATION,
        &StationInput {
            name: "人民广场示范站（示例）".into(),
            jurisdiction: shanghai,
            lon: 121.4737,
            lat: 31.2304,
            address: "上海市黄浦区（示例）".into(),
            public: true,
            key: DEMO_STATION_KEY.into(),
            connectors: vec![spec(1, "GB/T DC", 120.0), spec(2, "GB/T AC", 7.0)],
        },
    )
    .await
    .map_err(fail)?;
    let mut seed: u64 = 0x2545f4914f6cdd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 10_000) as f64 / 10_000.0
    };
    let cities = jurisdictions()
        .all()
        .filter(|j| j.level == JurisdictionLevel::City && j.lon.is_some());
    for city in cities {
        let (Some(lon), Some(lat)) = (city.lon, city.lat) else {
            continue;
        };
        for n in 0..12 {
            let (operator, _, _) = OPERATORS[n % 3];
            let id = format!("CS-{}-{:02}", city.code, n + 1);
            let connectors = vec![
                spec(1, "GB/T DC", [60.0, 120.0, 160.0, 240.0][n % 4]),
                spec(2, "GB/T DC", [60.0, 120.0, 160.0, 240.0][n % 4]),
                spec(3, "GB/T AC", 7.0),
                spec(
                    4,
                    if n % 5 == 0 { "CCS2" } else { "GB/T AC" },
                    if n % 5 == 0 { 150.0 } else { 11.0 },
                ),
            ];
            let input = StationInput {
                name: format!("{}第{}充电站（示例）", city.name_zh.trim_end_matches('市'), n + 1),
                jurisdiction: city.code,
                lon: lon + (next() - 0.5) * 0.16,
                lat: lat + (next() - 0.5) * 0.12,
                address: format!("{}（示例地址）", city.name_zh),
                public: n != 11,
                key: format!("demo-key-{id}-0000"),
                connectors,
            };
            store::save_station(db, "demo", operator, &id, &input)
                .await
                .map_err(fail)?;
        }
    }
    // A plausible mix of statuses: most free, some charging, a few out of order.
    sqlx::query(
        "UPDATE ch_connectors SET status = CASE WHEN (connector_id * 7 + LENGTH(station_id) * 3 + CAST(SUBSTR(station_id, LENGTH(station_id) - 1) AS INTEGER)) % 10 < 6 THEN 'Available' \
         WHEN (connector_id * 7 + LENGTH(station_id) * 3 + CAST(SUBSTR(station_id, LENGTH(station_id) - 1) AS INTEGER)) % 10 < 9 THEN 'Charging' ELSE 'Faulted' END \
         WHERE station_id <> $1",
    )
    .bind(DEMO_STATION)
    .execute(db.pool())
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}
