//! The planner's view of the loaded feeds: stations, a timetable per service day (with
//! real-time changes applied), and journeys with names and platforms.

use crate::gtfs::{Feed, Secs, format_time};
use crate::realtime::Updates;
use chrono::{Duration, NaiveDate};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use yrd_kernel::JurisdictionCode;
use yrd_raptor::{Leg, Query, Time, Timetable, TimetableBuilder, TripInput};

/// Changing between platforms of one station when the feed says nothing.
pub const DEFAULT_CHANGE: Secs = 120;
/// Between two stations of one city: the metro, modelled as a fixed time plus distance.
pub const CITY_TRANSFER_BASE: Secs = 20 * 60;
pub const CITY_TRANSFER_KMH: f64 = 25.0;
pub const CITY_TRANSFER_MAX_KM: f64 = 60.0;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Station {
    /// `feed:stop_id` of the station (or of the stop, when it has no parent).
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    pub lat: f64,
    pub lon: f64,
    pub jurisdiction: Option<JurisdictionCode>,
    #[serde(skip)]
    pub stops: Vec<u32>,
}

impl Station {
    pub fn city(&self) -> Option<JurisdictionCode> {
        let code = self.jurisdiction?;
        Some(match code.jurisdiction().level {
            yrd_kernel::JurisdictionLevel::District | yrd_kernel::JurisdictionLevel::County => {
                code.jurisdiction().parent.unwrap_or(code)
            }
            _ => code,
        })
    }
}

struct PlannerStop {
    station: usize,
    platform: Option<String>,
}

struct TripRef {
    trip: String,
    route: String,
    short_name: String,
    headsign: String,
    delayed: bool,
}

struct Day {
    timetable: Timetable,
    trips: Vec<TripRef>,
}

pub struct Network {
    pub feeds: Vec<(String, Feed)>,
    pub stations: Vec<Station>,
    stops: Vec<PlannerStop>,
    stop_index: HashMap<(usize, String), u32>,
    updates: Updates,
    days: Mutex<HashMap<NaiveDate, Arc<Day>>>,
}

