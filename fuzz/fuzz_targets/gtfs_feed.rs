//! GTFS feeds come from operators: any file contents give a feed or a report with
//! errors, never a panic. The fuzzer's bytes replace one file of the shipped feed.
#![no_main]

use libfuzzer_sys::fuzz_target;

const FILES: [&str; 6] = ["stops.txt", "routes.txt", "trips.txt", "stop_times.txt", "calendar.txt", "calendar_dates.txt"];

fuzz_target!(|data: (u8, &str)| {
    let (which, text) = data;
    let mut files = yrd_transit::demo_feed_files();
    files.insert(FILES[which as usize % FILES.len()].to_string(), text.to_string());
    let (feed, report) = yrd_transit::gtfs::parse(&files);
    assert!(feed.is_some() || !report.errors.is_empty());
});
