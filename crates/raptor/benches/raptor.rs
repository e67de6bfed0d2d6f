//! Query latency on a synthetic network the size of a regional rail system, and on a
//! larger one (1,000 stations, about 50,000 trips). `cargo bench -p yrd-raptor`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use yrd_raptor::{Query, Stop, Time, TimetableBuilder, TripInput, query};

/// Lines of `stops_per_line` stations, every `headway` seconds from 06:00 to 22:00;
/// lines cross at shared stations.
fn network(stations: u32, lines: u32, stops_per_line: u32, headway: Time) -> yrd_raptor::Timetable {
    let mut b = TimetableBuilder::new(stations as usize, 300);
    let mut id = 0;
    let mut seed: u64 = 42;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..lines {
        let mut stops: Vec<Stop> = Vec::new();
        while stops.len() < stops_per_line as usize {
            let s = (next() % stations as u64) as Stop;
            if !stops.contains(&s) {
                stops.push(s);
            }
        }
        let hops: Vec<Time> = stops.iter().map(|_| 600 + (next() % 1800) as Time).collect();
        let mut start = 6 * 3600;
        while start < 22 * 3600 {
            let mut t = start;
            let (mut arrivals, mut departures) = (Vec::new(), Vec::new());
            for hop in &hops {
                arrivals.push(t);
                departures.push(t + 120);
                t += 120 + hop;
            }
            id += 1;
            b.trip(TripInput {
                id,
                stops: stops.clone(),
                arrivals,
                departures,
            });
            start += headway;
        }
    }
    b.build()
}

fn bench(c: &mut Criterion) {
    let regional = network(120, 40, 12, 1800);
    let large = network(1000, 830, 20, 960);
    let trips: usize = large.routes.iter().map(|r| r.trips.len()).sum();
    assert!(trips >= 49_000, "{trips} trips");
    for (name, tt, stations) in [
        ("regional (120 stations, ~1,300 trips)", &regional, 120u32),
        ("large (1,000 stations, ~50,000 trips)", &large, 1000),
    ] {
        let mut i = 0u32;
        c.bench_function(&format!("raptor earliest arrival, {name}"), |b| {
            b.iter(|| {
                i = i.wrapping_add(7919);
                let q = Query {
                    origins: vec![(i % stations, 8 * 3600)],
                    targets: vec![(i / 7 + 13) % stations],
                    max_trips: 6,
                };
                black_box(query(tt, &q))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
