use super::*;

fn hm(h: i32, m: i32) -> Time {
    h * 3600 + m * 60
}

/// A line A–B–C and a line B–D, with a footpath C→D.
fn small() -> Timetable {
    let mut b = TimetableBuilder::new(5, 120);
    b.trip(TripInput {
        id: 1,
        stops: vec![0, 1, 2],
        arrivals: vec![hm(8, 0), hm(8, 30), hm(9, 0)],
        departures: vec![hm(8, 0), hm(8, 32), hm(9, 0)],
    });
    b.trip(TripInput {
        id: 2,
        stops: vec![0, 1, 2],
        arrivals: vec![hm(9, 0), hm(9, 30), hm(10, 0)],
        departures: vec![hm(9, 0), hm(9, 32), hm(10, 0)],
    });
    b.trip(TripInput {
        id: 3,
        stops: vec![1, 3],
        arrivals: vec![hm(8, 31), hm(9, 5)],
        departures: vec![hm(8, 31), hm(9, 5)],
    });
    b.trip(TripInput {
        id: 4,
        stops: vec![1, 3],
        arrivals: vec![hm(8, 40), hm(9, 20)],
        departures: vec![hm(8, 40), hm(9, 20)],
    });
    b.footpath(2, 3, 600);
    b.build()
}

