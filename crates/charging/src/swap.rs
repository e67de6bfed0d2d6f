//! Battery-swap stations (换电站): their slots (OCPP 2.1 EVSEs) and the vehicle models
//! they serve, the pack inventory (which pack is in which slot, its state of charge and
//! health, its cycles), and the swaps that OCPP 2.1 `BatterySwap` events record, each
//! priced at the operator's swap fee.

use crate::finder::SwapPoint;
use crate::store::{ServiceError, audit, invalid};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use yrd_db::{Db, Tx};
use yrd_kernel::JurisdictionCode;
use yrd_kernel::time::now_db;

/// What makes a station a swap station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwapSpec {
    /// Pack slots, numbered 1…n as the station's EVSEs (NIO's generations hold 5, 13, 21).
    pub slots: u32,
    /// The vehicle models whose packs it swaps, e.g. `NIO ET5`.
    pub vehicle_models: Vec<String>,
}

pub const MAX_SLOTS: u32 = 64;

impl SwapSpec {
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if !(1..=MAX_SLOTS).contains(&self.slots) {
            return Some(("swap.slots", "1–64 slots"));
        }
        if self.vehicle_models.is_empty() || self.vehicle_models.len() > 50 {
            return Some(("swap.vehicle_models", "1–50 vehicle models"));
        }
        if self
            .vehicle_models
            .iter()
            .any(|m| m.trim().is_empty() || m.chars().count() > 50)
        {
            return Some(("swap.vehicle_models", "each 1–50 characters"));
        }
        None
    }
}

/// Writes (or removes) a station's swap details inside the station's own transaction.
pub(crate) async fn save_spec(tx: &mut Tx, station_id: &str, spec: Option<&SwapSpec>) -> Result<(), ServiceError> {
    sqlx::query("DELETE FROM ch_swap_stations WHERE station_id = $1")
        .bind(station_id)
        .execute(tx.conn())
        .await?;
    if let Some(spec) = spec {
        let models: Vec<&str> = spec.vehicle_models.iter().map(|m| m.trim()).collect();
        sqlx::query("INSERT INTO ch_swap_stations (station_id, slots, vehicle_models) VALUES ($1, $2, $3)")
            .bind(station_id)
            .bind(i64::from(spec.slots))
            .bind(json!(models).to_string())
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

pub(crate) fn spec_from_columns(slots: Option<i64>, models: Option<String>) -> Option<SwapSpec> {
    Some(SwapSpec {
        slots: u32::try_from(slots?).ok()?,
        vehicle_models: serde_json::from_str(&models?).ok()?,
    })
}

/// A battery pack and where it is.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Pack {
    pub serial: String,
    /// The station holding it; none while it is in a vehicle.
    pub station_id: Option<String>,
    pub slot: Option<u32>,
    /// State of charge, %.
    pub soc: f64,
    /// State of health, %.
    pub soh: f64,
    /// Times it came back to a station to be charged.
    pub cycles: i64,
    pub updated_at: String,
}

/// A pack an operator puts into a slot of its station (stocking it).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackInput {
    pub slot: u32,
    pub soc: f64,
    pub soh: f64,
    #[serde(default)]
    pub cycles: i64,
}

fn valid_serial(serial: &str) -> bool {
    !serial.is_empty() && serial.chars().count() <= 50 && !serial.chars().any(char::is_control)
}

fn percent(value: f64) -> bool {
    (0.0..=100.0).contains(&value)
}

/// A station's operator, jurisdiction and swap details (none for a charging station).
async fn station_swap_details(
    tx: &mut Tx,
    station_id: &str,
) -> Result<Option<(String, String, Option<SwapSpec>)>, ServiceError> {
    let row = sqlx::query(
        "SELECT s.operator_id, s.jurisdiction, w.slots, w.vehicle_models FROM ch_stations s LEFT JOIN ch_swap_stations w ON w.station_id = s.id WHERE s.id = $1",
    )
    .bind(station_id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| (r.get(0), r.get(1), spec_from_columns(r.get(2), r.get(3)))))
}

