//! GTFS-Realtime arrives as protobuf from outside: any bytes decode or are refused.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(updates) = yrd_transit::realtime::decode(bytes, |_, _| Some(1)) {
        for change in updates.trips.values() {
            let (mut a, mut d) = (vec![0, 60, 120], vec![10, 70, 120]);
            yrd_transit::realtime::Updates::apply(change, &[1, 2, 3], &mut a, &mut d);
        }
    }
});
