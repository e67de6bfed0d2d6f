//! The transit API, under `/api/v1/transit`.

use crate::network::{JourneyView, Station, clock};
use crate::service::{self, FeedInfo, MODULE, Shared};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use yrd_kernel::AccessLevel;
use yrd_web::{ApiError, ApiResult, ApiRoutes, Auth, Doc, Query};

pub fn routes(shared: Shared) -> ApiRoutes {
    let s1 = shared.clone();
    let s2 = shared.clone();
    let s3 = shared.clone();
    let s4 = shared;
    ApiRoutes::new()
        .get("/stations", Doc::new("Search stations by name (中文 or English) or id").query::<StationQuery>().response::<Vec<Station>>().public(), move |auth: Auth, q: Query<StationQuery>| stations(State(s1.clone()), auth, q))
        .get(
            "/journeys",
            Doc::new("Plan a journey: the Pareto set of (arrival, transfers), or every good departure in a window")
                .query::<JourneyQuery>()
                .response::<Vec<JourneyView>>()
                .public(),
            move |auth: Auth, q: Query<JourneyQuery>| journeys(State(s2.clone()), auth, q),
        )
        .get("/loop", Doc::new("The G8388 loop line: its stations in order with times").response::<Vec<LoopStop>>().public(), move |auth: Auth| loop_line(State(s3.clone()), auth))
        .get("/feeds", Doc::new("Loaded GTFS feeds").response::<Vec<FeedInfo>>().public(), feeds)
        .get("/feeds/{id}/gtfs.zip", Doc::new("Export a feed as a GTFS zip").produces("application/zip").public(), export)
        .post(
            "/realtime",
            Doc::new("Post a GTFS-Realtime TripUpdates feed (protobuf body): delays and cancellations apply to the next query")
                .describe("Needs `transit` write for the whole region (the rail operator's planners)."),
            move |auth: Auth, body: Bytes| post_realtime(State(s4.clone()), auth, body),
        )
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StationQuery {
    /// Part of a name in either language, or an id.
    #[serde(default)]
    pub q: String,
}

async fn stations(
    State(shared): State<Shared>,
    auth: Auth,
    Query(q): Query<StationQuery>,
) -> ApiResult<axum::Json<Vec<Station>>> {
    let network = shared.network(auth.db()).await?;
    Ok(axum::Json(network.search(&q.q).into_iter().cloned().collect()))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JourneyQuery {
    /// Station id (e.g. `SHH` or `yrd-rail:SHH`).
    pub from: String,
    pub to: String,
    /// The service day, YYYY-MM-DD.
    pub date: NaiveDate,
    /// Departure after this time, HH:MM.
    pub time: String,
    /// Minutes: also every later departure within this window that is not dominated.
    pub window: Option<u32>,
}

pub fn parse_clock(text: &str) -> Option<i32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..48).contains(&h) && (0..60).contains(&m) && m.to_string().len() <= 2).then_some(h * 3600 + m * 60)
}

pub async fn plan(shared: &Shared, auth: &Auth, q: &JourneyQuery) -> ApiResult<Vec<JourneyView>> {
    let network = shared.network(auth.db()).await?;
    let from = network
        .station(&q.from)
        .ok_or_else(|| ApiError::invalid("from", format!("no station '{}'", q.from)))?;
    let to = network
        .station(&q.to)
        .ok_or_else(|| ApiError::invalid("to", format!("no station '{}'", q.to)))?;
    let time = parse_clock(&q.time).ok_or_else(|| ApiError::invalid("time", "HH:MM"))?;
    if q.window.is_some_and(|w| w > 24 * 60) {
        return Err(ApiError::invalid("window", "at most 1440 minutes"));
    }
    if from == to {
        return Err(ApiError::invalid("to", "the same station as from"));
    }
    let (earliest, latest) = (
        NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date"),
        NaiveDate::from_ymd_opt(2199, 12, 31).expect("a date"),
    );
    if q.date < earliest || q.date > latest {
        return Err(ApiError::invalid("date", "a service day from 1970 to 2199"));
    }
    Ok(network.journeys(from, to, q.date, time, q.window.map(|w| w as i32 * 60)))
}

async fn journeys(
    State(shared): State<Shared>,
    auth: Auth,
    Query(q): Query<JourneyQuery>,
) -> ApiResult<axum::Json<Vec<JourneyView>>> {
    Ok(axum::Json(plan(&shared, &auth, &q).await?))
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LoopStop {
    pub station: Station,
    pub arrival: String,
    pub departure: String,
}

pub const LOOP_FEED: &str = "yrd-rail";
pub const LOOP_TRIP: &str = "G8388-daily";

pub async fn loop_stops(shared: &Shared, auth: &Auth) -> ApiResult<Vec<LoopStop>> {
    let network = shared.network(auth.db()).await?;
    Ok(network
        .trip_stops(LOOP_FEED, LOOP_TRIP)
        .into_iter()
        .map(|(station, arrival, departure)| LoopStop {
            station: station.clone(),
            arrival: clock(arrival),
            departure: clock(departure),
        })
        .collect())
}

async fn loop_line(State(shared): State<Shared>, auth: Auth) -> ApiResult<axum::Json<Vec<LoopStop>>> {
    Ok(axum::Json(loop_stops(&shared, &auth).await?))
}

async fn feeds(auth: Auth) -> ApiResult<axum::Json<Vec<FeedInfo>>> {
    Ok(axum::Json(service::feeds(auth.db()).await?))
}

async fn export(auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let files = service::feed_files(auth.db(), &id).await?;
    if files.is_empty() {
        return Err(ApiError::NotFound(format!("feed {id}")));
    }
    let zip = crate::gtfs::zip_files(&files);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.zip\""),
            ),
        ],
        zip,
    )
        .into_response())
}

async fn post_realtime(
    State(shared): State<Shared>,
    auth: Auth,
    body: Bytes,
) -> ApiResult<axum::Json<serde_json::Value>> {
    auth.require(MODULE, AccessLevel::Write, None).await?;
    let network = shared.network(auth.db()).await?;
    let trips = service::post_realtime(auth.db(), &auth.actor(), &body, &network)
        .await
        .map_err(|e| ApiError::invalid("body", e))?;
    Ok(axum::Json(serde_json::json!({"trips": trips})))
}