/// The swap details of a station of the operator, or why it has none.
async fn own_swap_station(
    tx: &mut Tx,
    operator_id: &str,
    station_id: &str,
) -> Result<(SwapSpec, Option<JurisdictionCode>), ServiceError> {
    let Some((_, jurisdiction, spec)) = station_swap_details(tx, station_id)
        .await?
        .filter(|(operator, _, _)| operator == operator_id)
    else {
        return Err(ServiceError::NotFound(format!("station {station_id}")));
    };
    let spec =
        spec.ok_or_else(|| ServiceError::Conflict(format!("station {station_id} is not a battery-swap station")))?;
    Ok((spec, JurisdictionCode::parse(&jurisdiction).ok()))
}

pub async fn save_pack(
    db: &Db,
    actor: &str,
    operator_id: &str,
    station_id: &str,
    serial: &str,
    input: &PackInput,
) -> Result<(), ServiceError> {
    if !valid_serial(serial) {
        return Err(invalid("serial", "1–50 characters"));
    }
    if !percent(input.soc) {
        return Err(invalid("soc", "0–100 %"));
    }
    if !percent(input.soh) {
        return Err(invalid("soh", "0–100 %"));
    }
    if !(0..=100_000).contains(&input.cycles) {
        return Err(invalid("cycles", "0–100,000"));
    }
    let mut tx = db.begin().await?;
    let (spec, place) = own_swap_station(&mut tx, operator_id, station_id).await?;
    if !(1..=spec.slots).contains(&input.slot) {
        return Err(invalid("slot", format!("1–{} (the station's slots)", spec.slots)));
    }
    let owner = sqlx::query("SELECT operator_id FROM ch_packs WHERE serial = $1")
        .bind(serial)
        .fetch_optional(tx.conn())
        .await?;
    if owner.is_some_and(|r| r.get::<String, _>(0) != operator_id) {
        return Err(ServiceError::Conflict(format!(
            "pack {serial} belongs to another operator"
        )));
    }
    let occupant = sqlx::query("SELECT serial FROM ch_packs WHERE station_id = $1 AND slot = $2")
        .bind(station_id)
        .bind(i64::from(input.slot))
        .fetch_optional(tx.conn())
        .await?;
    if let Some(other) = occupant.map(|r| r.get::<String, _>(0)).filter(|s| s != serial) {
        return Err(ServiceError::Conflict(format!(
            "slot {} holds pack {other}",
            input.slot
        )));
    }
    put_pack(
        &mut tx,
        operator_id,
        station_id,
        serial,
        input.slot,
        input.soc,
        input.soh,
        Some(input.cycles),
    )
    .await?;
    audit(
        &mut tx,
        actor,
        "pack.save",
        serial.into(),
        place,
        json!({"station": station_id, "slot": input.slot, "soc": input.soc, "soh": input.soh}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Puts a pack into a slot; `cycles` replaces the count, `None` adds one (a pack back
/// from a vehicle to be charged).
#[allow(clippy::too_many_arguments)]
async fn put_pack(
    tx: &mut Tx,
    operator_id: &str,
    station_id: &str,
    serial: &str,
    slot: u32,
    soc: f64,
    soh: f64,
    cycles: Option<i64>,
) -> Result<(), ServiceError> {
    let now = now_db();
    // Whatever the slot held before is no longer there.
    sqlx::query("UPDATE ch_packs SET station_id = NULL, slot = NULL, updated_at = $4 WHERE station_id = $1 AND slot = $2 AND serial <> $3")
        .bind(station_id)
        .bind(i64::from(slot))
        .bind(serial)
        .bind(&now)
        .execute(tx.conn())
        .await?;
    let changed = sqlx::query(
        "UPDATE ch_packs SET station_id = $2, slot = $3, soc = $4, soh = $5, cycles = COALESCE($6, cycles + 1), updated_at = $7 WHERE serial = $1",
    )
    .bind(serial)
    .bind(station_id)
    .bind(i64::from(slot))
    .bind(soc)
    .bind(soh)
    .bind(cycles)
    .bind(&now)
    .execute(tx.conn())
    .await?;
    if changed.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO ch_packs (serial, operator_id, station_id, slot, soc, soh, cycles, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(serial)
        .bind(operator_id)
        .bind(station_id)
        .bind(i64::from(slot))
        .bind(soc)
        .bind(soh)
        .bind(cycles.unwrap_or(1))
        .bind(&now)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

fn pack_from_row(r: &AnyRow) -> Result<Pack, sqlx::Error> {
    Ok(Pack {
        serial: r.try_get(0)?,
        station_id: r.try_get(1)?,
        slot: r.try_get::<Option<i64>, _>(2)?.and_then(|s| u32::try_from(s).ok()),
        soc: r.try_get(3)?,
        soh: r.try_get(4)?,
        cycles: r.try_get(5)?,
        updated_at: r.try_get(6)?,
    })
}

/// The packs in a station's slots, by slot.
pub async fn packs(db: &Db, station_id: &str) -> Result<Vec<Pack>, ServiceError> {
    let rows = sqlx::query(
        "SELECT serial, station_id, slot, soc, soh, cycles, updated_at FROM ch_packs WHERE station_id = $1 ORDER BY slot",
    )
    .bind(station_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(pack_from_row).collect::<Result<_, _>>()?)
}

/// The packs in the slots of an operator's stations (every operator's for `None`).
pub async fn packs_in_stations(db: &Db, operator: Option<&str>) -> Result<Vec<Pack>, ServiceError> {
    let rows = sqlx::query(
        "SELECT p.serial, p.station_id, p.slot, p.soc, p.soh, p.cycles, p.updated_at FROM ch_packs p JOIN ch_stations s ON s.id = p.station_id \
         WHERE ($1 IS NULL OR s.operator_id = $1) ORDER BY p.station_id, p.slot",
    )
    .bind(operator)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(pack_from_row).collect::<Result<_, _>>()?)
}

/// One pack as a `BatterySwap` event reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Battery {
    pub slot: u32,
    pub serial: String,
    pub soc: f64,
    pub soh: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapEvent {
    /// The vehicle's pack went into a slot.
    BatteryIn,
    /// A charged pack came out of a slot into the vehicle: the swap is done.
    BatteryOut,
    /// No pack came out in time: the swap failed.
    BatteryOutTimeout,
}

impl SwapEvent {
    pub fn parse(name: &str) -> Option<SwapEvent> {
        Some(match name {
            "BatteryIn" => SwapEvent::BatteryIn,
            "BatteryOut" => SwapEvent::BatteryOut,
            "BatteryOutTimeout" => SwapEvent::BatteryOutTimeout,
            _ => return None,
        })
    }
}

/// A swap: the pack that came in, the one that went out, and its fee.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Swap {
    pub id: i64,
    pub station_id: String,
    pub operator_id: String,
    pub jurisdiction: String,
    /// The station's requestId that ties the events of one swap together.
    pub request_id: i64,
    pub id_token: String,
    pub pack_in: Option<String>,
    pub soc_in: Option<f64>,
    pub pack_out: Option<String>,
    pub soc_out: Option<f64>,
    pub fee_fen: i64,
    /// `in_progress`, `completed` or `timed_out`.
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

const SWAP_COLUMNS: &str = "id, station_id, operator_id, jurisdiction, request_id, id_token, pack_in, soc_in, pack_out, soc_out, fee_fen, status, started_at, finished_at";

fn swap_from_row(r: &AnyRow) -> Result<Swap, sqlx::Error> {
    Ok(Swap {
        id: r.try_get(0)?,
        station_id: r.try_get(1)?,
        operator_id: r.try_get(2)?,
        jurisdiction: r.try_get(3)?,
        request_id: r.try_get(4)?,
        id_token: r.try_get(5)?,
        pack_in: r.try_get(6)?,
        soc_in: r.try_get(7)?,
        pack_out: r.try_get(8)?,
        soc_out: r.try_get(9)?,
        fee_fen: r.try_get(10)?,
        status: r.try_get(11)?,
        started_at: r.try_get(12)?,
        finished_at: r.try_get(13)?,
    })
}

/// Why a station's swap event cannot be recorded (a CALLERROR for the station).
#[derive(Debug)]
pub enum SwapRefusal {
    NotASwapStation,
    NoSuchSlot(u32, u32),
    /// A BatteryOut or timeout for a swap whose BatteryIn never came.
    UnknownRequest(i64),
    Store(ServiceError),
}

impl From<ServiceError> for SwapRefusal {
    fn from(error: ServiceError) -> Self {
        SwapRefusal::Store(error)
    }
}

impl From<sqlx::Error> for SwapRefusal {
    fn from(error: sqlx::Error) -> Self {
        SwapRefusal::Store(error.into())
    }
}

impl From<yrd_db::DbError> for SwapRefusal {
    fn from(error: yrd_db::DbError) -> Self {
        SwapRefusal::Store(error.into())
    }
}

/// Records one `BatterySwap` event in one transaction with its audit entry: packs move
/// in or out of slots, and the swap opens, completes (priced) or times out. A repeated
/// event (same request and event) changes nothing more.
pub async fn record_event(
    db: &Db,
    station_id: &str,
    request_id: i64,
    id_token: &str,
    event: SwapEvent,
    batteries: &[Battery],
) -> Result<Swap, SwapRefusal> {
    let mut tx = db.begin().await?;
    let Some((operator_id, jurisdiction, Some(spec))) = station_swap_details(&mut tx, station_id).await? else {
        return Err(SwapRefusal::NotASwapStation);
    };
    if let Some(b) = batteries.iter().find(|b| !(1..=spec.slots).contains(&b.slot)) {
        return Err(SwapRefusal::NoSuchSlot(b.slot, spec.slots));
    }
    let existing = sqlx::query(&format!(
        "SELECT {SWAP_COLUMNS} FROM ch_swaps WHERE station_id = $1 AND request_id = $2"
    ))
    .bind(station_id)
    .bind(request_id)
    .fetch_optional(tx.conn())
    .await?
    .map(|r| swap_from_row(&r))
    .transpose()?;
    let now = now_db();
    let first = batteries.first();
    match event {
        SwapEvent::BatteryIn => {
            for b in batteries {
                put_pack(&mut tx, &operator_id, station_id, &b.serial, b.slot, b.soc, b.soh, None).await?;
            }
            if existing.is_none() {
                sqlx::query(
                    "INSERT INTO ch_swaps (station_id, operator_id, jurisdiction, request_id, id_token, pack_in, soc_in, fee_fen, status, started_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 'in_progress', $8)",
                )
                .bind(station_id)
                .bind(&operator_id)
                .bind(&jurisdiction)
                .bind(request_id)
                .bind(id_token)
                .bind(first.map(|b| b.serial.clone()))
                .bind(first.map(|b| b.soc))
                .bind(&now)
                .execute(tx.conn())
                .await?;
            }
        }
        SwapEvent::BatteryOut | SwapEvent::BatteryOutTimeout => {
            let Some(swap) = &existing else {
                return Err(SwapRefusal::UnknownRequest(request_id));
            };
            if swap.status == "in_progress" {
                let (status, fee) = if event == SwapEvent::BatteryOut {
                    let fee = sqlx::query("SELECT swap_fen FROM ch_tariffs WHERE operator_id = $1")
                        .bind(&operator_id)
                        .fetch_optional(tx.conn())
                        .await?
                        .map_or(0, |r| r.get::<i64, _>(0));
                    for b in batteries {
                        sqlx::query("UPDATE ch_packs SET station_id = NULL, slot = NULL, soc = $2, soh = $3, updated_at = $4 WHERE serial = $1")
                            .bind(&b.serial)
                            .bind(b.soc)
                            .bind(b.soh)
                            .bind(&now)
                            .execute(tx.conn())
                            .await?;
                    }
                    ("completed", fee)
                } else {
                    ("timed_out", 0)
                };
                sqlx::query(
                    "UPDATE ch_swaps SET status = $2, pack_out = $3, soc_out = $4, fee_fen = $5, finished_at = $6 WHERE id = $1",
                )
                .bind(swap.id)
                .bind(status)
                .bind(first.filter(|_| event == SwapEvent::BatteryOut).map(|b| b.serial.clone()))
                .bind(first.filter(|_| event == SwapEvent::BatteryOut).map(|b| b.soc))
                .bind(fee)
                .bind(&now)
                .execute(tx.conn())
                .await?;
            }
        }
    }
    let swap = sqlx::query(&format!(
        "SELECT {SWAP_COLUMNS} FROM ch_swaps WHERE station_id = $1 AND request_id = $2"
    ))
    .bind(station_id)
    .bind(request_id)
    .fetch_one(tx.conn())
    .await?;
    let swap = swap_from_row(&swap)?;
    audit(
        &mut tx,
        "ocpp",
        "swap.event",
        swap.id.to_string(),
        JurisdictionCode::parse(&jurisdiction).ok(),
        json!({"station": station_id, "request": request_id, "event": format!("{event:?}"),
               "packs": batteries.iter().map(|b| json!({"slot": b.slot, "serial": b.serial, "soc": b.soc})).collect::<Vec<_>>(),
               "status": swap.status, "fee_fen": swap.fee_fen}),
    )
    .await?;
    tx.commit().await?;
    Ok(swap)
}

/// A slot's pack charged (a `SoC` meter value of that EVSE); `false` if the slot is empty.
pub async fn slot_soc(db: &Db, station_id: &str, slot: u32, soc: f64) -> Result<bool, ServiceError> {
    let changed = sqlx::query("UPDATE ch_packs SET soc = $3, updated_at = $4 WHERE station_id = $1 AND slot = $2")
        .bind(station_id)
        .bind(i64::from(slot))
        .bind(soc.clamp(0.0, 100.0))
        .bind(now_db())
        .execute(db.pool())
        .await?;
    Ok(changed.rows_affected() == 1)
}

/// Swaps of the operator (all for `None`), newest first.
pub async fn swaps(db: &Db, operator: Option<&str>, limit: i64) -> Result<Vec<Swap>, ServiceError> {
    let rows = sqlx::query(&format!(
        "SELECT {SWAP_COLUMNS} FROM ch_swaps WHERE ($1 IS NULL OR operator_id = $1) ORDER BY started_at DESC, id DESC LIMIT $2"
    ))
    .bind(operator)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(swap_from_row).collect::<Result<_, _>>()?)
}

/// Public swap stations with their packs, for the finder (one station, or all).
pub async fn finder_points(db: &Db, station_id: Option<&str>) -> Result<Vec<SwapPoint>, ServiceError> {
    let rows = sqlx::query(
        "SELECT s.id, s.operator_id, s.name, s.lon, s.lat, w.slots, w.vehicle_models FROM ch_swap_stations w JOIN ch_stations s ON s.id = w.station_id \
         WHERE s.public = 1 AND ($1 IS NULL OR s.id = $1)",
    )
    .bind(station_id)
    .fetch_all(db.pool())
    .await?;
    let packs = sqlx::query(
        "SELECT p.station_id, p.slot, p.soc FROM ch_packs p JOIN ch_stations s ON s.id = p.station_id WHERE s.public = 1 AND ($1 IS NULL OR s.id = $1)",
    )
    .bind(station_id)
    .fetch_all(db.pool())
    .await?;
    let mut by_station: std::collections::HashMap<String, Vec<(u32, f64)>> = std::collections::HashMap::new();
    for r in &packs {
        let slot = u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or_default();
        by_station.entry(r.try_get(0)?).or_default().push((slot, r.try_get(2)?));
    }
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            let spec = spec_from_columns(r.try_get(5)?, r.try_get(6)?).unwrap_or(SwapSpec {
                slots: 0,
                vehicle_models: Vec::new(),
            });
            Ok(SwapPoint {
                packs: by_station.remove(&id).unwrap_or_default().into_iter().collect(),
                station_id: id,
                operator_id: r.try_get(1)?,
                name: r.try_get(2)?,
                lon: r.try_get(3)?,
                lat: r.try_get(4)?,
                slots: spec.slots,
                vehicle_models: spec.vehicle_models,
                online: true,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(ServiceError::from)
}

/// Swap stations, packs and swaps of the last `days` days, by city.
pub async fn city_figures(
    db: &Db,
    since: &str,
) -> Result<std::collections::HashMap<String, (i64, i64, i64)>, ServiceError> {
    let stations = sqlx::query(
        "SELECT s.jurisdiction, COUNT(DISTINCT s.id), COUNT(p.serial) FROM ch_swap_stations w JOIN ch_stations s ON s.id = w.station_id \
         LEFT JOIN ch_packs p ON p.station_id = s.id GROUP BY s.jurisdiction",
    )
    .fetch_all(db.pool())
    .await?;
    let swaps = sqlx::query(
        "SELECT jurisdiction, COUNT(*) FROM ch_swaps WHERE status = 'completed' AND started_at >= $1 GROUP BY jurisdiction",
    )
    .bind(since)
    .fetch_all(db.pool())
    .await?;
    let mut figures: std::collections::HashMap<String, (i64, i64, i64)> =
        stations.iter().map(|r| (r.get(0), (r.get(1), r.get(2), 0))).collect();
    for r in &swaps {
        figures.entry(r.get(0)).or_default().2 = r.get(1);
    }
    Ok(figures)
}
