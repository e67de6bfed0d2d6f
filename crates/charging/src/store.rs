//! The network's storage: operators and their staff, stations with hashed keys,
//! connectors, tariffs, identification tokens, sessions and charge detail records.

use crate::pricing::{self, Charge, Tariff};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use yrd_db::{Db, Tx};
use yrd_kernel::JurisdictionCode;
use yrd_kernel::time::{from_db, now_db};
pub use yrd_web::{ServiceError, invalid};

pub const MODULE: &str = "charging";

pub(crate) async fn audit(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    entity: String,
    place: Option<JurisdictionCode>,
    detail: serde_json::Value,
) -> Result<(), ServiceError> {
    yrd_audit::log(tx, MODULE, actor, action, entity, place, detail).await?;
    Ok(())
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 48
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

// ---------------------------------------------------------------------------------------
// Operators

pub async fn save_operator(db: &Db, actor: &str, id: &str, name: &str) -> Result<(), ServiceError> {
    if !valid_id(id) {
        return Err(invalid("id", "1–48 letters, digits, '-', '_' or '.'"));
    }
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(invalid("name", "1–100 characters"));
    }
    let mut tx = db.begin().await?;
    let changed = sqlx::query("UPDATE ch_operators SET name = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(name.trim())
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    if changed.rows_affected() == 0 {
        sqlx::query("INSERT INTO ch_operators (id, name, updated_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name.trim())
            .bind(now_db())
            .execute(tx.conn())
            .await?;
    }
    audit(
        &mut tx,
        actor,
        "operator.save",
        id.into(),
        None,
        json!({"name": name.trim()}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn operator_exists(db: &Db, id: &str) -> Result<bool, ServiceError> {
    Ok(sqlx::query("SELECT 1 FROM ch_operators WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .is_some())
}

/// The operator a login works for.
pub async fn operator_of(db: &Db, login: &str) -> Result<Option<String>, ServiceError> {
    let row = sqlx::query("SELECT operator_id FROM ch_operator_staff WHERE login = $1")
        .bind(login)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub async fn save_staff(db: &Db, actor: &str, login: &str, operator_id: &str) -> Result<(), ServiceError> {
    if !operator_exists(db, operator_id).await? {
        return Err(invalid("operator", format!("no operator '{operator_id}'")));
    }
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM ch_operator_staff WHERE login = $1")
        .bind(login)
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO ch_operator_staff (login, operator_id) VALUES ($1, $2)")
        .bind(login)
        .bind(operator_id)
        .execute(tx.conn())
        .await?;
    audit(
        &mut tx,
        actor,
        "operator.staff",
        login.into(),
        None,
        json!({"operator": operator_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Stations

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSpec {
    /// 1, 2, … as the station numbers them.
    pub connector_id: u32,
    /// `GB/T DC`, `GB/T AC`, `CCS2`, `Type 2` or `CHAdeMO`.
    pub standard: String,
    pub max_kw: f64,
}

pub const STANDARDS: &[&str] = &["GB/T DC", "GB/T AC", "CCS2", "Type 2", "CHAdeMO"];

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Station {
    pub id: String,
    pub operator_id: String,
    pub name: String,
    pub jurisdiction: String,
    pub lon: f64,
    pub lat: f64,
    pub address: String,
    pub public: bool,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub booted_at: Option<String>,
    pub last_seen: Option<String>,
    pub connectors: Vec<ConnectorState>,
    /// Present for a battery-swap station.
    pub swap: Option<crate::swap::SwapSpec>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConnectorState {
    pub connector_id: u32,
    pub standard: String,
    pub max_kw: f64,
    pub status: String,
    pub updated_at: String,
}

/// A station as registered by its operator; `key` is the security-profile-1 password
/// (16–40 characters), stored only as its SHA-256.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StationInput {
    pub name: String,
    pub jurisdiction: JurisdictionCode,
    pub lon: f64,
    pub lat: f64,
    pub address: String,
    pub public: bool,
    pub key: String,
    /// Charging connectors; a swap station may have none.
    #[serde(default)]
    pub connectors: Vec<ConnectorSpec>,
    /// Makes it a battery-swap station (OCPP 2.1): its slots and vehicle models.
    #[serde(default)]
    pub swap: Option<crate::swap::SwapSpec>,
}

pub fn key_hash(key: &str) -> String {
    yrd_audit::sha256_hex(key.as_bytes())
}

pub async fn save_station(
    db: &Db,
    actor: &str,
    operator_id: &str,
    id: &str,
    input: &StationInput,
) -> Result<(), ServiceError> {
    if !valid_id(id) {
        return Err(invalid(
            "id",
            "1–48 letters, digits, '-', '_' or '.' (the station's OCPP identity)",
        ));
    }
    if input.name.trim().is_empty() || input.name.chars().count() > 100 {
        return Err(invalid("name", "1–100 characters"));
    }
    if !(73.0..=136.0).contains(&input.lon) || !(3.0..=54.0).contains(&input.lat) {
        return Err(invalid("lon", "a WGS 84 position in China (lon 73–136, lat 3–54)"));
    }
    if !(16..=40).contains(&input.key.len()) || !input.key.is_ascii() {
        return Err(invalid("key", "16–40 ASCII characters (OCPP security profile 1)"));
    }
    if let Some((field, message)) = input.swap.as_ref().and_then(crate::swap::SwapSpec::problem) {
        return Err(invalid(field, message));
    }
    if input.connectors.len() > 64 || (input.connectors.is_empty() && input.swap.is_none()) {
        return Err(invalid("connectors", "1–64 connectors (none only for a swap station)"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in input.connectors.iter().enumerate() {
        if c.connector_id == 0 || !seen.insert(c.connector_id) {
            return Err(invalid(&format!("connectors[{i}].connector_id"), "1, 2, … each once"));
        }
        if !STANDARDS.contains(&c.standard.as_str()) {
            return Err(invalid(
                &format!("connectors[{i}].standard"),
                format!("one of {}", STANDARDS.join(", ")),
            ));
        }
        if !(1.0..=1000.0).contains(&c.max_kw) {
            return Err(invalid(&format!("connectors[{i}].max_kw"), "1–1000 kW"));
        }
    }
    let mut tx = db.begin().await?;
    let existing = sqlx::query("SELECT operator_id FROM ch_stations WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    if let Some(row) = &existing
        && row.get::<String, _>(0) != operator_id
    {
        return Err(ServiceError::Forbidden(format!(
            "station {id} belongs to another operator"
        )));
    }
    let now = now_db();
    if existing.is_some() {
        sqlx::query("UPDATE ch_stations SET name = $2, jurisdiction = $3, lon = $4, lat = $5, address = $6, public = $7, key_hash = $8, updated_at = $9 WHERE id = $1")
            .bind(id)
            .bind(input.name.trim())
            .bind(input.jurisdiction.to_string())
            .bind(input.lon)
            .bind(input.lat)
            .bind(input.address.trim())
            .bind(i64::from(input.public))
            .bind(key_hash(&input.key))
            .bind(&now)
            .execute(tx.conn())
            .await?;
    } else {
        sqlx::query(
            "INSERT INTO ch_stations (id, operator_id, name, jurisdiction, lon, lat, address, public, key_hash, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(operator_id)
        .bind(input.name.trim())
        .bind(input.jurisdiction.to_string())
        .bind(input.lon)
        .bind(input.lat)
        .bind(input.address.trim())
        .bind(i64::from(input.public))
        .bind(key_hash(&input.key))
        .bind(&now)
        .execute(tx.conn())
        .await?;
    }
    for c in &input.connectors {
        let changed = sqlx::query(
            "UPDATE ch_connectors SET standard = $3, max_kw = $4 WHERE station_id = $1 AND connector_id = $2",
        )
        .bind(id)
        .bind(i64::from(c.connector_id))
        .bind(&c.standard)
        .bind(c.max_kw)
        .execute(tx.conn())
        .await?;
        if changed.rows_affected() == 0 {
            sqlx::query("INSERT INTO ch_connectors (station_id, connector_id, standard, max_kw, status, updated_at) VALUES ($1, $2, $3, $4, 'Unavailable', $5)")
                .bind(id)
                .bind(i64::from(c.connector_id))
                .bind(&c.standard)
                .bind(c.max_kw)
                .bind(&now)
                .execute(tx.conn())
                .await?;
        }
    }
    crate::swap::save_spec(&mut tx, id, input.swap.as_ref()).await?;
    audit(
        &mut tx,
        actor,
        "station.save",
        id.into(),
        Some(input.jurisdiction),
        json!({"operator": operator_id, "name": input.name.trim(), "connectors": input.connectors.len(), "swap": input.swap}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A station's columns, with its swap details where it has them.
const STATION_SELECT: &str = "SELECT s.id, s.operator_id, s.name, s.jurisdiction, s.lon, s.lat, s.address, s.public, s.vendor, s.model, s.booted_at, s.last_seen, \
     w.slots, w.vehicle_models FROM ch_stations s LEFT JOIN ch_swap_stations w ON w.station_id = s.id";

fn station_from_row(row: &AnyRow) -> Result<Station, sqlx::Error> {
    Ok(Station {
        id: row.try_get("id")?,
        operator_id: row.try_get("operator_id")?,
        name: row.try_get("name")?,
        jurisdiction: row.try_get("jurisdiction")?,
        lon: row.try_get("lon")?,
        lat: row.try_get("lat")?,
        address: row.try_get("address")?,
        public: row.try_get::<i64, _>("public")? != 0,
        vendor: row.try_get("vendor")?,
        model: row.try_get("model")?,
        booted_at: row.try_get("booted_at")?,
        last_seen: row.try_get("last_seen")?,
        connectors: Vec::new(),
        swap: crate::swap::spec_from_columns(row.try_get("slots")?, row.try_get("vehicle_models")?),
    })
}

pub async fn station(db: &Db, id: &str) -> Result<Option<Station>, ServiceError> {
    let row = sqlx::query(&format!("{STATION_SELECT} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut station = station_from_row(&row)?;
    station.connectors = connectors(db, id).await?;
    Ok(Some(station))
}

async fn connectors(db: &Db, station_id: &str) -> Result<Vec<ConnectorState>, ServiceError> {
    let rows = sqlx::query("SELECT station_id, connector_id, standard, max_kw, status, updated_at FROM ch_connectors WHERE station_id = $1 ORDER BY connector_id")
        .bind(station_id)
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(connector_from_row)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|(_, c)| c)
        .collect())
}

fn connector_from_row(r: &AnyRow) -> Result<(String, ConnectorState), sqlx::Error> {
    Ok((
        r.try_get(0)?,
        ConnectorState {
            connector_id: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or_default(),
            standard: r.try_get(2)?,
            max_kw: r.try_get(3)?,
            status: r.try_get(4)?,
            updated_at: r.try_get(5)?,
        },
    ))
}

/// An operator's stations (all stations for `None`), with connectors.
pub async fn stations(db: &Db, operator: Option<&str>, limit: i64) -> Result<Vec<Station>, ServiceError> {
    let rows = sqlx::query(&format!(
        "{STATION_SELECT} WHERE ($1 IS NULL OR s.operator_id = $1) ORDER BY s.jurisdiction, s.id LIMIT $2"
    ))
    .bind(operator)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    // The connectors of all of them in one query, not one query per station.
    let connector_rows = sqlx::query(
        "SELECT c.station_id, c.connector_id, c.standard, c.max_kw, c.status, c.updated_at FROM ch_connectors c JOIN ch_stations s ON s.id = c.station_id \
         WHERE ($1 IS NULL OR s.operator_id = $1) ORDER BY c.station_id, c.connector_id",
    )
    .bind(operator)
    .fetch_all(db.pool())
    .await?;
    let mut by_station: std::collections::HashMap<String, Vec<ConnectorState>> = std::collections::HashMap::new();
    for row in &connector_rows {
        let (station_id, connector) = connector_from_row(row)?;
        by_station.entry(station_id).or_default().push(connector);
    }
    rows.iter()
        .map(|row| {
            let mut station = station_from_row(row)?;
            station.connectors = by_station.remove(&station.id).unwrap_or_default();
            Ok(station)
        })
        .collect()
}

/// Whether `key` is the station's key (constant-time comparison of the hashes).
pub async fn station_key_ok(db: &Db, id: &str, key: &str) -> Result<bool, ServiceError> {
    let row = sqlx::query("SELECT key_hash FROM ch_stations WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(false) };
    let stored: String = row.get(0);
    let given = key_hash(key);
    Ok(stored.len() == given.len() && stored.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
}

/// Every public connector with its position, for the finder's index.
pub async fn finder_points(db: &Db) -> Result<Vec<crate::finder::Point>, ServiceError> {
    points_where(db, None).await
}

/// One station's public connectors.
pub async fn finder_points_of(db: &Db, station_id: &str) -> Result<Vec<crate::finder::Point>, ServiceError> {
    points_where(db, Some(station_id)).await
}

async fn points_where(db: &Db, station_id: Option<&str>) -> Result<Vec<crate::finder::Point>, ServiceError> {
    let rows = sqlx::query(
        "SELECT s.id, c.connector_id, s.operator_id, s.lon, s.lat, c.max_kw, c.standard, c.status FROM ch_connectors c JOIN ch_stations s ON s.id = c.station_id \
         WHERE s.public = 1 AND ($1 IS NULL OR s.id = $1)",
    )
    .bind(station_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(crate::finder::Point {
                station_id: r.try_get(0)?,
                connector_id: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or_default(),
                operator_id: r.try_get(2)?,
                lon: r.try_get(3)?,
                lat: r.try_get(4)?,
                max_kw: r.try_get(5)?,
                standard: r.try_get(6)?,
                status: r.try_get(7)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(ServiceError::from)
}

// ---------------------------------------------------------------------------------------
// Which node holds a station's socket (with several nodes)

/// Records the node (and OCPP subprotocol) a station is connected to, or clears it.
pub async fn set_location(db: &Db, station_id: &str, node: Option<(&str, &str)>) -> Result<(), ServiceError> {
    sqlx::query("UPDATE ch_stations SET node = $2, node_subprotocol = $3 WHERE id = $1")
        .bind(station_id)
        .bind(node.map(|(n, _)| n))
        .bind(node.map(|(_, p)| p))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Clears the location if this node still holds it (a reconnection elsewhere wins).
pub async fn clear_location(db: &Db, station_id: &str, node: &str) -> Result<(), ServiceError> {
    sqlx::query("UPDATE ch_stations SET node = NULL, node_subprotocol = NULL WHERE id = $1 AND node = $2")
        .bind(station_id)
        .bind(node)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The node holding a station's socket and its subprotocol.
pub async fn location(db: &Db, station_id: &str) -> Result<Option<(String, String)>, ServiceError> {
    let row = sqlx::query("SELECT node, node_subprotocol FROM ch_stations WHERE id = $1")
        .bind(station_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.and_then(|r| Some((r.get::<Option<String>, _>(0)?, r.get::<Option<String>, _>(1)?))))
}

// ---------------------------------------------------------------------------------------
// What stations report

pub async fn boot(db: &Db, station_id: &str, vendor: &str, model: &str) -> Result<(), ServiceError> {
    let now = now_db();
    sqlx::query("UPDATE ch_stations SET vendor = $2, model = $3, booted_at = $4, last_seen = $4 WHERE id = $1")
        .bind(station_id)
        .bind(vendor)
        .bind(model)
        .bind(&now)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn seen(db: &Db, station_id: &str) -> Result<(), ServiceError> {
    sqlx::query("UPDATE ch_stations SET last_seen = $2 WHERE id = $1")
        .bind(station_id)
        .bind(now_db())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A connector's new status; an active session on it counts idle time while the EV
/// occupies the connector without charging.
pub async fn set_status(
    db: &Db,
    station_id: &str,
    connector_id: u32,
    status: crate::ocpp::ConnectorStatus,
) -> Result<(), ServiceError> {
    let now = now_db();
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE ch_connectors SET status = $3, updated_at = $4 WHERE station_id = $1 AND connector_id = $2")
        .bind(station_id)
        .bind(i64::from(connector_id))
        .bind(status.as_str())
        .bind(&now)
        .execute(tx.conn())
        .await?;
    let session = sqlx::query("SELECT id, idle_since, idle_seconds FROM ch_sessions WHERE station_id = $1 AND connector_id = $2 AND status = 'active'")
        .bind(station_id)
        .bind(i64::from(connector_id))
        .fetch_optional(tx.conn())
        .await?;
    if let Some(row) = session {
        let id: i64 = row.get(0);
        let idle_since: Option<String> = row.get(1);
        match (status.is_idle(), idle_since) {
            (true, None) => {
                sqlx::query("UPDATE ch_sessions SET idle_since = $2 WHERE id = $1")
                    .bind(id)
                    .bind(&now)
                    .execute(tx.conn())
                    .await?;
            }
            (false, Some(since)) => {
                let extra = seconds_between(&since, &now);
                sqlx::query("UPDATE ch_sessions SET idle_since = NULL, idle_seconds = idle_seconds + $2 WHERE id = $1")
                    .bind(id)
                    .bind(extra)
                    .execute(tx.conn())
                    .await?;
            }
            _ => {}
        }
    }
    tx.commit().await?;
    Ok(())
}

fn seconds_between(from: &str, to: &str) -> i64 {
    match (from_db(from), from_db(to)) {
        (Some(a), Some(b)) => (b - a).num_seconds().max(0),
        _ => 0,
    }
}

/// The status of an identification token for the station's operator: `Accepted`,
/// `Blocked`, `Expired` or `Invalid` (unknown).
pub async fn token_status(db: &Db, station_id: &str, id_tag: &str) -> Result<String, ServiceError> {
    let row = sqlx::query("SELECT t.status FROM ch_tokens t JOIN ch_stations s ON s.operator_id = t.operator_id WHERE s.id = $1 AND t.id_tag = $2")
        .bind(station_id)
        .bind(id_tag)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map_or_else(|| "Invalid".to_string(), |r| r.get(0)))
}

pub async fn save_token(
    db: &Db,
    actor: &str,
    operator_id: &str,
    id_tag: &str,
    status: &str,
) -> Result<(), ServiceError> {
    if id_tag.is_empty() || id_tag.chars().count() > 20 {
        return Err(invalid("id_tag", "1–20 characters (OCPP IdToken)"));
    }
    if !matches!(status, "Accepted" | "Blocked" | "Expired") {
        return Err(invalid("status", "Accepted, Blocked or Expired"));
    }
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM ch_tokens WHERE operator_id = $1 AND id_tag = $2")
        .bind(operator_id)
        .bind(id_tag)
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO ch_tokens (operator_id, id_tag, status) VALUES ($1, $2, $3)")
        .bind(operator_id)
        .bind(id_tag)
        .bind(status)
        .execute(tx.conn())
        .await?;
    audit(
        &mut tx,
        actor,
        "token.save",
        format!("{operator_id}/{id_tag}"),
        None,
        json!({"status": status}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn save_tariff(db: &Db, actor: &str, operator_id: &str, tariff: &Tariff) -> Result<(), ServiceError> {
    if let Some((field, message)) = tariff.problem() {
        return Err(invalid(field, message));
    }
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM ch_tariffs WHERE operator_id = $1")
        .bind(operator_id)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO ch_tariffs (operator_id, energy_fen_per_kwh, service_fen_per_kwh, idle_fen_per_minute, idle_grace_minutes, updated_at, bands, swap_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(operator_id)
    .bind(tariff.energy_fen_per_kwh)
    .bind(tariff.service_fen_per_kwh)
    .bind(tariff.idle_fen_per_minute)
    .bind(tariff.idle_grace_minutes)
    .bind(now_db())
    .bind(serde_json::to_string(&tariff.bands).unwrap_or_else(|_| "[]".into()))
    .bind(tariff.swap_fen)
    .execute(tx.conn())
    .await?;
    audit(&mut tx, actor, "tariff.save", operator_id.into(), None, json!(tariff)).await?;
    tx.commit().await?;
    Ok(())
}

const TARIFF_COLUMNS: &str =
    "energy_fen_per_kwh, service_fen_per_kwh, idle_fen_per_minute, idle_grace_minutes, bands, swap_fen";

fn tariff_from_row(r: &AnyRow) -> Tariff {
    let bands: Option<String> = r.get(4);
    Tariff {
        energy_fen_per_kwh: r.get(0),
        bands: bands.and_then(|b| serde_json::from_str(&b).ok()).unwrap_or_default(),
        service_fen_per_kwh: r.get(1),
        idle_fen_per_minute: r.get(2),
        idle_grace_minutes: r.get(3),
        swap_fen: r.get(5),
    }
}

pub async fn tariff(db: &Db, operator_id: &str) -> Result<Option<Tariff>, ServiceError> {
    let row = sqlx::query(&format!(
        "SELECT {TARIFF_COLUMNS} FROM ch_tariffs WHERE operator_id = $1"
    ))
    .bind(operator_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(tariff_from_row))
}

// ---------------------------------------------------------------------------------------
// Sessions and charge detail records

/// Opens a session; `ocpp_tx` is the station's own transaction id (OCPP 2.0.1).
pub async fn start_session(
    db: &Db,
    station_id: &str,
    connector_id: u32,
    id_tag: &str,
    meter_start: i64,
    ocpp_tx: Option<&str>,
) -> Result<i64, ServiceError> {
    let mut tx = db.begin().await?;
    // A station that restarts a session on a connector ends the one it forgot.
    sqlx::query("UPDATE ch_sessions SET status = 'completed', stop_reason = 'Superseded', stopped_at = $3, meter_stop = meter_last WHERE station_id = $1 AND connector_id = $2 AND status = 'active'")
        .bind(station_id)
        .bind(i64::from(connector_id))
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    let row = sqlx::query(
                "INSERT INTO ch_sessions (station_id, connector_id, id_tag, meter_start, meter_last, started_at, idle_seconds, status, ocpp_tx) VALUES ($1, $2, $3, $4, $4, $5, 0, 'active', $6) RETURNING id",
    )
    .bind(station_id)
    .bind(i64::from(connector_id))
    .bind(id_tag)
    .bind(meter_start.max(0))
    .bind(now_db())
    .bind(ocpp_tx)
    .fetch_one(tx.conn())
    .await?;
    let id: i64 = row.get(0);
    audit(
        &mut tx,
        "ocpp",
        "session.start",
        id.to_string(),
        None,
        json!({"station": station_id, "connector": connector_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Readings kept per session, at most (about 10 hours at one a minute); later ones
/// still move the register, and the stop prices what is kept.
const MAX_READINGS_TEXT: i64 = 24 * 1024;

/// Moves an active session's energy register and keeps the reading for pricing.
pub async fn meter(db: &Db, station_id: &str, transaction_id: i64, wh: i64) -> Result<bool, ServiceError> {
    let changed = sqlx::query(
        "UPDATE ch_sessions SET meter_last = $3, readings = CASE WHEN LENGTH(readings) < $5 THEN readings || $4 ELSE readings END \
         WHERE id = $1 AND station_id = $2 AND status = 'active' AND $3 >= meter_start",
    )
    .bind(transaction_id)
    .bind(station_id)
    .bind(wh)
    .bind(format!("{} {wh}\n", now_db()))
    .bind(MAX_READINGS_TEXT)
    .execute(db.pool())
    .await?;
    Ok(changed.rows_affected() == 1)
}

/// A charge detail record: the priced session.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Cdr {
    pub session_id: i64,
    pub operator_id: String,
    pub station_id: String,
    pub jurisdiction: String,
    pub started_at: String,
    pub stopped_at: String,
    #[serde(flatten)]
    pub charge: Charge,
}

/// Ends a session of this station and prices it; `None` if the station has no such
/// active session.
pub async fn stop_session(
    db: &Db,
    station_id: &str,
    transaction_id: i64,
    meter_stop: i64,
    reason: &str,
) -> Result<Option<Cdr>, ServiceError> {
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "SELECT x.meter_start, x.idle_since, x.idle_seconds, x.started_at, s.operator_id, s.jurisdiction, x.readings FROM ch_sessions x JOIN ch_stations s ON s.id = x.station_id \
         WHERE x.id = $1 AND x.station_id = $2 AND x.status = 'active'",
    )
    .bind(transaction_id)
    .bind(station_id)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let meter_start: i64 = row.get(0);
    let idle_since: Option<String> = row.get(1);
    let now = now_db();
    let idle_seconds: i64 = row.get::<i64, _>(2) + idle_since.map_or(0, |since| seconds_between(&since, &now));
    let started_at: String = row.get(3);
    let operator_id: String = row.get(4);
    let jurisdiction: String = row.get(5);
    let tariff_row = sqlx::query(&format!(
        "SELECT {TARIFF_COLUMNS} FROM ch_tariffs WHERE operator_id = $1"
    ))
    .bind(&operator_id)
    .fetch_optional(tx.conn())
    .await?;
    // An operator without a tariff charges nothing rather than a price it never set.
    let tariff = tariff_row.as_ref().map_or_else(Tariff::default, tariff_from_row);
    // The register from the start, through the readings kept, to the stop.
    let kept: String = row.get(6);
    let readings: Vec<pricing::Reading> = from_db(&started_at)
        .map(|at| (at, meter_start))
        .into_iter()
        .chain(kept.lines().filter_map(|line| {
            let (at, wh) = line.split_once(' ')?;
            Some((from_db(at)?, wh.parse().ok()?))
        }))
        .chain(from_db(&now).map(|at| (at, meter_stop)))
        .collect();
    let charge = pricing::price(&tariff, meter_stop - meter_start, idle_seconds, &readings);
    sqlx::query("UPDATE ch_sessions SET status = 'completed', meter_stop = $2, meter_last = $2, stopped_at = $3, stop_reason = $4, idle_since = NULL, idle_seconds = $5 WHERE id = $1")
        .bind(transaction_id)
        .bind(meter_stop)
        .bind(&now)
        .bind(reason)
        .bind(idle_seconds)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO ch_cdrs (session_id, operator_id, station_id, jurisdiction, energy_wh, energy_fen, service_fen, idle_fen, total_fen, started_at, stopped_at, duration_seconds) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(transaction_id)
    .bind(&operator_id)
    .bind(station_id)
    .bind(&jurisdiction)
    .bind(charge.energy_wh)
    .bind(charge.energy_fen)
    .bind(charge.service_fen)
    .bind(charge.idle_fen)
    .bind(charge.total_fen)
    .bind(&started_at)
    .bind(&now)
    .bind(seconds_between(&started_at, &now))
    .execute(tx.conn())
    .await?;
    let place = JurisdictionCode::parse(&jurisdiction).ok();
    audit(
        &mut tx,
        "ocpp",
        "session.stop",
        transaction_id.to_string(),
        place,
        json!({"station": station_id, "charge": charge, "tariff": tariff}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(Cdr {
        session_id: transaction_id,
        operator_id,
        station_id: station_id.into(),
        jurisdiction,
        started_at,
        stopped_at: now,
        charge,
    }))
}

pub async fn cdrs(db: &Db, operator: Option<&str>, limit: i64) -> Result<Vec<Cdr>, ServiceError> {
    let rows = sqlx::query(
        "SELECT session_id, operator_id, station_id, jurisdiction, started_at, stopped_at, energy_wh, energy_fen, service_fen, idle_fen, total_fen FROM ch_cdrs \
         WHERE ($1 IS NULL OR operator_id = $1) ORDER BY stopped_at DESC LIMIT $2",
    )
    .bind(operator)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Cdr {
                session_id: r.try_get(0)?,
                operator_id: r.try_get(1)?,
                station_id: r.try_get(2)?,
                jurisdiction: r.try_get(3)?,
                started_at: r.try_get(4)?,
                stopped_at: r.try_get(5)?,
                charge: Charge {
                    energy_wh: r.try_get(6)?,
                    energy_fen: r.try_get(7)?,
                    service_fen: r.try_get(8)?,
                    idle_fen: r.try_get(9)?,
                    total_fen: r.try_get(10)?,
                },
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(ServiceError::from)
}

/// A session by the station's own transaction id (OCPP 2.0.1): its id, connector,
/// last meter reading and whether it is still active.
pub async fn session_by_ocpp_tx(
    db: &Db,
    station_id: &str,
    ocpp_tx: &str,
) -> Result<Option<(i64, u32, i64, bool)>, ServiceError> {
    let row = sqlx::query("SELECT id, connector_id, meter_last, status FROM ch_sessions WHERE station_id = $1 AND ocpp_tx = $2 ORDER BY id DESC")
        .bind(station_id)
        .bind(ocpp_tx)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| {
        (
            r.get(0),
            u32::try_from(r.get::<i64, _>(1)).unwrap_or_default(),
            r.get(2),
            r.get::<String, _>(3) == "active",
        )
    }))
}

/// The station's own id of a session (for RequestStopTransaction).
pub async fn ocpp_tx_of(db: &Db, session_id: i64) -> Result<Option<String>, ServiceError> {
    let row = sqlx::query("SELECT ocpp_tx FROM ch_sessions WHERE id = $1")
        .bind(session_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.and_then(|r| r.get(0)))
}

/// An active session of a station (for a remote stop by connector).
pub async fn active_session(db: &Db, station_id: &str, connector_id: Option<u32>) -> Result<Option<i64>, ServiceError> {
    let row = sqlx::query("SELECT id FROM ch_sessions WHERE station_id = $1 AND status = 'active' AND ($2 IS NULL OR connector_id = $2) ORDER BY id DESC")
        .bind(station_id)
        .bind(connector_id.map(i64::from))
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Chargers and energy by city.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct CityStat {
    pub jurisdiction: String,
    pub stations: i64,
    pub connectors: i64,
    pub available: i64,
    pub charging: i64,
    pub energy_wh: i64,
    pub sessions: i64,
    /// Sessions ended in the last 7 days, per day.
    pub sessions_per_day: f64,
    /// Share of the last 7 days the city's connectors spent in sessions (0–1).
    pub utilisation: f64,
    pub swap_stations: i64,
    /// Packs in the swap stations' slots.
    pub packs: i64,
    /// Battery swaps completed in the last 7 days, per day.
    pub swaps_per_day: f64,
}

/// The window of the per-day figures.
pub const STATS_DAYS: i64 = 7;

/// The cities' figures added up by province (utilisation weighted by connectors).
pub fn by_province(cities: &[CityStat]) -> Vec<CityStat> {
    let mut provinces: std::collections::BTreeMap<String, CityStat> = std::collections::BTreeMap::new();
    for city in cities {
        let code = JurisdictionCode::parse(&city.jurisdiction)
            .map(|c| c.province().to_string())
            .unwrap_or_else(|_| city.jurisdiction.clone());
        let sum = provinces.entry(code.clone()).or_insert_with(|| CityStat {
            jurisdiction: code,
            ..CityStat::default()
        });
        let busy = sum.utilisation * sum.connectors as f64 + city.utilisation * city.connectors as f64;
        sum.stations += city.stations;
        sum.connectors += city.connectors;
        sum.available += city.available;
        sum.charging += city.charging;
        sum.energy_wh += city.energy_wh;
        sum.sessions += city.sessions;
        sum.sessions_per_day += city.sessions_per_day;
        sum.utilisation = if sum.connectors > 0 {
            busy / sum.connectors as f64
        } else {
            0.0
        };
        sum.swap_stations += city.swap_stations;
        sum.packs += city.packs;
        sum.swaps_per_day += city.swaps_per_day;
    }
    provinces.into_values().collect()
}

pub async fn stats(db: &Db) -> Result<Vec<CityStat>, ServiceError> {
    let rows = sqlx::query(
        "SELECT s.jurisdiction, COUNT(DISTINCT s.id), COUNT(*), \
         CAST(SUM(CASE WHEN c.status = 'Available' THEN 1 ELSE 0 END) AS BIGINT), CAST(SUM(CASE WHEN c.status = 'Charging' THEN 1 ELSE 0 END) AS BIGINT) \
         FROM ch_connectors c JOIN ch_stations s ON s.id = c.station_id GROUP BY s.jurisdiction ORDER BY s.jurisdiction",
    )
    .fetch_all(db.pool())
    .await?;
    let energy =
        sqlx::query("SELECT jurisdiction, CAST(SUM(energy_wh) AS BIGINT), COUNT(*) FROM ch_cdrs GROUP BY jurisdiction")
            .fetch_all(db.pool())
            .await?;
    let energy: std::collections::HashMap<String, (i64, i64)> =
        energy.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect();
    let since = yrd_kernel::time::to_db(chrono::Utc::now() - chrono::Duration::days(STATS_DAYS));
    let recent = sqlx::query(
        "SELECT jurisdiction, COUNT(*), CAST(SUM(COALESCE(duration_seconds, 0)) AS BIGINT) FROM ch_cdrs WHERE stopped_at >= $1 GROUP BY jurisdiction",
    )
    .bind(&since)
    .fetch_all(db.pool())
    .await?;
    let recent: std::collections::HashMap<String, (i64, i64)> =
        recent.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect();
    let mut swaps = crate::swap::city_figures(db, &since).await?;
    let mut cities: Vec<CityStat> = rows
        .iter()
        .map(|r| {
            let place: String = r.get(0);
            let (energy_wh, sessions) = energy.get(&place).copied().unwrap_or_default();
            let (week_sessions, busy_seconds) = recent.get(&place).copied().unwrap_or_default();
            let connectors: i64 = r.get(2);
            let capacity = (connectors.max(1) * STATS_DAYS * 86_400) as f64;
            CityStat {
                sessions_per_day: week_sessions as f64 / STATS_DAYS as f64,
                utilisation: (busy_seconds as f64 / capacity).min(1.0),
                jurisdiction: place,
                stations: r.get(1),
                connectors: r.get(2),
                available: r.get(3),
                charging: r.get(4),
                energy_wh,
                sessions,
                ..CityStat::default()
            }
        })
        .collect();
    for city in &mut cities {
        if let Some((stations, packs, week_swaps)) = swaps.remove(&city.jurisdiction) {
            city.swap_stations = stations;
            city.packs = packs;
            city.swaps_per_day = week_swaps as f64 / STATS_DAYS as f64;
        }
    }
    // Cities with swap stations but no chargers.
    for (jurisdiction, (stations, packs, week_swaps)) in swaps {
        cities.push(CityStat {
            jurisdiction,
            swap_stations: stations,
            packs,
            swaps_per_day: week_swaps as f64 / STATS_DAYS as f64,
            ..CityStat::default()
        });
    }
    cities.sort_by(|a, b| a.jurisdiction.cmp(&b.jurisdiction));
    Ok(cities)
}
