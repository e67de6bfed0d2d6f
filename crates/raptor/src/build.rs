//! Building a timetable from trips: grouping them into routes whose trips never
//! overtake one another, as RAPTOR requires.

use crate::{Footpath, Route, Stop, Time, Timetable, Trip};
use std::collections::HashMap;

/// One trip as the caller knows it: its stops in order with arrival and departure times.
#[derive(Debug, Clone)]
pub struct TripInput {
    pub id: u32,
    pub stops: Vec<Stop>,
    pub arrivals: Vec<Time>,
    pub departures: Vec<Time>,
}

#[derive(Debug, Default)]
pub struct TimetableBuilder {
    stop_count: usize,
    trips: Vec<TripInput>,
    footpaths: Vec<(Stop, Stop, Time)>,
    min_change: HashMap<Stop, Time>,
    default_change: Time,
}

impl TimetableBuilder {
    pub fn new(stop_count: usize, default_change: Time) -> Self {
        TimetableBuilder {
            stop_count,
            default_change,
            ..Default::default()
        }
    }

    /// Adds a trip; trips with fewer than two stops or inconsistent lengths are ignored.
    pub fn trip(&mut self, trip: TripInput) -> &mut Self {
        if trip.stops.len() >= 2 && trip.arrivals.len() == trip.stops.len() && trip.departures.len() == trip.stops.len()
        {
            self.trips.push(trip);
        }
        self
    }

    pub fn footpath(&mut self, from: Stop, to: Stop, seconds: Time) -> &mut Self {
        self.footpaths.push((from, to, seconds));
        self
    }

    pub fn min_change(&mut self, stop: Stop, seconds: Time) -> &mut Self {
        self.min_change.insert(stop, seconds);
        self
    }

    pub fn build(self) -> Timetable {
        let mut by_pattern: HashMap<Vec<Stop>, Vec<TripInput>> = HashMap::new();
        for trip in self.trips {
            by_pattern.entry(trip.stops.clone()).or_default().push(trip);
        }
        let mut patterns: Vec<(Vec<Stop>, Vec<TripInput>)> = by_pattern.into_iter().collect();
        patterns.sort_by(|a, b| a.0.cmp(&b.0));
        let mut routes = Vec::new();
        for (stops, mut trips) in patterns {
            trips.sort_by_key(|t| (t.departures[0], t.arrivals[t.arrivals.len() - 1]));
            // Lanes of trips where each one is no earlier than the one before at every stop.
            let mut lanes: Vec<Vec<Trip>> = Vec::new();
            for t in trips {
                let trip = Trip {
                    id: t.id,
                    arrivals: t.arrivals,
                    departures: t.departures,
                };
                let fits = |lane: &Vec<Trip>| {
                    let last = lane.last().expect("lanes are not empty");
                    (0..stops.len())
                        .all(|i| last.arrivals[i] <= trip.arrivals[i] && last.departures[i] <= trip.departures[i])
                };
                match lanes.iter_mut().find(|lane| fits(lane)) {
                    Some(lane) => lane.push(trip),
                    None => lanes.push(vec![trip]),
                }
            }
            for lane in lanes {
                routes.push(Route {
                    stops: stops.clone(),
                    trips: lane,
                });
            }
        }
        let mut stop_routes = vec![Vec::new(); self.stop_count];
        for (r, route) in routes.iter().enumerate() {
            for (pos, stop) in route.stops.iter().enumerate() {
                // A loop visits a stop twice; both positions are kept.
                stop_routes[*stop as usize].push((r as u32, pos as u32));
            }
        }
        let mut footpaths = vec![Vec::new(); self.stop_count];
        for (from, to, seconds) in self.footpaths {
            if (from as usize) < self.stop_count && (to as usize) < self.stop_count && from != to {
                footpaths[from as usize].push(Footpath { to, seconds });
            }
        }
        let min_change = (0..self.stop_count as Stop)
            .map(|s| *self.min_change.get(&s).unwrap_or(&self.default_change))
            .collect();
        Timetable {
            routes,
            stop_routes,
            footpaths,
            min_change,
        }
    }
}
