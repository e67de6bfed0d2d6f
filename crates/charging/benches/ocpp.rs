//! The OCPP hot path without I/O: reading a frame and checking its payload against the
//! official schema (every message a station sends), and the swap-station finder.
//! `cargo bench -p yrd-charging`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use yrd_charging::finder::{SwapFilter, SwapIndex, SwapPoint};
use yrd_charging::ocpp::{self, Frame};
use yrd_charging::protocol::Version;

fn check(version: Version, text: &str) {
    if let Ok(Frame::Call { id, action, payload }) = ocpp::parse(text) {
        black_box(version.check_request(&id, &action, &payload)).ok();
    }
}

fn bench(c: &mut Criterion) {
    let heartbeat = r#"[2,"1","Heartbeat",{}]"#;
    let meter_values = r#"[2,"2","MeterValues",{"connectorId":1,"transactionId":42,"meterValue":[{"timestamp":"2026-12-02T10:10:00Z","sampledValue":[{"value":"12345","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"7.2","measurand":"Power.Active.Import","unit":"kW"}]}]}]"#;
    let event = r#"[2,"3","TransactionEvent",{"eventType":"Updated","timestamp":"2026-12-02T10:10:00Z","triggerReason":"MeterValuePeriodic","seqNo":3,"transactionInfo":{"transactionId":"tx-1","chargingState":"Charging"},"meterValue":[{"timestamp":"2026-12-02T10:10:00Z","sampledValue":[{"value":12345,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}]"#;
    // Compile the schemas once, outside the measurement.
    check(Version::V16, heartbeat);
    c.bench_function("ocpp 1.6 Heartbeat: parse + schema", |b| {
        b.iter(|| check(Version::V16, black_box(heartbeat)))
    });
    c.bench_function("ocpp 1.6 MeterValues: parse + schema", |b| {
        b.iter(|| check(Version::V16, black_box(meter_values)))
    });
    c.bench_function("ocpp 2.0.1 TransactionEvent: parse + schema", |b| {
        b.iter(|| check(Version::V201, black_box(event)))
    });

    // 1,000 swap stations around the region, 13 slots each.
    let index = SwapIndex::new(
        (0..1_000)
            .map(|i| SwapPoint {
                station_id: format!("SW-{i:04}"),
                operator_id: format!("op-{}", i % 5),
                name: String::new(),
                lon: 116.0 + (i % 40) as f64 * 0.15,
                lat: 28.0 + (i / 40) as f64 * 0.3,
                slots: 13,
                vehicle_models: vec!["NIO ES6".into(), "NIO ET5".into()],
                packs: (1..13)
                    .map(|s| (s, ((s * 7 + i) % 100) as f64))
                    .collect::<BTreeMap<u32, f64>>(),
                online: true,
            })
            .collect(),
    );
    let filter = SwapFilter {
        vehicle_model: Some("NIO ET5".into()),
        min_soc: 90.0,
        ready_only: true,
        ..SwapFilter::default()
    };
    c.bench_function("swap finder: 1,000 stations, 20 km", |b| {
        b.iter(|| black_box(index.nearby(121.47, 31.23, 20.0, &filter, 20).len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
