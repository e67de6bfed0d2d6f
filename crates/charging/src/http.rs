//! The charging API under `/api/v1/charging`: the driver's finder, operators' stations,
//! tariffs, tokens, remote commands and charge detail records, and network statistics.

use crate::central::{Central, CommandError, CommandRoute};
use crate::finder::Filter;
use crate::pricing::Tariff;
use crate::store::{self, Cdr, CityStat, MODULE, Station, StationInput};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use yrd_kernel::AccessLevel;
use yrd_web::{ApiError, ApiResult, ApiRoutes, Auth, Doc, Json, Query};

pub fn routes(central: Arc<Central>, commands: Arc<dyn CommandRoute>) -> ApiRoutes {
    let finder = central.clone();
    let saver = central.clone();
    let routes = ApiRoutes::new()
        .get(
            "/nearby",
            Doc::new("The nearest matching connectors, nearest first, from the live index")
                .query::<NearbyQuery>()
                .response::<Vec<NearbyConnector>>()
                .public(),
            move |Query(query): Query<NearbyQuery>| {
                let central = finder.clone();
                async move { nearby(&central, query).await }
            },
        )
        .get(
            "/stats",
            Doc::new("Stations, connectors, their status, sessions, energy and swap stations by city or province")
                .query::<StatsQuery>()
                .response::<Vec<CityStat>>()
                .public(),
            stats,
        )
        .put(
            "/operators/{id}",
            Doc::new("Register or rename an operator (charging admin)").body::<OperatorInput>(),
            put_operator,
        )
        .put(
            "/operators/{id}/staff/{login}",
            Doc::new("Make a user staff of an operator (charging admin)"),
            put_staff,
        )
        .get(
            "/stations",
            Doc::new("An operator's stations with live connector status (operator staff; charging read sees all)")
                .response::<Vec<Station>>(),
            list_stations,
        )
        .put(
            "/stations/{id}",
            Doc::new("Register or change one of the operator's stations; its key is stored hashed")
                .body::<StationInput>(),
            move |auth: Auth, Path(id): Path<String>, Json(input): Json<StationInput>| {
                let central = saver.clone();
                async move { put_station(auth, id, input, &central).await }
            },
        )
        .put(
            "/tariff",
            Doc::new("The operator's tariff, in fen").body::<Tariff>(),
            put_tariff,
        )
        .put(
            "/tokens/{id_tag}",
            Doc::new("An identification token (RFID card or app account) of the operator").body::<TokenInput>(),
            put_token,
        )
        .post(
            "/stations/{id}/commands",
            Doc::new("Send an OCPP command to a connected station of the operator and wait for its answer (30 s)")
                .body::<CommandInput>()
                .response::<Value>(),
            move |auth: Auth, Path(id): Path<String>, Json(input): Json<CommandInput>| {
                let route = commands.clone();
                async move { command(auth, id, input, route.as_ref()).await }
            },
        )
        .get(
            "/cdrs",
            Doc::new("Charge detail records of the operator, newest first")
                .query::<CdrQuery>()
                .response::<Vec<Cdr>>(),
            list_cdrs,
        )
        .post(
            "/ocpi/partners",
            Doc::new("Register a roaming partner of the operator: its OCPI 2.2.1 credentials token for /ocpi/{operator}/versions, shown once")
                .body::<PartnerInput>()
                .created::<PartnerToken>(),
            register_partner,
        );
    crate::swap_http::add(routes, central)
}

/// The operator the caller acts for; `None` for a reader of the whole network.
pub(crate) async fn operator_scope(auth: &Auth) -> ApiResult<Option<String>> {
    let user = auth.require_user()?;
    if let Some(operator) = store::operator_of(auth.db(), &user.login).await? {
        return Ok(Some(operator));
    }
    auth.require(MODULE, AccessLevel::Read, None).await?;
    Ok(None)
}

