//! RAPTOR (Delling, Pajor, Werneck, 2015): earliest arrival journeys over a timetable,
//! one round per trip taken, returning the Pareto set of (arrival, transfers).
//!
//! Pure: the timetable comes in built, times are seconds after midnight of the service
//! day the query is on (earlier days' trips that run past midnight are shifted by the
//! caller). No I/O, no clock.

mod build;

pub use build::{TimetableBuilder, TripInput};

/// Seconds after midnight of the query's service day (may be negative or past 24 h).
pub type Time = i32;
pub const UNREACHED: Time = Time::MAX;

/// A stop, by its index in the timetable.
pub type Stop = u32;

/// Trips with the same stop sequence that never overtake one another.
#[derive(Debug, Clone)]
pub struct Route {
    pub stops: Vec<Stop>,
    /// Trips sorted by departure; each trip's times are aligned with `stops`.
    pub trips: Vec<Trip>,
}

#[derive(Debug, Clone)]
pub struct Trip {
    /// The caller's identifier of the trip (e.g. an index into its own table).
    pub id: u32,
    pub arrivals: Vec<Time>,
    pub departures: Vec<Time>,
}

/// A walk between two stops, or the time needed to change at one stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footpath {
    pub to: Stop,
    pub seconds: Time,
}

#[derive(Debug, Clone, Default)]
pub struct Timetable {
    pub routes: Vec<Route>,
    /// For each stop: the routes serving it and the stop's position in each.
    pub stop_routes: Vec<Vec<(u32, u32)>>,
    /// For each stop: footpaths to other stops.
    pub footpaths: Vec<Vec<Footpath>>,
    /// For each stop: the minimum time to change from one trip to another there.
    pub min_change: Vec<Time>,
}

impl Timetable {
    pub fn stop_count(&self) -> usize {
        self.stop_routes.len()
    }
}

