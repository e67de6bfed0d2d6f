//! OCPI 2.2.1 read endpoints for roaming partners (the platform as CPO for each
//! operator): versions, version details, credentials, locations, sessions and CDRs, at
//! `/ocpi/{operator}/…`, with the `Token` authorisation of a partner the operator
//! registered (stored as a hash), paging by `offset`/`limit` with `Link`,
//! `X-Total-Count` and `X-Limit`, and `date_from`/`date_to` on `last_updated`.

use crate::store::{self, ServiceError, invalid};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;
use yrd_db::Db;
use yrd_kernel::time::now_db;

pub const VERSION: &str = "2.2.1";
const MAX_LIMIT: i64 = 100;

pub fn routes(db: Db) -> Router {
    Router::new()
        .route("/ocpi/{operator}/versions", get(versions))
        .route("/ocpi/{operator}/2.2.1", get(details))
        .route("/ocpi/{operator}/2.2.1/credentials", get(credentials))
        .route("/ocpi/{operator}/2.2.1/locations", get(locations))
        .route("/ocpi/{operator}/2.2.1/sessions", get(sessions))
        .route("/ocpi/{operator}/2.2.1/cdrs", get(cdrs))
        .with_state(db)
}

fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The OCPI envelope; `code` 1000 is success, 2xxx a client error.
fn envelope(status: StatusCode, code: u32, message: &str, data: Value) -> Response {
    let mut body = json!({"status_code": code, "status_message": message, "timestamp": timestamp()});
    if !data.is_null() {
        body["data"] = data;
    }
    (status, axum::Json(body)).into_response()
}

/// A refusal, answered in the OCPI envelope with status code 2001.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        envelope(self.0, 2001, &self.1, Value::Null)
    }
}

fn refused(status: StatusCode, message: &str) -> Refusal {
    Refusal(status, message.to_string())
}

