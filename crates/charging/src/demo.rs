//! Demonstration data: three operators with tariffs and cards, twelve stations of four
//! connectors in each of the 41 cities (about 2,000 connectors), with statuses; and
//! `CS-DEMO-1`, a station a simulator or the Python `ocpp` client can connect as
//! (key `demo-station-key-0001`); a swap operator with a stocked swap station in each
//! city and `SW-DEMO-1` (key `demo-swap-key-000001`) for an OCPP 2.1 client.
//! Deterministic; idempotent.

use crate::pricing::Tariff;
use crate::store::{self, ConnectorSpec, StationInput};
use crate::swap::{self, Battery, PackInput, SwapEvent, SwapSpec};
use sqlx::Row;
use yrd_db::Db;
use yrd_kernel::{JurisdictionCode, JurisdictionLevel, jurisdictions};

pub const DEMO_STATION: &str = "CS-DEMO-1";
pub const DEMO_STATION_KEY: &str = "demo-station-key-0001";
pub const DEMO_OPERATOR_LOGIN: &str = "demo.operator";
pub const DEMO_CARD: &str = "DEMO-CARD-1";
pub const DEMO_SWAP_STATION: &str = "SW-DEMO-1";
pub const DEMO_SWAP_STATION_KEY: &str = "demo-swap-key-000001";
const SWAP_OPERATOR: &str = "op-swap";

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
            swap_fen: 2500,
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
            swap_fen: 0,
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
            swap_fen: 0,
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
            swap: None,
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
    let cities: Vec<(JurisdictionCode, f64, f64, String)> = jurisdictions()
        .all()
        .filter(|j| j.level == JurisdictionLevel::City)
        .filter_map(|j| Some((j.code, j.lon?, j.lat?, j.name_zh.to_string())))
        .collect();
    for (code, lon, lat, name_zh) in &cities {
        let (code, lon, lat) = (*code, *lon, *lat);
        for n in 0..12 {
            let (operator, _, _) = OPERATORS[n % 3];
            let id = format!("CS-{}-{:02}", code, n + 1);
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
                name: format!("{}第{}充电站（示例）", name_zh.trim_end_matches('市'), n + 1),
                jurisdiction: code,
                lon: lon + (next() - 0.5) * 0.16,
                lat: lat + (next() - 0.5) * 0.12,
                address: format!("{name_zh}（示例地址）"),
                public: n != 11,
                key: format!("demo-key-{id}-0000"),
                connectors,
                swap: None,
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
    load_swap_stations(db, &cities).await
}

/// A swap operator with a station in each city (the three NIO generations' 5, 13 and 21
/// slots in turn), stocked with packs and two swaps done at each; and `SW-DEMO-1` of the
/// demo operator, which the Python `ocpp` client can connect to as an OCPP 2.1 station.
async fn load_swap_stations(db: &Db, cities: &[(JurisdictionCode, f64, f64, String)]) -> Result<(), String> {
    let fail = |e: store::ServiceError| e.to_string();
    store::save_operator(db, "demo", SWAP_OPERATOR, "蔚蓝换电（示例）")
        .await
        .map_err(fail)?;
    let tariff = Tariff {
        energy_fen_per_kwh: 80,
        service_fen_per_kwh: 0,
        swap_fen: 3000,
        ..Tariff::default()
    };
    store::save_tariff(db, "demo", SWAP_OPERATOR, &tariff)
        .await
        .map_err(fail)?;
    store::save_token(db, "demo", SWAP_OPERATOR, DEMO_CARD, "Accepted")
        .await
        .map_err(fail)?;
    let models = vec!["NIO ES6".to_string(), "NIO ET5".to_string(), "NIO ET7".to_string()];
    let shanghai = cities
        .iter()
        .find(|c| c.0.to_string() == "310100")
        .ok_or("no Shanghai in the jurisdictions")?;
    let mut stations = vec![(
        DEMO_SWAP_STATION.to_string(),
        "op-grid",
        shanghai.clone(),
        13,
        DEMO_SWAP_STATION_KEY.to_string(),
    )];
    for (i, city) in cities.iter().enumerate() {
        let id = format!("SW-{}-01", city.0);
        stations.push((
            id.clone(),
            SWAP_OPERATOR,
            city.clone(),
            [5, 13, 21][i % 3],
            format!("demo-key-{id}-0000"),
        ));
    }
    for (n, (id, operator, (code, lon, lat, name), slots, key)) in stations.iter().enumerate() {
        let input = StationInput {
            name: format!("{}换电站（示例）", name.trim_end_matches('市')),
            jurisdiction: *code,
            lon: lon + 0.011 * (n % 5) as f64,
            lat: lat - 0.009 * (n % 4) as f64,
            address: format!("{name}（示例地址）"),
            public: true,
            key: key.clone(),
            connectors: Vec::new(),
            swap: Some(SwapSpec {
                slots: *slots,
                vehicle_models: models.clone(),
            }),
        };
        store::save_station(db, "demo", operator, id, &input)
            .await
            .map_err(fail)?;
        // Every slot but the last holds a pack, some still charging.
        for slot in 1..*slots {
            let pack = PackInput {
                slot,
                soc: [100.0, 96.0, 92.0, 71.0, 45.0][(slot as usize + n) % 5],
                soh: 88.0 + ((slot as usize * 7 + n) % 12) as f64,
                cycles: ((slot as i64) * 37 + n as i64 * 11) % 600,
            };
            swap::save_pack(db, "demo", operator, id, &format!("PK-{id}-{slot:02}"), &pack)
                .await
                .map_err(fail)?;
        }
        if *operator != SWAP_OPERATOR {
            continue;
        }
        // Two swaps: a low pack into the free slot, a full one out to the vehicle.
        for (request, (slot_in, slot_out)) in [(*slots, 1), (1, 2)].into_iter().enumerate() {
            let incoming = Battery {
                slot: slot_in,
                serial: format!("PK-{id}-V{request}"),
                soc: 18.0 + request as f64 * 9.0,
                soh: 93.0,
            };
            swap::record_event(db, id, request as i64 + 1, DEMO_CARD, SwapEvent::BatteryIn, &[incoming])
                .await
                .map_err(|e| format!("{e:?}"))?;
            let outgoing = Battery {
                slot: slot_out,
                serial: if request == 0 {
                    format!("PK-{id}-01")
                } else {
                    format!("PK-{id}-02")
                },
                soc: 96.0,
                soh: 95.0,
            };
            swap::record_event(
                db,
                id,
                request as i64 + 1,
                DEMO_CARD,
                SwapEvent::BatteryOut,
                &[outgoing],
            )
            .await
            .map_err(|e| format!("{e:?}"))?;
        }
    }
    Ok(())
}