fn km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let x = (b.1 - a.1).to_radians() * ((a.0 + b.0) / 2.0).to_radians().cos();
    let y = (b.0 - a.0).to_radians();
    6371.0 * (x * x + y * y).sqrt()
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JourneyView {
    pub departure: String,
    pub arrival: String,
    pub minutes: i32,
    pub transfers: usize,
    pub legs: Vec<LegView>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LegView {
    /// `ride` or `walk` (a change between stations or platforms).
    pub kind: String,
    pub route: Option<String>,
    pub trip: Option<String>,
    pub headsign: Option<String>,
    pub from: String,
    pub from_zh: String,
    pub from_en: String,
    pub to: String,
    pub to_zh: String,
    pub to_en: String,
    pub from_platform: Option<String>,
    pub to_platform: Option<String>,
    /// `HH:MM`, with `+1` for the next day.
    pub departure: String,
    pub arrival: String,
    pub delayed: bool,
}

pub fn clock(t: Time) -> String {
    let day = t.div_euclid(86_400);
    let s = format_time(t.rem_euclid(86_400));
    let hm = &s[..5];
    match day {
        0 => hm.to_string(),
        d if d > 0 => format!("{hm}+{d}"),
        d => format!("{hm}{d}"),
    }
}

impl Network {
    pub fn new(feeds: Vec<(String, Feed)>, updates: Updates) -> Network {
        let mut stations: Vec<Station> = Vec::new();
        let mut station_index: HashMap<(usize, String), usize> = HashMap::new();
        let mut stops = Vec::new();
        let mut stop_index = HashMap::new();
        for (f, (feed_id, feed)) in feeds.iter().enumerate() {
            for s in feed.stops.iter().filter(|s| s.location_type == 1 || s.parent.is_none()) {
                if s.location_type > 1 {
                    continue;
                }
                station_index.insert((f, s.id.clone()), stations.len());
                stations.push(Station {
                    id: format!("{feed_id}:{}", s.id),
                    name_zh: s.name.clone(),
                    name_en: s.name_en.clone().unwrap_or_else(|| s.name.clone()),
                    lat: s.lat,
                    lon: s.lon,
                    jurisdiction: s.jurisdiction.as_deref().and_then(|c| JurisdictionCode::parse(c).ok()),
                    stops: Vec::new(),
                });
            }
            for s in feed.stops.iter().filter(|s| s.location_type == 0) {
                let station = station_index[&(f, s.parent.clone().unwrap_or_else(|| s.id.clone()))];
                let index = stops.len() as u32;
                stations[station].stops.push(index);
                stop_index.insert((f, s.id.clone()), index);
                stops.push(PlannerStop {
                    station,
                    platform: s.platform.clone(),
                });
            }
        }
        Network {
            feeds,
            stations,
            stops,
            stop_index,
            updates,
            days: Mutex::new(HashMap::new()),
        }
    }

    pub fn station(&self, id: &str) -> Option<usize> {
        self.stations
            .iter()
            .position(|s| s.id == id || s.id.rsplit(':').next() == Some(id))
    }

    /// Stations whose names or ids contain `text` (either language, any case).
    pub fn search(&self, text: &str) -> Vec<&Station> {
        let needle = text.trim().to_lowercase();
        self.stations
            .iter()
            .filter(|s| {
                needle.is_empty()
                    || s.name_zh.contains(text.trim())
                    || s.name_en.to_lowercase().contains(&needle)
                    || s.id.to_lowercase().contains(&needle)
            })
            .collect()
    }

    fn min_change(&self, station: usize) -> Secs {
        let s = &self.stations[station];
        let (feed, stop_id) = s.id.split_once(':').unwrap_or(("", ""));
        self.feeds
            .iter()
            .find(|(id, _)| id == feed)
            .and_then(|(_, f)| {
                f.transfers
                    .iter()
                    .find(|t| t.from == stop_id && t.to == stop_id)
                    .and_then(|t| t.min_seconds)
            })
            .unwrap_or(DEFAULT_CHANGE)
    }

    fn day(&self, date: NaiveDate) -> Arc<Day> {
        if let Some(day) = self.days.lock().unwrap_or_else(|p| p.into_inner()).get(&date) {
            return day.clone();
        }
        let day = Arc::new(self.build_day(date));
        let mut days = self.days.lock().unwrap_or_else(|p| p.into_inner());
        if days.len() > 16 {
            days.clear();
        }
        days.insert(date, day.clone());
        day
    }

    fn build_day(&self, date: NaiveDate) -> Day {
        let mut builder = TimetableBuilder::new(self.stops.len(), DEFAULT_CHANGE);
        let mut trips = Vec::new();
        for (f, (_, feed)) in self.feeds.iter().enumerate() {
            for trip in &feed.trips {
                let Some(times) = feed.stop_times.get(&trip.id) else {
                    continue;
                };
                for offset in [-1, 0, 1] {
                    let Some(service_day) = date.checked_add_signed(Duration::days(offset as i64)) else {
                        continue;
                    };
                    if !feed.runs(&trip.service, service_day) {
                        continue;
                    }
                    let shift = offset * 86_400;
                    if offset == -1 && times.last().is_none_or(|t| t.arrival < 86_400) {
                        continue;
                    }
                    let change = self
                        .updates
                        .for_trip(&trip.id, &service_day.format("%Y%m%d").to_string());
                    if change.is_some_and(|c| c.cancelled) {
                        continue;
                    }
                    let mut arrivals: Vec<Time> = times.iter().map(|t| t.arrival + shift).collect();
                    let mut departures: Vec<Time> = times.iter().map(|t| t.departure + shift).collect();
                    if let Some(change) = change {
                        let sequences: Vec<u32> = times.iter().map(|t| t.sequence).collect();
                        Updates::apply(change, &sequences, &mut arrivals, &mut departures);
                    }
                    let stops = times
                        .iter()
                        .filter_map(|t| self.stop_index.get(&(f, t.stop.clone())).copied())
                        .collect::<Vec<_>>();
                    if stops.len() != times.len() {
                        continue;
                    }
                    let route = feed.routes.iter().find(|r| r.id == trip.route);
                    trips.push(TripRef {
                        trip: trip.id.clone(),
                        route: route
                            .map(|r| {
                                if r.short_name.is_empty() {
                                    r.long_name.clone()
                                } else {
                                    r.short_name.clone()
                                }
                            })
                            .unwrap_or_default(),
                        short_name: trip.short_name.clone(),
                        headsign: trip.headsign.clone(),
                        delayed: change.is_some(),
                    });
                    builder.trip(TripInput {
                        id: trips.len() as u32 - 1,
                        stops,
                        arrivals,
                        departures,
                    });
                }
            }
        }
        for (i, station) in self.stations.iter().enumerate() {
            let change = self.min_change(i);
            for &a in &station.stops {
                builder.min_change(a, change);
                for &b in &station.stops {
                    if a != b {
                        builder.footpath(a, b, change);
                    }
                }
            }
            // To the other stations of the same city, by metro.
            for (j, other) in self.stations.iter().enumerate() {
                if i == j || station.city().is_none() || station.city() != other.city() {
                    continue;
                }
                let distance = km((station.lat, station.lon), (other.lat, other.lon));
                if distance > CITY_TRANSFER_MAX_KM {
                    continue;
                }
                let seconds = CITY_TRANSFER_BASE + (distance / CITY_TRANSFER_KMH * 3600.0) as Secs;
                for &a in &station.stops {
                    for &b in &other.stops {
                        builder.footpath(a, b, seconds);
                    }
                }
            }
        }
        Day {
            timetable: builder.build(),
            trips,
        }
    }

    /// Journeys from one station to another leaving at `time` on `date`; with a window,
    /// every non-dominated departure within it.
    pub fn journeys(
        &self,
        from: usize,
        to: usize,
        date: NaiveDate,
        time: Time,
        window: Option<Time>,
    ) -> Vec<JourneyView> {
        let day = self.day(date);
        let origins = &self.stations[from].stops;
        let targets = &self.stations[to].stops;
        let found = match window {
            Some(w) => yrd_raptor::range_query(&day.timetable, origins, targets, time, w, 8),
            None => yrd_raptor::query(
                &day.timetable,
                &Query {
                    origins: origins.iter().map(|s| (*s, time)).collect(),
                    targets: targets.clone(),
                    max_trips: 8,
                },
            ),
        };
        found.into_iter().map(|j| self.view(&day, &j)).collect()
    }

    fn view(&self, day: &Day, journey: &yrd_raptor::Journey) -> JourneyView {
        let legs = journey
            .legs
            .iter()
            .map(|leg| {
                let (from, to, departure, arrival, trip) = match leg {
                    Leg::Ride {
                        from,
                        to,
                        departure,
                        arrival,
                        trip,
                        ..
                    } => (*from, *to, *departure, *arrival, Some(&day.trips[*trip as usize])),
                    Leg::Walk {
                        from,
                        to,
                        departure,
                        arrival,
                    } => (*from, *to, *departure, *arrival, None),
                };
                let (a, b) = (&self.stops[from as usize], &self.stops[to as usize]);
                let (sa, sb) = (&self.stations[a.station], &self.stations[b.station]);
                LegView {
                    kind: if trip.is_some() { "ride" } else { "walk" }.into(),
                    route: trip.map(|t| t.route.clone()),
                    trip: trip.map(|t| {
                        if t.short_name.is_empty() {
                            t.trip.clone()
                        } else {
                            t.short_name.clone()
                        }
                    }),
                    headsign: trip.map(|t| t.headsign.clone()).filter(|h| !h.is_empty()),
                    from: sa.id.clone(),
                    from_zh: sa.name_zh.clone(),
                    from_en: sa.name_en.clone(),
                    to: sb.id.clone(),
                    to_zh: sb.name_zh.clone(),
                    to_en: sb.name_en.clone(),
                    from_platform: a.platform.clone(),
                    to_platform: b.platform.clone(),
                    departure: clock(departure),
                    arrival: clock(arrival),
                    delayed: trip.is_some_and(|t| t.delayed),
                }
            })
            .collect();
        JourneyView {
            departure: clock(journey.departure),
            arrival: clock(journey.arrival),
            minutes: (journey.arrival - journey.departure) / 60,
            transfers: journey.transfers,
            legs,
        }
    }

    /// The stops of a trip in order with their times on `date` (for the loop line page).
    pub fn trip_stops(&self, feed: &str, trip: &str) -> Vec<(&Station, Secs, Secs)> {
        let Some((f, (_, feed))) = self.feeds.iter().enumerate().find(|(_, (id, _))| id == feed) else {
            return Vec::new();
        };
        feed.stop_times
            .get(trip)
            .map(|times| {
                times
                    .iter()
                    .filter_map(|t| {
                        self.stop_index
                            .get(&(f, t.stop.clone()))
                            .map(|i| (&self.stations[self.stops[*i as usize].station], t.arrival, t.departure))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Where the real-time updates stand (for the trip feeds' stop sequences).
    pub fn stop_sequence(&self, trip: &str, stop: &str) -> Option<u32> {
        self.feeds.iter().find_map(|(_, f)| {
            f.stop_times
                .get(trip)?
                .iter()
                .find(|t| t.stop == stop)
                .map(|t| t.sequence)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::{decode, encode, single_update};

    fn network(updates: Updates) -> Network {
        let files = crate::gtfs::read_files(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/transit/yrd-rail"
        )))
        .unwrap();
        let (feed, _) = crate::gtfs::parse(&files);
        Network::new(vec![("yrd-rail".into(), feed.unwrap())], updates)
    }

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_loop_line_takes_you_round_and_the_planner_changes_trains() {
        let net = network(Updates::default());
        let shanghai = net.station("SHH").unwrap();
        let qiandaohu = net.station("QDH").unwrap();
        let journeys = net.journeys(shanghai, qiandaohu, d("2026-11-28"), 10 * 3600, None);
        let direct = journeys.iter().find(|j| j.transfers == 0).expect("G8388 goes there");
        assert_eq!(direct.legs[0].route.as_deref(), Some("G8388"));
        assert_eq!(direct.departure, "10:27");
        // Every city is reachable from Shanghai Hongqiao within the day.
        let hongqiao = net.station("SHHQ").unwrap();
        for (i, s) in net.stations.iter().enumerate() {
            if i != hongqiao && s.stops.len() == 1 {
                let j = net.journeys(hongqiao, i, d("2026-11-27"), 6 * 3600, None);
                assert!(!j.is_empty(), "{} reachable", s.name_en);
            }
        }
    }

    #[test]
    fn delays_and_cancellations_change_answers_at_once() {
        let shanghai_to = |net: &Network| {
            let (a, b) = (net.station("SHH").unwrap(), net.station("QDH").unwrap());
            net.journeys(a, b, d("2026-11-28"), 10 * 3600, None)
                .into_iter()
                .find(|j| j.transfers == 0)
        };
        let before = shanghai_to(&network(Updates::default())).unwrap();
        let delayed = decode(&encode(&single_update("G8388-daily", 1, 1200, false)), |_, _| None).unwrap();
        let after = shanghai_to(&network(delayed)).unwrap();
        assert_ne!(before.arrival, after.arrival);
        assert!(after.legs[0].delayed);
        let cancelled = decode(&encode(&single_update("G8388-daily", 1, 0, true)), |_, _| None).unwrap();
        assert!(
            shanghai_to(&network(cancelled)).is_none(),
            "no direct train once G8388 is cancelled"
        );
    }

    #[test]
    fn a_late_train_runs_into_the_next_day() {
        assert_eq!(clock(86_400 + 600), "00:10+1");
        assert_eq!(clock(8 * 3600), "08:00");
    }
}
