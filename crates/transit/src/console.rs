//! The transit console: the journey planner and the loop line.

use crate::http::{JourneyQuery, loop_stops, plan};
use crate::network::JourneyView;
use crate::service::Shared;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use yrd_web::console::map::shaded_region_map;
use yrd_web::console::{Page, table};
use yrd_web::{ApiError, Query};

pub fn routes(shared: Shared) -> Router {
    Router::new()
        .route("/", get(planner))
        .route("/loop", get(loop_page))
        .with_state(shared)
}

#[derive(Deserialize, Default)]
struct PlannerForm {
    from: Option<String>,
    to: Option<String>,
    date: Option<String>,
    time: Option<String>,
}

fn journey_table(page: &Page, journeys: &[JourneyView]) -> Markup {
    html! {
        @for j in journeys {
            section.card {
                h3 { (j.departure) " → " (j.arrival) " · " (j.minutes / 60) "h" (format!("{:02}", j.minutes % 60)) " · " (page.t("transit.transfers")) " " (j.transfers) }
                (table(&[page.t("transit.train"), page.t("transit.from"), page.t("transit.departs"), page.t("transit.to"), page.t("transit.arrives")], html! {
                    @for l in &j.legs { tr {
                        td { @if l.kind == "ride" { (l.route.as_deref().unwrap_or("")) " " (l.trip.as_deref().unwrap_or("")) @if l.delayed { " " (yrd_web::console::badge("at-risk", page.t("transit.delayed"))) } } @else { (page.t("transit.change")) } }
                        td { (page.lang.pick(&l.from_zh, &l.from_en)) @if let Some(p) = &l.from_platform { " · " (page.t("transit.platform")) " " (p) } }
                        td { (l.departure) }
                        td { (page.lang.pick(&l.to_zh, &l.to_en)) }
                        td { (l.arrival) }
                    } }
                }))
            }
        }
    }
}

async fn planner(
    State(shared): State<Shared>,
    page: Page,
    Query(form): Query<PlannerForm>,
) -> Result<Response, ApiError> {
    let network = shared.network(page.auth.db()).await?;
    let mut stations = network.search("");
    stations.sort_by(|a, b| a.id.cmp(&b.id));
    let today = yrd_kernel::time::today();
    let date = form.date.clone().unwrap_or_else(|| today.to_string());
    let time = form.time.clone().unwrap_or_else(|| "08:00".into());
    let result = match (&form.from, &form.to) {
        (Some(from), Some(to)) => {
            let q = JourneyQuery {
                from: from.clone(),
                to: to.clone(),
                date: date.parse().map_err(|_| ApiError::invalid("date", "YYYY-MM-DD"))?,
                time: time.clone(),
                window: Some(180),
            };
            Some(plan(&shared, &page.auth, &q).await)
        }
        _ => None,
    };
    let station_select = |name: &str, selected: Option<&String>| {
        html! { select name=(name) { @for s in &stations { option value=(s.id) selected[selected == Some(&s.id)] { (page.lang.pick(&s.name_zh, &s.name_en)) } } } }
    };
    let body = html! {
        p.lead { (page.t("transit.lead")) " " a href="/transit/loop" { (page.t("transit.loop")) " →" } }
        form.filters method="get" action="/transit" {
            label { (page.t("transit.from")) (station_select("from", form.from.as_ref())) }
            label { (page.t("transit.to")) (station_select("to", form.to.as_ref())) }
            label { (page.t("transit.date")) input type="date" name="date" value=(date); }
            label { (page.t("transit.time")) input type="time" name="time" value=(time); }
            button type="submit" { (page.t("transit.plan")) }
        }
        @match result {
            Some(Ok(journeys)) if journeys.is_empty() => { p { (page.t("transit.none")) } },
            Some(Ok(journeys)) => { (journey_table(&page, &journeys)) },
            Some(Err(e)) => { div.notice.error role="alert" { (e.to_string()) } },
            None => {},
        }
        p.totals { (page.t("transit.demo_note")) }
    };
    Ok(page.render(page.t("transit.title"), body).into_response())
}

async fn loop_page(State(shared): State<Shared>, page: Page) -> Result<Response, ApiError> {
    let stops = loop_stops(&shared, &page.auth).await?;
    let first_times: std::collections::HashMap<String, String> = stops
        .iter()
        .filter_map(|s| Some((s.station.city()?.to_string(), s.departure.clone())))
        .rev()
        .collect();
    let map = shaded_region_map(
        page.lang,
        |_| None,
        |city| first_times.get(&city.code.to_string()).map(|t| (1.0, t.clone())),
    );
    let body = html! {
        p.lead { (page.t("transit.loop_lead")) }
        div.home-grid {
            section.card { (map) }
            section {
                (table(&["#", page.t("transit.station"), page.t("transit.arrives"), page.t("transit.departs")], html! {
                    @for (i, s) in stops.iter().enumerate() { tr {
                        td { (i + 1) }
                        td { (page.lang.pick(&s.station.name_zh, &s.station.name_en)) }
                        td { @if i > 0 { (s.arrival) } }
                        td { @if i + 1 < stops.len() { (s.departure) } }
                    } }
                }))
            }
        }
    };
    Ok(page.render(page.t("transit.loop"), body).into_response())
}