/// One part of a journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leg {
    Ride {
        route: u32,
        trip: u32,
        from: Stop,
        from_pos: u32,
        to: Stop,
        to_pos: u32,
        departure: Time,
        arrival: Time,
    },
    Walk {
        from: Stop,
        to: Stop,
        departure: Time,
        arrival: Time,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey {
    pub legs: Vec<Leg>,
    pub departure: Time,
    pub arrival: Time,
    /// Trips taken less one.
    pub transfers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RideParent {
    None,
    Ride {
        route: u32,
        trip: u32,
        from_pos: u32,
        to_pos: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WalkParent {
    None,
    Origin,
    /// A walk after a ride that arrived at `from` in the same round (or from an origin).
    Walk {
        from: Stop,
        seconds: Time,
        from_origin: bool,
    },
}

/// A query: where one can start and when, where to arrive, and how many trips at most.
#[derive(Debug, Clone)]
pub struct Query {
    pub origins: Vec<(Stop, Time)>,
    pub targets: Vec<Stop>,
    pub max_trips: usize,
}

/// Labels per round and stop. Arriving by a trip and arriving on foot are kept apart:
/// after a ride, boarding another trip takes the stop's change time; after a walk it
/// does not, so an earlier arrival is not always the better one to continue from.
struct Labels {
    ride: Vec<Vec<Time>>,
    ride_parent: Vec<Vec<RideParent>>,
    walk: Vec<Vec<Time>>,
    walk_parent: Vec<Vec<WalkParent>>,
}

impl Labels {
    fn ready(&self, tt: &Timetable, round: usize, stop: usize) -> Time {
        self.ride[round][stop]
            .saturating_add(tt.min_change[stop])
            .min(self.walk[round][stop])
    }

    fn arrival(&self, round: usize, stop: usize) -> Time {
        self.ride[round][stop].min(self.walk[round][stop])
    }
}

/// Earliest arrival at any target, for each number of trips up to `max_trips`: the
/// Pareto set of (arrival, transfers), fewest trips first.
pub fn query(tt: &Timetable, q: &Query) -> Vec<Journey> {
    let n = tt.stop_count();
    let rounds = q.max_trips + 1;
    let mut labels = Labels {
        ride: vec![vec![UNREACHED; n]; rounds],
        ride_parent: vec![vec![RideParent::None; n]; rounds],
        walk: vec![vec![UNREACHED; n]; rounds],
        walk_parent: vec![vec![WalkParent::None; n]; rounds],
    };
    let mut best_ride = vec![UNREACHED; n];
    let mut best_walk = vec![UNREACHED; n];
    let mut marked = vec![false; n];
    let mut target_best = UNREACHED;
    let is_target = |s: usize| q.targets.iter().any(|t| *t as usize == s);
    for &(stop, time) in &q.origins {
        let s = stop as usize;
        if time < labels.walk[0][s] {
            labels.walk[0][s] = time;
            labels.walk_parent[0][s] = WalkParent::Origin;
            best_walk[s] = time;
            marked[s] = true;
            if is_target(s) {
                target_best = target_best.min(time);
            }
        }
    }
    // Walking from the origins.
    for &(stop, time) in &q.origins {
        for path in &tt.footpaths[stop as usize] {
            let to = path.to as usize;
            let arrival = time.saturating_add(path.seconds);
            if arrival < best_walk[to] {
                labels.walk[0][to] = arrival;
                labels.walk_parent[0][to] = WalkParent::Walk {
                    from: stop,
                    seconds: path.seconds,
                    from_origin: true,
                };
                best_walk[to] = arrival;
                marked[to] = true;
                if is_target(to) {
                    target_best = target_best.min(arrival);
                }
            }
        }
    }
    // When one can board at each stop with fewer trips than the current round.
    let mut ready_before = vec![UNREACHED; n];

    for k in 1..rounds {
        for (s, r) in ready_before.iter_mut().enumerate() {
            *r = (*r).min(labels.ready(tt, k - 1, s));
        }
        // Each route once, from the earliest marked stop on it.
        let mut queue: Vec<(u32, u32)> = Vec::new();
        for (stop, is_marked) in marked.iter_mut().enumerate() {
            if !*is_marked {
                continue;
            }
            *is_marked = false;
            for &(route, pos) in &tt.stop_routes[stop] {
                match queue.iter_mut().find(|(r, _)| *r == route) {
                    Some(entry) => entry.1 = entry.1.min(pos),
                    None => queue.push((route, pos)),
                }
            }
        }
        if queue.is_empty() {
            break;
        }
        let mut rode_to: Vec<usize> = Vec::new();
        for (route_index, start) in queue {
            let route = &tt.routes[route_index as usize];
            let mut current: Option<(usize, u32)> = None; // (trip index, boarding position)
            for pos in start as usize..route.stops.len() {
                let stop = route.stops[pos] as usize;
                if let Some((trip, board)) = current {
                    let arrival = route.trips[trip].arrivals[pos];
                    if arrival < best_ride[stop] && arrival < target_best {
                        labels.ride[k][stop] = arrival;
                        labels.ride_parent[k][stop] = RideParent::Ride {
                            route: route_index,
                            trip: trip as u32,
                            from_pos: board,
                            to_pos: pos as u32,
                        };
                        best_ride[stop] = arrival;
                        marked[stop] = true;
                        rode_to.push(stop);
                        if is_target(stop) {
                            target_best = target_best.min(arrival);
                        }
                    }
                }
                // Catch an earlier trip here if the earlier rounds let us be here in time.
                let ready = ready_before[stop];
                if ready == UNREACHED {
                    continue;
                }
                if let Some(trip) = earliest_trip(route, pos, ready, current.map(|(t, _)| t)) {
                    current = Some((trip, pos as u32));
                }
            }
        }
        // Walking after this round's rides.
        rode_to.sort_unstable();
        rode_to.dedup();
        for from in rode_to {
            let start = labels.ride[k][from];
            for path in &tt.footpaths[from] {
                let to = path.to as usize;
                let arrival = start.saturating_add(path.seconds);
                if arrival < best_walk[to] && arrival < target_best {
                    labels.walk[k][to] = arrival;
                    labels.walk_parent[k][to] = WalkParent::Walk {
                        from: from as Stop,
                        seconds: path.seconds,
                        from_origin: false,
                    };
                    best_walk[to] = arrival;
                    marked[to] = true;
                    if is_target(to) {
                        target_best = target_best.min(arrival);
                    }
                }
            }
        }
    }
    pareto(tt, &labels, q)
}

/// The first trip of `route` leaving position `pos` at or after `ready`, if it is earlier
/// than `current`.
fn earliest_trip(route: &Route, pos: usize, ready: Time, current: Option<usize>) -> Option<usize> {
    let limit = current.unwrap_or(route.trips.len());
    let first = route.trips[..limit].partition_point(|t| t.departures[pos] < ready);
    (first < limit).then_some(first)
}

fn pareto(tt: &Timetable, labels: &Labels, q: &Query) -> Vec<Journey> {
    let mut out: Vec<Journey> = Vec::new();
    let mut best_so_far = UNREACHED;
    for k in 0..labels.ride.len() {
        let Some(&target) = q.targets.iter().min_by_key(|t| labels.arrival(k, **t as usize)) else {
            continue;
        };
        let arrival = labels.arrival(k, target as usize);
        if arrival < best_so_far {
            best_so_far = arrival;
            if let Some(journey) = reconstruct(tt, labels, k, target) {
                out.push(journey);
            }
        }
    }
    out
}

fn reconstruct(tt: &Timetable, labels: &Labels, k: usize, target: Stop) -> Option<Journey> {
    let mut legs = Vec::new();
    let arrival = labels.arrival(k, target as usize);
    // Which label we are following: by ride or on foot, in which round, at which stop.
    let (mut round, mut stop) = (k, target as usize);
    let mut on_foot = labels.walk[k][stop] <= labels.ride[k][stop];
    loop {
        if on_foot {
            match labels.walk_parent[round][stop] {
                WalkParent::Origin => break,
                WalkParent::None => return None,
                WalkParent::Walk {
                    from,
                    seconds,
                    from_origin,
                } => {
                    let at = labels.walk[round][stop];
                    legs.push(Leg::Walk {
                        from,
                        to: stop as Stop,
                        departure: at - seconds,
                        arrival: at,
                    });
                    stop = from as usize;
                    if from_origin {
                        break;
                    }
                    on_foot = false;
                }
            }
        } else {
            let RideParent::Ride {
                route,
                trip,
                from_pos,
                to_pos,
            } = labels.ride_parent[round][stop]
            else {
                return None;
            };
            let r = &tt.routes[route as usize];
            let t = &r.trips[trip as usize];
            let from = r.stops[from_pos as usize] as usize;
            let departure = t.departures[from_pos as usize];
            legs.push(Leg::Ride {
                route,
                trip: t.id,
                from: from as Stop,
                from_pos,
                to: stop as Stop,
                to_pos,
                departure,
                arrival: t.arrivals[to_pos as usize],
            });
            stop = from;
            // The boarding stop was reached in some earlier round in time for this trip.
            let (r, foot) = (0..round).rev().find_map(|r| {
                if labels.walk[r][from] <= departure && labels.walk_parent[r][from] != WalkParent::None {
                    Some((r, true))
                } else if labels.ride[r][from].saturating_add(tt.min_change[from]) <= departure
                    && labels.ride_parent[r][from] != RideParent::None
                {
                    Some((r, false))
                } else {
                    None
                }
            })?;
            round = r;
            on_foot = foot;
        }
    }
    legs.reverse();
    let departure = match legs.first()? {
        Leg::Ride { departure, .. } | Leg::Walk { departure, .. } => *departure,
    };
    let rides = legs.iter().filter(|l| matches!(l, Leg::Ride { .. })).count();
    Some(Journey {
        departure,
        arrival,
        transfers: rides.saturating_sub(1),
        legs,
    })
}

/// Range query: the journeys for every departure from the origins within
/// `[from, from + window]`, without those another one dominates (leaving no earlier,
/// arriving no later, with no more transfers).
pub fn range_query(
    tt: &Timetable,
    origins: &[Stop],
    targets: &[Stop],
    from: Time,
    window: Time,
    max_trips: usize,
) -> Vec<Journey> {
    let mut departures: Vec<Time> = Vec::new();
    for &o in origins {
        for &(route, pos) in &tt.stop_routes[o as usize] {
            for trip in &tt.routes[route as usize].trips {
                let d = trip.departures[pos as usize];
                if d >= from && d <= from + window {
                    departures.push(d);
                }
            }
        }
    }
    departures.sort_unstable();
    departures.dedup();
    let mut all: Vec<Journey> = Vec::new();
    for d in departures {
        let q = Query {
            origins: origins.iter().map(|o| (*o, d)).collect(),
            targets: targets.to_vec(),
            max_trips,
        };
        all.extend(query(tt, &q));
    }
    let mut kept: Vec<Journey> = Vec::new();
    for j in &all {
        let dominated = all.iter().any(|o| {
            o != j
                && o.departure >= j.departure
                && o.arrival <= j.arrival
                && o.transfers <= j.transfers
                && (o.departure > j.departure || o.arrival < j.arrival || o.transfers < j.transfers)
        });
        if !dominated && !kept.contains(j) {
            kept.push(j.clone());
        }
    }
    kept.sort_by_key(|j| (j.departure, j.arrival, j.transfers));
    kept
}

/// A simple reference planner for tests: the Connection Scan Algorithm, earliest arrival
/// with any number of transfers, obeying the same change times and footpaths.
pub fn reference_earliest_arrival(tt: &Timetable, origins: &[(Stop, Time)], targets: &[Stop]) -> Time {
    struct Connection {
        from: usize,
        to: usize,
        departure: Time,
        arrival: Time,
        trip: (usize, usize),
    }
    let mut connections = Vec::new();
    for (r, route) in tt.routes.iter().enumerate() {
        for (t, trip) in route.trips.iter().enumerate() {
            for i in 0..route.stops.len() - 1 {
                connections.push(Connection {
                    from: route.stops[i] as usize,
                    to: route.stops[i + 1] as usize,
                    departure: trip.departures[i],
                    arrival: trip.arrivals[i + 1],
                    trip: (r, t),
                });
            }
        }
    }
    connections.sort_by_key(|c| c.departure);
    let n = tt.stop_count();
    let mut ready = vec![UNREACHED; n];
    let mut arrival = vec![UNREACHED; n];
    let walk = |stop: usize, at: Time, ready: &mut Vec<Time>, arrival: &mut Vec<Time>| {
        for p in &tt.footpaths[stop] {
            let t = at.saturating_add(p.seconds);
            if t < arrival[p.to as usize] {
                arrival[p.to as usize] = t;
                ready[p.to as usize] = ready[p.to as usize].min(t);
            }
        }
    };
    for &(s, t) in origins {
        arrival[s as usize] = arrival[s as usize].min(t);
        ready[s as usize] = ready[s as usize].min(t);
    }
    for &(s, t) in origins {
        walk(s as usize, t, &mut ready, &mut arrival);
    }
    let mut on_trip = std::collections::HashSet::new();
    for c in &connections {
        if on_trip.contains(&c.trip) || ready[c.from] <= c.departure {
            on_trip.insert(c.trip);
            if c.arrival < arrival[c.to] {
                arrival[c.to] = c.arrival;
            }
            let change = c.arrival.saturating_add(tt.min_change[c.to]);
            if change < ready[c.to] {
                ready[c.to] = change;
            }
            walk(c.to, c.arrival, &mut ready, &mut arrival);
        }
    }
    targets.iter().map(|t| arrival[*t as usize]).min().unwrap_or(UNREACHED)
}

#[cfg(test)]
mod tests;
