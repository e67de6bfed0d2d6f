//! The charging console: the driver's finder (connectors and swap stations) with
//! network statistics, and an operator's stations with live connector status and the
//! packs in their swap slots.

use crate::central::Central;
use crate::finder::{Filter, SwapFilter};
use crate::store::{self, MODULE};
use axum::Router;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;
use std::sync::Arc;
use yrd_kernel::{AccessLevel, JurisdictionCode, JurisdictionLevel, jurisdictions};
use yrd_web::console::{Page, badge, table};

pub fn routes(central: Arc<Central>) -> Router {
    Router::new()
        .route(
            "/",
            get(move |page: Page, query: Query<FinderQuery>| {
                let central = central.clone();
                async move { finder_page(page, query, &central).await }
            }),
        )
        .route("/stations", get(stations_page))
}

fn place_name(page: &Page, code: &str) -> String {
    JurisdictionCode::parse(code)
        .map(|c| {
            page.lang
                .pick(&c.jurisdiction().name_zh, &c.jurisdiction().name_en)
                .to_string()
        })
        .unwrap_or_else(|_| code.into())
}

fn status_badge(page: &Page, status: &str) -> maud::Markup {
    let kind = match status {
        "Available" => "ok",
        "Charging" | "Preparing" | "SuspendedEV" | "SuspendedEVSE" | "Finishing" => "muted",
        _ => "warn",
    };
    badge(kind, page.t(&format!("charging.status.{status}")))
}

#[derive(Deserialize, Default)]
struct FinderQuery {
    city: Option<String>,
    radius_km: Option<f64>,
    min_kw: Option<f64>,
    available: Option<String>,
    vehicle_model: Option<String>,
}