#[test]
fn change_times_are_respected_and_the_pareto_set_is_returned() {
    let tt = small();
    let journeys = query(
        &tt,
        &Query {
            origins: vec![(0, hm(7, 55))],
            targets: vec![3],
            max_trips: 4,
        },
    );
    // With one trip: to C at 9:00 then walk 10 min → 9:10. With two: the 8:31 cannot be
    // caught (a 2-minute change after arriving at 8:30), so the 8:40 → 9:20 (worse).
    assert_eq!(journeys.len(), 1);
    assert_eq!(journeys[0].arrival, hm(9, 10));
    assert_eq!(journeys[0].transfers, 0);
    assert!(matches!(
        journeys[0].legs.last(),
        Some(Leg::Walk { from: 2, to: 3, .. })
    ));

    // Without the footpath, two trips are needed and the change time decides which.
    let mut b = TimetableBuilder::new(5, 120);
    for t in &small().routes {
        for trip in &t.trips {
            b.trip(TripInput {
                id: trip.id,
                stops: t.stops.clone(),
                arrivals: trip.arrivals.clone(),
                departures: trip.departures.clone(),
            });
        }
    }
    let tt = b.build();
    let journeys = query(
        &tt,
        &Query {
            origins: vec![(0, hm(7, 55))],
            targets: vec![3],
            max_trips: 4,
        },
    );
    assert_eq!(journeys.len(), 1);
    assert_eq!(journeys[0].arrival, hm(9, 20));
    assert_eq!(journeys[0].transfers, 1);
    match &journeys[0].legs[..] {
        [Leg::Ride { trip: 1, .. }, Leg::Ride { trip: 4, departure, .. }] => assert_eq!(*departure, hm(8, 40)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn overtaking_trips_go_to_separate_routes() {
    let mut b = TimetableBuilder::new(2, 0);
    b.trip(TripInput {
        id: 1,
        stops: vec![0, 1],
        arrivals: vec![hm(8, 0), hm(10, 0)],
        departures: vec![hm(8, 0), hm(10, 0)],
    });
    b.trip(TripInput {
        id: 2,
        stops: vec![0, 1],
        arrivals: vec![hm(8, 30), hm(9, 0)],
        departures: vec![hm(8, 30), hm(9, 0)],
    });
    let tt = b.build();
    assert_eq!(tt.routes.len(), 2);
    let j = query(
        &tt,
        &Query {
            origins: vec![(0, hm(7, 0))],
            targets: vec![1],
            max_trips: 2,
        },
    );
    assert_eq!(j[0].arrival, hm(9, 0));
}

#[test]
fn a_loop_serves_its_first_and_last_stop_by_position() {
    // 0 → 1 → 2 → 0: the same stop at positions 0 and 3.
    let mut b = TimetableBuilder::new(3, 0);
    b.trip(TripInput {
        id: 1,
        stops: vec![0, 1, 2, 0],
        arrivals: vec![hm(10, 0), hm(11, 0), hm(12, 0), hm(13, 0)],
        departures: vec![hm(10, 0), hm(11, 1), hm(12, 1), hm(13, 0)],
    });
    let tt = b.build();
    let j = query(
        &tt,
        &Query {
            origins: vec![(2, hm(9, 0))],
            targets: vec![0],
            max_trips: 2,
        },
    );
    assert_eq!(j[0].arrival, hm(13, 0));
    match &j[0].legs[0] {
        Leg::Ride { from_pos, to_pos, .. } => assert_eq!((*from_pos, *to_pos), (2, 3)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn range_queries_keep_every_non_dominated_departure() {
    let tt = small();
    let journeys = range_query(&tt, &[0], &[2], hm(7, 0), hm(3, 0), 3);
    let times: Vec<(Time, Time)> = journeys.iter().map(|j| (j.departure, j.arrival)).collect();
    assert_eq!(times, vec![(hm(8, 0), hm(9, 0)), (hm(9, 0), hm(10, 0))]);
}

/// A small deterministic generator, so the property test needs no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_network(rng: &mut Rng) -> Timetable {
    let stops = 4 + rng.below(12) as usize;
    let mut b = TimetableBuilder::new(stops, 60 * rng.below(4) as Time);
    let mut id = 0;
    for _ in 0..1 + rng.below(6) {
        let len = 2 + rng.below(5) as usize;
        let mut line: Vec<Stop> = Vec::new();
        while line.len() < len {
            let s = rng.below(stops as u64) as Stop;
            if line.last() != Some(&s) {
                line.push(s);
            }
        }
        for _ in 0..1 + rng.below(8) {
            let mut t = hm(6, 0) + 60 * rng.below(600) as Time;
            let (mut arrivals, mut departures) = (Vec::new(), Vec::new());
            for _ in 0..len {
                arrivals.push(t);
                t += 60 * rng.below(3) as Time;
                departures.push(t);
                t += 60 * (1 + rng.below(40)) as Time;
            }
            id += 1;
            b.trip(TripInput {
                id,
                stops: line.clone(),
                arrivals,
                departures,
            });
        }
    }
    for _ in 0..rng.below(4) {
        let (a, c) = (rng.below(stops as u64) as Stop, rng.below(stops as u64) as Stop);
        b.footpath(a, c, 60 * (1 + rng.below(15)) as Time);
    }
    b.build()
}

#[test]
fn raptor_agrees_with_connection_scan_on_random_networks() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..3000 {
        let tt = random_network(&mut rng);
        let from = rng.below(tt.stop_count() as u64) as Stop;
        let to = rng.below(tt.stop_count() as u64) as Stop;
        if from == to {
            continue;
        }
        let at = hm(6, 0) + 60 * rng.below(600) as Time;
        let expected = reference_earliest_arrival(&tt, &[(from, at)], &[to]);
        let journeys = query(
            &tt,
            &Query {
                origins: vec![(from, at)],
                targets: vec![to],
                max_trips: 12,
            },
        );
        let got = journeys.iter().map(|j| j.arrival).min().unwrap_or(UNREACHED);
        assert_eq!(got, expected, "case {case}: {from}→{to} at {at}");
        // Each journey is consistent: legs connect, rides leave after the previous arrival.
        for j in &journeys {
            let mut t = at;
            let mut here = from;
            for leg in &j.legs {
                match leg {
                    Leg::Ride {
                        from,
                        departure,
                        arrival,
                        ..
                    }
                    | Leg::Walk {
                        from,
                        departure,
                        arrival,
                        ..
                    } => {
                        assert_eq!(*from, here, "case {case}: legs connect");
                        assert!(*departure >= t, "case {case}: no leg leaves before we are there");
                        t = *arrival;
                    }
                }
                here = match leg {
                    Leg::Ride { to, .. } | Leg::Walk { to, .. } => *to,
                };
            }
            assert_eq!(here, to);
            assert_eq!(t, j.arrival);
        }
        // Fewer transfers never arrive earlier in the Pareto set.
        for pair in journeys.windows(2) {
            assert!(pair[0].transfers < pair[1].transfers && pair[0].arrival > pair[1].arrival);
        }
    }
}