pub(crate) async fn own_operator(auth: &Auth) -> ApiResult<String> {
    let user = auth.require_user()?;
    store::operator_of(auth.db(), &user.login)
        .await?
        .ok_or_else(|| ApiError::Forbidden(format!("'{}' is not staff of a charging operator", user.login)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NearbyQuery {
    pub lon: f64,
    pub lat: f64,
    /// Default 5, at most 100.
    pub radius_km: Option<f64>,
    pub min_kw: Option<f64>,
    /// A connector standard, e.g. `GB/T DC`.
    pub connector: Option<String>,
    pub operator: Option<String>,
    /// Only connectors free now.
    pub available: Option<bool>,
    /// Default 20, at most 200.
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NearbyConnector {
    pub distance_km: f64,
    pub station_id: String,
    pub connector_id: u32,
    pub operator_id: String,
    pub lon: f64,
    pub lat: f64,
    pub max_kw: f64,
    pub standard: String,
    pub status: String,
}

/// A finder's place and radius (km, `default` when not given), or the field that is off.
pub(crate) fn check_place(lon: f64, lat: f64, radius_km: Option<f64>, default: f64) -> ApiResult<f64> {
    if !(-180.0..=180.0).contains(&lon) {
        return Err(ApiError::invalid("lon", "-180 to 180"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(ApiError::invalid("lat", "-90 to 90"));
    }
    let radius = radius_km.unwrap_or(default);
    if !(0.0..=crate::finder::MAX_RADIUS_KM).contains(&radius) {
        return Err(ApiError::invalid("radius_km", "0 to 100"));
    }
    Ok(radius)
}

async fn nearby(central: &Central, query: NearbyQuery) -> ApiResult<axum::Json<Vec<NearbyConnector>>> {
    let radius = check_place(query.lon, query.lat, query.radius_km, 5.0)?;
    if let Some(standard) = &query.connector
        && !store::STANDARDS.contains(&standard.as_str())
    {
        return Err(ApiError::invalid(
            "connector",
            format!("one of {}", store::STANDARDS.join(", ")),
        ));
    }
    let filter = Filter {
        min_kw: query.min_kw,
        standard: query.connector,
        operator: query.operator,
        available_only: query.available.unwrap_or(false),
    };
    let found = central
        .nearby(
            query.lon,
            query.lat,
            radius,
            &filter,
            query.limit.unwrap_or(20).min(200),
        )
        .await?;
    Ok(axum::Json(
        found
            .into_iter()
            .map(|(d, p)| NearbyConnector {
                distance_km: (d * 1000.0).round() / 1000.0,
                station_id: p.station_id,
                connector_id: p.connector_id,
                operator_id: p.operator_id,
                lon: p.lon,
                lat: p.lat,
                max_kw: p.max_kw,
                standard: p.standard,
                status: p.status,
            })
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// `province` for the four provinces' totals; by city otherwise.
    pub by: Option<String>,
}

async fn stats(auth: Auth, Query(query): Query<StatsQuery>) -> ApiResult<axum::Json<Vec<CityStat>>> {
    let cities = store::stats(auth.db()).await?;
    match query.by.as_deref() {
        None | Some("city") => Ok(axum::Json(cities)),
        Some("province") => Ok(axum::Json(store::by_province(&cities))),
        Some(_) => Err(ApiError::invalid("by", "city or province")),
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorInput {
    pub name: String,
}

async fn put_operator(auth: Auth, Path(id): Path<String>, Json(input): Json<OperatorInput>) -> ApiResult<StatusCode> {
    auth.require(MODULE, AccessLevel::Admin, None).await?;
    store::save_operator(auth.db(), &auth.actor(), &id, &input.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_staff(auth: Auth, Path((id, login)): Path<(String, String)>) -> ApiResult<StatusCode> {
    auth.require(MODULE, AccessLevel::Admin, None).await?;
    if yrd_auth::find_user(auth.db(), &login)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::invalid("login", format!("no user '{login}'")));
    }
    store::save_staff(auth.db(), &auth.actor(), &login, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_stations(auth: Auth) -> ApiResult<axum::Json<Vec<Station>>> {
    let scope = operator_scope(&auth).await?;
    Ok(axum::Json(store::stations(auth.db(), scope.as_deref(), 5_000).await?))
}

async fn put_station(auth: Auth, id: String, input: StationInput, central: &Central) -> ApiResult<StatusCode> {
    let operator = own_operator(&auth).await?;
    store::save_station(auth.db(), &auth.actor(), &operator, &id, &input).await?;
    central.index_station(&id).await?;
    central.index_swap_station(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_tariff(auth: Auth, Json(tariff): Json<Tariff>) -> ApiResult<StatusCode> {
    let operator = own_operator(&auth).await?;
    store::save_tariff(auth.db(), &auth.actor(), &operator, &tariff).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// Accepted, Blocked or Expired
    pub status: String,
}

async fn put_token(auth: Auth, Path(id_tag): Path<String>, Json(input): Json<TokenInput>) -> ApiResult<StatusCode> {
    let operator = own_operator(&auth).await?;
    store::save_token(auth.db(), &auth.actor(), &operator, &id_tag, &input.status).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandInput {
    /// OCPP 1.6: RemoteStartTransaction, RemoteStopTransaction, Reset, UnlockConnector,
    /// ChangeAvailability, ChangeConfiguration, GetConfiguration or ClearCache.
    /// OCPP 2.0.1: RequestStartTransaction, RequestStopTransaction, Reset,
    /// UnlockConnector, ChangeAvailability, GetVariables or SetVariables; OCPP 2.1 adds
    /// RequestBatterySwap. The payload is checked against the official schema first.
    pub action: String,
    /// The request payload. For RemoteStopTransaction `{"connectorId": n}`, and for
    /// RequestStopTransaction `{"evseId": n}`, may stand for the active session's id.
    pub payload: Value,
}

async fn command(
    auth: Auth,
    station_id: String,
    input: CommandInput,
    route: &dyn CommandRoute,
) -> ApiResult<axum::Json<Value>> {
    let operator = own_operator(&auth).await?;
    let not_found = || ApiError::NotFound(format!("station {station_id}"));
    let station = store::station(auth.db(), &station_id).await?.ok_or_else(not_found)?;
    if station.operator_id != operator {
        // Another operator's station answers like an unknown one; the attempt is audited.
        let _ = auth
            .deny(yrd_auth::Denied {
                actor: auth.actor(),
                module: MODULE.into(),
                level: AccessLevel::Write,
                jurisdiction: yrd_kernel::JurisdictionCode::parse(&station.jurisdiction).ok(),
            })
            .await;
        return Err(not_found());
    }
    let Some(version) = route.version_of(&station_id).await else {
        return Err(ApiError::Conflict(format!("station {station_id} is not connected")));
    };
    let actions = version.remote_actions();
    if !actions.contains(&input.action.as_str()) {
        return Err(ApiError::invalid(
            "action",
            format!(
                "for an {} station, one of {}",
                version.subprotocol(),
                actions.join(", ")
            ),
        ));
    }
    if !input.payload.is_object() {
        return Err(ApiError::invalid("payload", "a JSON object"));
    }
    let mut payload = input.payload;
    if input.action == "RemoteStopTransaction" && payload.get("transactionId").is_none() {
        let connector = payload
            .get("connectorId")
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok());
        let session = store::active_session(auth.db(), &station_id, connector)
            .await?
            .ok_or_else(|| ApiError::Conflict(format!("station {station_id} has no active session to stop")))?;
        payload = serde_json::json!({"transactionId": session});
    }
    if input.action == "RequestStopTransaction" && payload.get("transactionId").is_none() {
        let evse = payload
            .get("evseId")
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok());
        let session = store::active_session(auth.db(), &station_id, evse)
            .await?
            .ok_or_else(|| ApiError::Conflict(format!("station {station_id} has no active session to stop")))?;
        let transaction = store::ocpp_tx_of(auth.db(), session).await?.unwrap_or_default();
        payload = serde_json::json!({"transactionId": transaction});
    }
    // The station would refuse a request outside the official schema; say so here,
    // naming the field, before anything is sent or audited.
    if let Some(schema) = version.request_schema(&input.action)
        && let Err(violation) = schema.validate(&payload)
    {
        let field = if violation.path.is_empty() {
            "payload".to_string()
        } else {
            format!("payload.{}", violation.path)
        };
        return Err(ApiError::invalid(&field, violation.message));
    }
    let mut tx = auth.db().begin().await?;
    yrd_audit::log(
        &mut tx,
        MODULE,
        &auth.actor(),
        "command.send",
        station_id.clone(),
        yrd_kernel::JurisdictionCode::parse(&station.jurisdiction).ok(),
        serde_json::json!({"action": input.action, "payload": payload}),
    )
    .await?;
    tx.commit().await?;
    match route.deliver(&station_id, &input.action, payload).await {
        Ok(answer) => Ok(axum::Json(answer)),
        Err(CommandError::NotConnected(_)) => Err(ApiError::Conflict(format!("station {station_id} is not connected"))),
        Err(error @ CommandError::Timeout(..)) => Err(ApiError::Unavailable(error.to_string())),
        Err(error @ CommandError::Refused { .. }) => Err(ApiError::Conflict(error.to_string())),
        Err(error @ CommandError::InvalidReply { .. }) => Err(ApiError::BadGateway(error.to_string())),
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CdrQuery {
    /// `csv` for a spreadsheet export.
    pub format: Option<String>,
    pub limit: Option<i64>,
}

async fn list_cdrs(auth: Auth, Query(query): Query<CdrQuery>) -> ApiResult<axum::response::Response> {
    let scope = operator_scope(&auth).await?;
    let cdrs = store::cdrs(
        auth.db(),
        scope.as_deref(),
        query.limit.unwrap_or(1_000).clamp(1, 100_000),
    )
    .await?;
    if query.format.as_deref() == Some("csv") {
        let mut out = String::from(
            "session_id,operator_id,station_id,jurisdiction,started_at,stopped_at,energy_wh,energy_fen,service_fen,idle_fen,total_fen\n",
        );
        for c in &cdrs {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                c.session_id,
                c.operator_id,
                c.station_id,
                c.jurisdiction,
                c.started_at,
                c.stopped_at,
                c.charge.energy_wh,
                c.charge.energy_fen,
                c.charge.service_fen,
                c.charge.idle_fen,
                c.charge.total_fen
            ));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    Ok(axum::Json(cdrs).into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerInput {
    pub name: String,
    /// ISO 3166-1 alpha-2, e.g. `CN`.
    pub country_code: String,
    /// The partner's 3-character party id.
    pub party_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PartnerToken {
    /// Send as `Authorization: Token <base64 of this>`; it is not shown again.
    pub token: String,
    pub versions_url: String,
}

async fn register_partner(
    auth: Auth,
    Json(input): Json<PartnerInput>,
) -> ApiResult<(StatusCode, axum::Json<PartnerToken>)> {
    let operator = own_operator(&auth).await?;
    let token = crate::ocpi::register_partner(
        auth.db(),
        &auth.actor(),
        &operator,
        &input.name,
        &input.country_code,
        &input.party_id,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(PartnerToken {
            token,
            versions_url: format!("/ocpi/{operator}/versions"),
        }),
    ))
}