async fn finder_page(page: Page, Query(query): Query<FinderQuery>, central: &Central) -> Response {
    let cities: Vec<_> = jurisdictions()
        .all()
        .filter(|j| j.level == JurisdictionLevel::City && j.lon.is_some())
        .collect();
    let city = query
        .city
        .as_deref()
        .and_then(|c| cities.iter().find(|j| j.code.to_string() == c))
        .or_else(|| cities.iter().find(|j| j.code.to_string() == "310100"))
        .copied();
    let radius = query.radius_km.unwrap_or(10.0).clamp(0.5, 100.0);
    let filter = Filter {
        min_kw: query.min_kw,
        available_only: query.available.as_deref() == Some("on"),
        ..Filter::default()
    };
    let found = match city.and_then(|c| Some((c.lon?, c.lat?))) {
        Some((lon, lat)) => central.nearby(lon, lat, radius, &filter, 30).await.unwrap_or_default(),
        None => Vec::new(),
    };
    // Every public station within 15 km of the city's centre, for the map.
    let around = match city.and_then(|c| Some((c.lon?, c.lat?))) {
        Some((lon, lat)) => central
            .nearby(lon, lat, 15.0, &Filter::default(), 5_000)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let swap_filter = SwapFilter {
        vehicle_model: query.vehicle_model.clone().filter(|m| !m.trim().is_empty()),
        min_soc: 90.0,
        ready_only: filter.available_only,
        ..SwapFilter::default()
    };
    let swaps = match city.and_then(|c| Some((c.lon?, c.lat?))) {
        Some((lon, lat)) => central
            .swap_nearby(lon, lat, radius, &swap_filter, 10)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let swaps_around = match city.and_then(|c| Some((c.lon?, c.lat?))) {
        Some((lon, lat)) => central
            .swap_nearby(lon, lat, 15.0, &SwapFilter::default(), 500)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let map = city_map(&page, &around, &swaps_around);
    let stats = store::stats(page.auth.db()).await.unwrap_or_default();
    let total: i64 = stats.iter().map(|s| s.connectors).sum();
    let available: i64 = stats.iter().map(|s| s.available).sum();
    let body = html! {
        p.lead { (page.t("charging.lead")) }
        p.totals { (page.t("charging.connectors")) ": " strong { (total) } " · " (page.t("charging.available_now")) ": " strong { (available) } " · " (page.t("charging.connected")) ": " strong { (central.connected_count()) } }
        form.card.narrow method="get" action="/charging" {
            label { (page.t("charging.city")) select name="city" {
                @for c in &cities { option value=(c.code.to_string()) selected[city.is_some_and(|x| x.code == c.code)] { (page.lang.pick(&c.name_zh, &c.name_en)) } }
            } }
            label { (page.t("charging.radius")) input name="radius_km" type="number" min="0.5" max="100" step="0.5" value=(radius); }
            label { (page.t("charging.min_kw")) input name="min_kw" type="number" min="0" max="1000" value=(query.min_kw.map(|k| k.to_string()).unwrap_or_default()); }
            label { (page.t("charging.vehicle_model")) input name="vehicle_model" type="text" maxlength="50" placeholder="NIO ET5" value=(query.vehicle_model.clone().unwrap_or_default()); }
            label { input type="checkbox" name="available" checked[filter.available_only]; " " (page.t("charging.only_available")) }
            button type="submit" { (page.t("charging.find")) }
        }
                h2 { (page.t("charging.map")) }
        (map)
        h2 { (page.t("charging.nearest")) }
        (table(&[page.t("charging.distance"), page.t("charging.station"), page.t("charging.connector"), page.t("charging.power"), page.t("charging.operator"), page.t("charging.status")], html! {
            @for (d, p) in &found { tr {
                td { (format!("{d:.1} km")) }
                td.mono { (p.station_id) }
                td { (p.connector_id) " · " (p.standard) }
                td { (p.max_kw) " kW" }
                td.mono { (p.operator_id) }
                td { (status_badge(&page, &p.status)) }
            } }
        }))
        h2 { (page.t("charging.swap_nearest")) }
        (table(&[page.t("charging.distance"), page.t("charging.station"), page.t("charging.operator"), page.t("charging.packs_ready"), page.t("charging.vehicle_models"), page.t("charging.status")], html! {
            @for (d, p) in &swaps { tr {
                td { (format!("{d:.1} km")) }
                td { span.mono { (p.station_id) } br; (p.name) }
                td.mono { (p.operator_id) }
                td { strong { (p.ready(swap_filter.min_soc)) } " / " (p.packs.len()) " / " (p.slots) }
                td { (p.vehicle_models.join(", ")) }
                td { @if p.online { (badge("ok", page.t("charging.online"))) } @else { (badge("warn", page.t("charging.offline"))) } }
            } }
        }))
        p.legend { (page.t("charging.packs_ready_hint")) }
        h2 { (page.t("charging.by_province")) }
        (stats_table(&page, &store::by_province(&stats)))
        h2 { (page.t("charging.by_city")) }
        (stats_table(&page, &stats))
    };
    page.render(page.t("charging.title"), body).into_response()
}

fn stats_table(page: &Page, stats: &[store::CityStat]) -> maud::Markup {
    html! {
        (table(&[page.t("charging.city"), page.t("charging.stations"), page.t("charging.connectors"), page.t("charging.available_now"), page.t("charging.charging_now"), page.t("charging.sessions"), page.t("charging.per_day"), page.t("charging.utilisation"), page.t("charging.energy"), page.t("charging.swap_stations"), page.t("charging.packs"), page.t("charging.swaps_per_day")], html! {
            @for s in stats { tr {
                td { (place_name(page, &s.jurisdiction)) }
                td { (s.stations) } td { (s.connectors) } td { (s.available) } td { (s.charging) } td { (s.sessions) }
                td { (format!("{:.1}", s.sessions_per_day)) }
                td { (format!("{:.1} %", s.utilisation * 100.0)) }
                td { (format!("{:.1} kWh", s.energy_wh as f64 / 1000.0)) }
                td { (s.swap_stations) } td { (s.packs) }
                td { (format!("{:.1}", s.swaps_per_day)) }
            } }
        }))
    }
}

async fn stations_page(page: Page) -> Response {
    let Ok(user) = page.require_login() else {
        return page.require_login().map(|_| ()).unwrap_err();
    };
    let db = page.auth.db();
    let operator = match store::operator_of(db, &user.login).await {
        Ok(Some(operator)) => Some(operator),
        Ok(None) if page.auth.principal.allows(MODULE, AccessLevel::Read, None) => None,
        _ => return page.forbidden(),
    };
    let stations = store::stations(db, operator.as_deref(), 500).await.unwrap_or_default();
    let mut packs: std::collections::HashMap<String, Vec<crate::swap::Pack>> = std::collections::HashMap::new();
    for pack in crate::swap::packs_in_stations(db, operator.as_deref())
        .await
        .unwrap_or_default()
    {
        packs
            .entry(pack.station_id.clone().unwrap_or_default())
            .or_default()
            .push(pack);
    }
    let body = html! {
        p.lead { (page.t("charging.stations_lead")) " " @if let Some(op) = &operator { strong.mono { (op) } } }
        (table(&[page.t("charging.station"), page.t("charging.city"), page.t("charging.last_seen"), page.t("charging.connectors")], html! {
            @for s in &stations { tr {
                td { span.mono { (s.id) } br; (s.name) }
                td { (place_name(&page, &s.jurisdiction)) }
                td { (s.last_seen.as_deref().and_then(|t| t.get(..19)).unwrap_or("—")) }
                td {
                    @for c in &s.connectors { (c.connector_id) " " (c.standard) " " (c.max_kw) " kW " (status_badge(&page, &c.status)) br; }
                    @if let Some(swap) = &s.swap {
                        (page.t("charging.swap_station")) " · " (swap.slots) " " (page.t("charging.slots")) " · " (swap.vehicle_models.join(", ")) br;
                        @for p in packs.get(&s.id).into_iter().flatten() {
                            span.mono { (p.slot.unwrap_or_default()) ": " (p.serial) } " " (format!("{:.0} %", p.soc)) " (SoH " (format!("{:.0} %", p.soh)) ")" br;
                        }
                    }
                }
            } }
        }))
    };
    page.render(page.t("charging.stations"), body).into_response()
}

/// The city's stations as dots placed by their position, coloured by how many of their
/// connectors are free, and its swap stations as squares, green with a pack ready (the
/// figures are also in each mark's title, so colour is not the only carrier).
fn city_map(
    page: &Page,
    connectors: &[(f64, crate::finder::Point)],
    swaps: &[(f64, crate::finder::SwapPoint)],
) -> maud::Markup {
    let mut stations: std::collections::BTreeMap<&str, (f64, f64, usize, usize)> = std::collections::BTreeMap::new();
    for (_, p) in connectors {
        let entry = stations.entry(p.station_id.as_str()).or_insert((p.lon, p.lat, 0, 0));
        entry.3 += 1;
        if p.available() {
            entry.2 += 1;
        }
    }
    if stations.is_empty() && swaps.is_empty() {
        return html! {};
    }
    let (mut west, mut east, mut south, mut north) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    let swap_places = swaps.iter().map(|(_, p)| (p.lon, p.lat));
    for (lon, lat) in stations
        .values()
        .map(|(lon, lat, _, _)| (*lon, *lat))
        .chain(swap_places)
    {
        west = west.min(lon);
        east = east.max(lon);
        south = south.min(lat);
        north = north.max(lat);
    }
    let (width, height) = (600.0, 400.0);
    let span_x = (east - west).max(0.01);
    let span_y = (north - south).max(0.01);
    let x = |lon: f64| 20.0 + (lon - west) / span_x * (width - 40.0);
    let y = |lat: f64| 20.0 + (north - lat) / span_y * (height - 40.0);
    html! {
        svg.citymap viewBox=(format!("0 0 {width} {height}")) width="100%" role="img" aria-label=(page.t("charging.map")) {
            rect x="0" y="0" width=(width) height=(height) fill="var(--panel, #f6f7f9)" {}
            @for (id, (lon, lat, free, all)) in &stations {
                @let colour = if *free == 0 { "#c0392b" } else if free * 2 < *all { "#e6a23c" } else { "#2e8b57" };
                circle cx=(format!("{:.1}", x(*lon))) cy=(format!("{:.1}", y(*lat))) r="7" fill=(colour) stroke="#fff" {
                    title { (id) " · " (free) "/" (all) " " (page.t("charging.available_now")) }
                }
            }
            @for (_, p) in swaps {
                @let ready = if p.online { p.ready(90.0) } else { 0 };
                rect x=(format!("{:.1}", x(p.lon) - 7.0)) y=(format!("{:.1}", y(p.lat) - 7.0)) width="14" height="14"
                    fill=(if ready > 0 { "#2e8b57" } else { "#c0392b" }) stroke="#1f2d3d" stroke-width="2" {
                    title { (p.station_id) " · " (ready) " " (page.t("charging.packs_ready_short")) }
                }
            }
        }
        p.legend { span style="color:#2e8b57" { "●" } " " (page.t("charging.legend_free")) " · " span style="color:#e6a23c" { "●" } " " (page.t("charging.legend_some")) " · " span style="color:#c0392b" { "●" } " " (page.t("charging.legend_none")) " · " span { "■" } " " (page.t("charging.legend_swap")) }
    }
}