/// A partner's credentials token, registered by the operator; shown once.
pub async fn register_partner(
    db: &Db,
    actor: &str,
    operator_id: &str,
    name: &str,
    country_code: &str,
    party_id: &str,
) -> Result<String, ServiceError> {
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(invalid("name", "1–100 characters"));
    }
    if country_code.len() != 2 || !country_code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid("country_code", "ISO 3166-1 alpha-2, e.g. CN"));
    }
    if party_id.len() != 3 || !party_id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(invalid(
            "party_id",
            "3 upper-case letters or digits (ISO 15118 party id)",
        ));
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO ch_ocpi_partners (operator_id, name, country_code, party_id, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(operator_id)
        .bind(name.trim())
        .bind(country_code)
        .bind(party_id)
        .bind(store::key_hash(&token))
        .bind(now_db())
        .execute(tx.conn())
        .await?;
    yrd_audit::log(
        &mut tx,
        store::MODULE,
        actor,
        "ocpi.partner",
        operator_id.to_string(),
        None,
        json!({"name": name.trim(), "country_code": country_code, "party_id": party_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The partner behind `Authorization: Token …` (base64 of the token, as OCPI 2.2.1
/// says; the plain token is accepted too), if it was registered by this operator.
async fn partner(db: &Db, operator: &str, headers: &HeaderMap) -> Result<(), Refusal> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token "))
        .map(str::trim)
        .ok_or_else(|| {
            refused(
                StatusCode::UNAUTHORIZED,
                "send Authorization: Token <credentials token>",
            )
        })?;
    let decoded = B64.decode(given).ok().and_then(|b| String::from_utf8(b).ok());
    for candidate in [Some(given.to_string()), decoded].into_iter().flatten() {
        let row = sqlx::query("SELECT 1 FROM ch_ocpi_partners WHERE operator_id = $1 AND token_hash = $2")
            .bind(operator)
            .bind(store::key_hash(&candidate))
            .fetch_optional(db.pool())
            .await
            .map_err(|_| refused(StatusCode::SERVICE_UNAVAILABLE, "try again"))?;
        if row.is_some() {
            return Ok(());
        }
    }
    Err(refused(
        StatusCode::UNAUTHORIZED,
        "unknown credentials token for this party",
    ))
}

fn base(headers: &HeaderMap, operator: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/ocpi/{operator}")
}

async fn versions(State(db): State<Db>, Path(operator): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = partner(&db, &operator, &headers).await {
        return r.into_response();
    }
    envelope(
        StatusCode::OK,
        1000,
        "Success",
        json!([{"version": VERSION, "url": format!("{}/{VERSION}", base(&headers, &operator))}]),
    )
}

async fn details(State(db): State<Db>, Path(operator): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = partner(&db, &operator, &headers).await {
        return r.into_response();
    }
    let url = format!("{}/{VERSION}", base(&headers, &operator));
    let endpoints: Vec<Value> = ["credentials", "locations", "sessions", "cdrs"]
        .iter()
        .map(|module| json!({"identifier": module, "role": "SENDER", "url": format!("{url}/{module}")}))
        .collect();
    envelope(
        StatusCode::OK,
        1000,
        "Success",
        json!({"version": VERSION, "endpoints": endpoints}),
    )
}

async fn party(db: &Db, operator: &str) -> Result<(String, String, String), Refusal> {
    let row = sqlx::query("SELECT o.name, p.country_code, p.party_id FROM ch_operators o LEFT JOIN ch_ocpi_parties p ON p.operator_id = o.id WHERE o.id = $1")
        .bind(operator)
        .fetch_optional(db.pool())
        .await
        .map_err(|_| refused(StatusCode::SERVICE_UNAVAILABLE, "try again"))?
        .ok_or_else(|| refused(StatusCode::NOT_FOUND, "no such party"))?;
    let country: Option<String> = row.get(1);
    let party: Option<String> = row.get(2);
    Ok((
        row.get(0),
        country.unwrap_or_else(|| "CN".into()),
        party.unwrap_or_else(|| {
            operator
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(3)
                .collect::<String>()
                .to_uppercase()
        }),
    ))
}

async fn credentials(State(db): State<Db>, Path(operator): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = partner(&db, &operator, &headers).await {
        return r.into_response();
    }
    let (name, country, party_id) = match party(&db, &operator).await {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    envelope(
        StatusCode::OK,
        1000,
        "Success",
        json!({
            "token": "(issued by the operator; not shown again)",
            "url": format!("{}/versions", base(&headers, &operator)),
            "roles": [{"role": "CPO", "party_id": party_id, "country_code": country, "business_details": {"name": name}}]
        }),
    )
}

#[derive(Deserialize, Default)]
struct Page {
    offset: Option<i64>,
    limit: Option<i64>,
    date_from: Option<String>,
    date_to: Option<String>,
}

struct Window {
    offset: i64,
    limit: i64,
    from: String,
    to: String,
}

fn window(page: &Page) -> Result<Window, Refusal> {
    let instant = |text: &Option<String>, default: &str| -> Result<String, Refusal> {
        match text {
            None => Ok(default.to_string()),
            Some(t) => chrono::DateTime::parse_from_rfc3339(t)
                .map(|at| yrd_kernel::time::to_db(at.with_timezone(&chrono::Utc)))
                .map_err(|_| refused(StatusCode::BAD_REQUEST, "date_from and date_to are RFC 3339 date-times")),
        }
    };
    let offset = page.offset.unwrap_or(0);
    let limit = page.limit.unwrap_or(MAX_LIMIT);
    if offset < 0 || !(1..=MAX_LIMIT).contains(&limit) {
        return Err(refused(StatusCode::BAD_REQUEST, "offset ≥ 0 and limit 1–100"));
    }
    Ok(Window {
        offset,
        limit,
        from: instant(&page.date_from, "0000")?,
        to: instant(&page.date_to, "9999")?,
    })
}

/// A page of objects with OCPI's paging headers.
fn paged(headers: &HeaderMap, operator: &str, module: &str, window: &Window, total: i64, data: Vec<Value>) -> Response {
    let shown = data.len() as i64;
    let mut response = envelope(StatusCode::OK, 1000, "Success", Value::Array(data));
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        h.insert("x-total-count", v);
    }
    if let Ok(v) = HeaderValue::from_str(&MAX_LIMIT.to_string()) {
        h.insert("x-limit", v);
    }
    if window.offset + shown < total
        && let Ok(v) = HeaderValue::from_str(&format!(
            "<{}/{VERSION}/{module}?offset={}&limit={}>; rel=\"next\"",
            base(headers, operator),
            window.offset + shown,
            window.limit
        ))
    {
        h.insert(header::LINK, v);
    }
    response
}

fn ocpi_time(stored: &str) -> String {
    stored.get(..19).map_or_else(|| stored.to_string(), |s| format!("{s}Z"))
}

fn evse_status(status: &str) -> &'static str {
    match status {
        "Available" => "AVAILABLE",
        "Charging" | "Preparing" | "SuspendedEV" | "SuspendedEVSE" | "Finishing" => "CHARGING",
        "Reserved" => "RESERVED",
        "Faulted" => "OUTOFORDER",
        "Unavailable" => "INOPERATIVE",
        _ => "UNKNOWN",
    }
}

fn connector_standard(standard: &str) -> (&'static str, &'static str) {
    match standard {
        "GB/T DC" => ("GBT_DC", "DC"),
        "GB/T AC" => ("GBT_AC", "AC_1_PHASE"),
        "CCS2" => ("IEC_62196_T2_COMBO", "DC"),
        "Type 2" => ("IEC_62196_T2", "AC_3_PHASE"),
        _ => ("CHADEMO", "DC"),
    }
}

async fn locations(
    State(db): State<Db>,
    Path(operator): Path<String>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Response {
    if let Err(r) = partner(&db, &operator, &headers).await {
        return r.into_response();
    }
    let (_, country, party_id) = match party(&db, &operator).await {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let window = match window(&page) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let filter = "operator_id = $1 AND public = 1 AND updated_at >= $2 AND updated_at < $3";
    let total = sqlx::query(&format!("SELECT COUNT(*) FROM ch_stations WHERE {filter}"))
        .bind(&operator)
        .bind(&window.from)
        .bind(&window.to)
        .fetch_one(db.pool())
        .await
        .map(|r| r.get::<i64, _>(0))
        .unwrap_or(0);
    let ids: Vec<String> = sqlx::query(&format!(
        "SELECT id FROM ch_stations WHERE {filter} ORDER BY updated_at, id LIMIT $4 OFFSET $5"
    ))
    .bind(&operator)
    .bind(&window.from)
    .bind(&window.to)
    .bind(window.limit)
    .bind(window.offset)
    .fetch_all(db.pool())
    .await
    .map(|rows| rows.iter().map(|r| r.get(0)).collect())
    .unwrap_or_default();
    let mut data = Vec::new();
    for id in ids {
        let Ok(Some(station)) = store::station(&db, &id).await else {
            continue;
        };
        let updated = station.last_seen.clone().unwrap_or_else(now_db);
        let evses: Vec<Value> = station
            .connectors
            .iter()
            .map(|c| {
                let (standard, power_type) = connector_standard(&c.standard);
                json!({
                    "uid": format!("{}-{}", station.id, c.connector_id),
                    "evse_id": format!("{country}*{party_id}*E{}*{}", station.id.replace(['-', '_', '.'], ""), c.connector_id),
                    "status": evse_status(&c.status),
                    "connectors": [{
                        "id": c.connector_id.to_string(), "standard": standard, "format": "CABLE", "power_type": power_type,
                        "max_voltage": if power_type == "DC" { 750 } else { 220 },
                        "max_amperage": ((c.max_kw * 1000.0) / if power_type == "DC" { 750.0 } else { 220.0 }).round() as i64,
                        "max_electric_power": (c.max_kw * 1000.0).round() as i64,
                        "last_updated": ocpi_time(&c.updated_at)
                    }],
                    "last_updated": ocpi_time(&c.updated_at)
                })
            })
            .collect();
        data.push(json!({
            "country_code": country, "party_id": party_id, "id": station.id, "publish": true,
            "name": station.name, "address": station.address,
            "city": yrd_kernel::JurisdictionCode::parse(&station.jurisdiction).map(|c| c.jurisdiction().name_zh.clone()).unwrap_or_default(),
            "country": "CHN",
            "coordinates": {"latitude": format!("{:.6}", station.lat), "longitude": format!("{:.6}", station.lon)},
            "evses": evses, "time_zone": "Asia/Shanghai", "last_updated": ocpi_time(&updated)
        }));
    }
    paged(&headers, &operator, "locations", &window, total, data)
}

async fn sessions(
    State(db): State<Db>,
    Path(operator): Path<String>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Response {
    records(db, operator, headers, page, "sessions").await
}

async fn cdrs(
    State(db): State<Db>,
    Path(operator): Path<String>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Response {
    records(db, operator, headers, page, "cdrs").await
}

/// Sessions (active and completed) or CDRs of the operator's stations.
async fn records(db: Db, operator: String, headers: HeaderMap, page: Page, module: &str) -> Response {
    if let Err(r) = partner(&db, &operator, &headers).await {
        return r.into_response();
    }
    let (_, country, party_id) = match party(&db, &operator).await {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let window = match window(&page) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let cdrs_only = module == "cdrs";
    let filter = format!(
        "s.operator_id = $1 AND COALESCE(x.stopped_at, x.started_at) >= $2 AND COALESCE(x.stopped_at, x.started_at) < $3{}",
        if cdrs_only { " AND c.session_id IS NOT NULL" } else { "" }
    );
    let from =
        "FROM ch_sessions x JOIN ch_stations s ON s.id = x.station_id LEFT JOIN ch_cdrs c ON c.session_id = x.id";
    let total = sqlx::query(&format!("SELECT COUNT(*) {from} WHERE {filter}"))
        .bind(&operator)
        .bind(&window.from)
        .bind(&window.to)
        .fetch_one(db.pool())
        .await
        .map(|r| r.get::<i64, _>(0))
        .unwrap_or(0);
    let rows = sqlx::query(&format!(
        "SELECT x.id, x.station_id, x.connector_id, x.id_tag, x.started_at, x.stopped_at, x.meter_start, x.meter_last, x.status, \
         c.energy_wh, c.energy_fen, c.service_fen, c.idle_fen, c.total_fen, s.name, s.address, s.lon, s.lat {from} WHERE {filter} \
         ORDER BY COALESCE(x.stopped_at, x.started_at), x.id LIMIT $4 OFFSET $5"
    ))
    .bind(&operator)
    .bind(&window.from)
    .bind(&window.to)
    .bind(window.limit)
    .bind(window.offset)
    .fetch_all(db.pool())
    .await
    .unwrap_or_default();
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            let id: i64 = r.get(0);
            let station: String = r.get(1);
            let connector: i64 = r.get(2);
            let id_tag: String = r.get(3);
            let started: String = r.get(4);
            let stopped: Option<String> = r.get(5);
            let token = json!({"country_code": country, "party_id": party_id, "uid": id_tag, "type": "RFID", "contract_id": id_tag});
            let last = ocpi_time(stopped.as_deref().unwrap_or(&started));
            if cdrs_only {
                let energy: i64 = r.get::<Option<i64>, _>(9).unwrap_or_default();
                let total_fen: i64 = r.get::<Option<i64>, _>(13).unwrap_or_default();
                let yuan = |fen: i64| fen as f64 / 100.0;
                json!({
                    "country_code": country, "party_id": party_id, "id": id.to_string(),
                    "start_date_time": ocpi_time(&started), "end_date_time": last,
                    "cdr_token": token, "auth_method": "WHITELIST", "currency": "CNY",
                    "cdr_location": {
                        "id": station, "name": r.get::<String, _>(14), "address": r.get::<String, _>(15), "city": "", "country": "CHN",
                        "coordinates": {"latitude": format!("{:.6}", r.get::<f64, _>(17)), "longitude": format!("{:.6}", r.get::<f64, _>(16))},
                        "evse_uid": format!("{station}-{connector}"), "evse_id": format!("{station}-{connector}"), "connector_id": connector.to_string(),
                        "connector_standard": "GBT_DC", "connector_format": "CABLE", "connector_power_type": "DC"
                    },
                    "charging_periods": [{"start_date_time": ocpi_time(&started), "dimensions": [{"type": "ENERGY", "volume": energy as f64 / 1000.0}]}],
                    "total_cost": {"excl_vat": yuan(total_fen)},
                    "total_energy": energy as f64 / 1000.0,
                    "total_energy_cost": {"excl_vat": yuan(r.get::<Option<i64>, _>(10).unwrap_or_default() + r.get::<Option<i64>, _>(11).unwrap_or_default())},
                    "total_parking_cost": {"excl_vat": yuan(r.get::<Option<i64>, _>(12).unwrap_or_default())},
                    "total_time": stopped.as_deref().and_then(yrd_kernel::time::from_db).zip(yrd_kernel::time::from_db(&started)).map_or(0.0, |(end, start)| (end - start).num_seconds() as f64 / 3600.0),
                    "last_updated": last
                })
            } else {
                let kwh = (r.get::<i64, _>(7) - r.get::<i64, _>(6)).max(0) as f64 / 1000.0;
                let active = r.get::<String, _>(8) == "active";
                let mut session = json!({
                    "country_code": country, "party_id": party_id, "id": id.to_string(),
                    "start_date_time": ocpi_time(&started), "kwh": kwh, "cdr_token": token, "auth_method": "WHITELIST",
                    "location_id": station, "evse_uid": format!("{station}-{connector}"), "connector_id": connector.to_string(),
                    "currency": "CNY", "status": if active { "ACTIVE" } else { "COMPLETED" }, "last_updated": last
                });
                if let Some(end) = &stopped {
                    session["end_date_time"] = json!(ocpi_time(end));
                }
                session
            }
        })
        .collect();
    paged(&headers, &operator, module, &window, total, data)
}
