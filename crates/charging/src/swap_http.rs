//! The battery-swap part of the charging API: the driver's swap-station finder, an
//! operator's pack inventory, and swap records.

use crate::central::Central;
use crate::finder::SwapFilter;
use crate::http::{check_place, operator_scope, own_operator};
use crate::store::{self, MODULE};
use crate::swap::{self, Pack, PackInput, Swap};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use yrd_kernel::AccessLevel;
use yrd_web::{ApiError, ApiResult, ApiRoutes, Auth, Doc, Json, Query};

pub(crate) fn add(routes: ApiRoutes, central: Arc<Central>) -> ApiRoutes {
    let finder = central.clone();
    let stocker = central;
    routes
        .get(
            "/swap-stations/nearby",
            Doc::new(
                "The nearest battery-swap stations for a vehicle model, with their packs ready, from the live index",
            )
            .query::<SwapNearbyQuery>()
            .response::<Vec<NearbySwapStation>>()
            .public(),
            move |Query(query): Query<SwapNearbyQuery>| {
                let central = finder.clone();
                async move { nearby(&central, query).await }
            },
        )
        .get(
            "/stations/{id}/packs",
            Doc::new("The packs in a swap station's slots (its operator's staff; charging read sees all)")
                .response::<Vec<Pack>>(),
            list_packs,
        )
        .put(
            "/stations/{id}/packs/{serial}",
            Doc::new("Put a pack into a slot of one of the operator's swap stations (stocking it)").body::<PackInput>(),
            move |auth: Auth, Path((id, serial)): Path<(String, String)>, Json(input): Json<PackInput>| {
                let central = stocker.clone();
                async move {
                    let operator = own_operator(&auth).await?;
                    swap::save_pack(auth.db(), &auth.actor(), &operator, &id, &serial, &input).await?;
                    central.index_swap_station(&id).await?;
                    Ok::<_, ApiError>(StatusCode::NO_CONTENT)
                }
            },
        )
        .get(
            "/swaps",
            Doc::new("Battery swaps of the operator, newest first (`format=csv` for an export)")
                .query::<SwapQuery>()
                .response::<Vec<Swap>>(),
            list_swaps,
        )
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwapNearbyQuery {
    pub lon: f64,
    pub lat: f64,
    /// Default 10, at most 100.
    pub radius_km: Option<f64>,
    /// Only stations that take this model's packs, e.g. `NIO ET5` (any case).
    pub vehicle_model: Option<String>,
    pub operator: Option<String>,
    /// A pack is ready from this state of charge, % (default 90).
    pub min_soc: Option<f64>,
    /// Only online stations with a pack ready now.
    pub ready: Option<bool>,
    /// Default 20, at most 200.
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NearbySwapStation {
    pub distance_km: f64,
    pub station_id: String,
    pub name: String,
    pub operator_id: String,
    pub lon: f64,
    pub lat: f64,
    pub slots: u32,
    pub packs: usize,
    /// Packs charged to at least `min_soc`.
    pub packs_ready: usize,
    pub online: bool,
    pub vehicle_models: Vec<String>,
}

async fn nearby(central: &Central, query: SwapNearbyQuery) -> ApiResult<axum::Json<Vec<NearbySwapStation>>> {
    let radius = check_place(query.lon, query.lat, query.radius_km, 10.0)?;
    let min_soc = query.min_soc.unwrap_or(90.0);
    if !(0.0..=100.0).contains(&min_soc) {
        return Err(ApiError::invalid("min_soc", "0 to 100 %"));
    }
    let filter = SwapFilter {
        vehicle_model: query.vehicle_model,
        operator: query.operator,
        min_soc,
        ready_only: query.ready.unwrap_or(false),
    };
    let found = central
        .swap_nearby(
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
            .map(|(d, p)| NearbySwapStation {
                distance_km: (d * 1000.0).round() / 1000.0,
                packs: p.packs.len(),
                packs_ready: p.ready(min_soc),
                station_id: p.station_id,
                name: p.name,
                operator_id: p.operator_id,
                lon: p.lon,
                lat: p.lat,
                slots: p.slots,
                online: p.online,
                vehicle_models: p.vehicle_models,
            })
            .collect(),
    ))
}

async fn list_packs(auth: Auth, Path(id): Path<String>) -> ApiResult<axum::Json<Vec<Pack>>> {
    let scope = operator_scope(&auth).await?;
    let not_found = || ApiError::NotFound(format!("station {id}"));
    let station = store::station(auth.db(), &id).await?.ok_or_else(not_found)?;
    if scope.as_ref().is_some_and(|operator| *operator != station.operator_id) {
        // Another operator's inventory answers like an unknown station; audited.
        let _ = auth
            .deny(yrd_auth::Denied {
                actor: auth.actor(),
                module: MODULE.into(),
                level: AccessLevel::Read,
                jurisdiction: yrd_kernel::JurisdictionCode::parse(&station.jurisdiction).ok(),
            })
            .await;
        return Err(not_found());
    }
    Ok(axum::Json(swap::packs(auth.db(), &id).await?))
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwapQuery {
    /// `csv` for a spreadsheet export.
    pub format: Option<String>,
    pub limit: Option<i64>,
}

async fn list_swaps(auth: Auth, Query(query): Query<SwapQuery>) -> ApiResult<axum::response::Response> {
    let scope = operator_scope(&auth).await?;
    let swaps = swap::swaps(
        auth.db(),
        scope.as_deref(),
        query.limit.unwrap_or(1_000).clamp(1, 100_000),
    )
    .await?;
    if query.format.as_deref() == Some("csv") {
        let mut out = String::from(
            "swap_id,operator_id,station_id,jurisdiction,request_id,pack_in,soc_in,pack_out,soc_out,status,fee_fen,started_at,finished_at\n",
        );
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let number = |v: Option<f64>| v.map(|n| n.to_string()).unwrap_or_default();
        for s in &swaps {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                s.id,
                s.operator_id,
                s.station_id,
                s.jurisdiction,
                s.request_id,
                text(&s.pack_in),
                number(s.soc_in),
                text(&s.pack_out),
                number(s.soc_out),
                s.status,
                s.fee_fen,
                s.started_at,
                text(&s.finished_at)
            ));
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response());
    }
    Ok(axum::Json(swaps).into_response())
}
