//! GTFS static feeds: reading the files, checking every record, and writing them back.
//! A feed with any error is refused whole; warnings are reported and the feed is kept.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Seconds after midnight of the service day; GTFS allows 24:00:00 and later.
pub type Secs = i32;

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Issue {
    pub file: String,
    /// The line in the file (1 is the header).
    pub line: Option<u64>,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}: {}", self.file, self.field, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.message),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub id: String,
    pub code: String,
    pub name: String,
    pub name_en: Option<String>,
    pub lat: f64,
    pub lon: f64,
    /// 0 stop or platform, 1 station.
    pub location_type: u8,
    pub parent: Option<String>,
    pub platform: Option<String>,
    /// The jurisdiction (GB/T 2260) the stop lies in, from the `yrd_jurisdiction` extension column.
    pub jurisdiction: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub id: String,
    pub short_name: String,
    pub long_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    pub id: String,
    pub route: String,
    pub service: String,
    pub short_name: String,
    pub headsign: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StopTime {
    pub trip: String,
    pub sequence: u32,
    pub stop: String,
    pub arrival: Secs,
    pub departure: Secs,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub service: String,
    /// Monday first.
    pub days: [bool; 7],
    pub start: NaiveDate,
    pub end: NaiveDate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub from: String,
    pub to: String,
    pub min_seconds: Option<Secs>,
}

/// A checked feed: every reference resolves and every trip's times increase.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub agencies: Vec<(String, String)>,
    pub stops: Vec<Stop>,
    pub routes: Vec<Route>,
    pub trips: Vec<Trip>,
    /// By trip, in stop_sequence order.
    pub stop_times: BTreeMap<String, Vec<StopTime>>,
    pub calendars: Vec<Calendar>,
    /// (service, date) → added (true) or removed (false).
    pub exceptions: BTreeMap<(String, NaiveDate), bool>,
    pub transfers: Vec<Transfer>,
}

impl Feed {
    /// Whether a service runs on a date.
    pub fn runs(&self, service: &str, date: NaiveDate) -> bool {
        if let Some(added) = self.exceptions.get(&(service.to_string(), date)) {
            return *added;
        }
        self.calendars.iter().any(|c| {
            c.service == service
                && c.start <= date
                && date <= c.end
                && c.days[date.weekday().num_days_from_monday() as usize]
        })
    }
}

/// `H:MM:SS` with hours possibly past 24; minutes and seconds under 60.
pub fn parse_time(text: &str) -> Option<Secs> {
    let mut parts = text.trim().split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || m.len() != 2 || s.len() != 2 || h.is_empty() || h.len() > 3 {
        return None;
    }
    let (h, m, s): (i32, i32, i32) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    (h >= 0 && (0..60).contains(&m) && (0..60).contains(&s)).then_some(h * 3600 + m * 60 + s)
}

pub fn format_time(t: Secs) -> String {
    format!("{:02}:{:02}:{:02}", t / 3600, t % 3600 / 60, t % 60)
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    (text.len() == 8)
        .then(|| NaiveDate::parse_from_str(text, "%Y%m%d").ok())
        .flatten()
}

/// One file's rows, with their line numbers, by header name.
struct Table {
    file: String,
    headers: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
}

impl Table {
    fn read(file: &str, text: &str, report: &mut Report) -> Option<Table> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
        let headers: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
            Err(e) => {
                report.errors.push(Issue {
                    file: file.into(),
                    line: Some(1),
                    field: "header".into(),
                    message: e.to_string(),
                });
                return None;
            }
        };
        let mut rows = Vec::new();
        for record in reader.records() {
            match record {
                Ok(r) => {
                    let line = r.position().map_or(0, |p| p.line());
                    if r.len() != headers.len() {
                        report.errors.push(Issue {
                            file: file.into(),
                            line: Some(line),
                            field: "record".into(),
                            message: format!("{} fields, the header has {}", r.len(), headers.len()),
                        });
                        continue;
                    }
                    rows.push((line, r.iter().map(|s| s.trim().to_string()).collect()));
                }
                Err(e) => report.errors.push(Issue {
                    file: file.into(),
                    line: e.position().map(|p| p.line()),
                    field: "record".into(),
                    message: format!("malformed CSV: {e}"),
                }),
            }
        }
        Some(Table {
            file: file.into(),
            headers,
            rows,
        })
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Rows as maps from field to value; missing required columns are errors.
    fn records(&self, required: &[&str], report: &mut Report) -> Vec<(u64, HashMap<String, String>)> {
        let missing: Vec<&&str> = required.iter().filter(|r| self.column(r).is_none()).collect();
        for m in &missing {
            report.errors.push(Issue {
                file: self.file.clone(),
                line: Some(1),
                field: m.to_string(),
                message: "required column missing".into(),
            });
        }
        if !missing.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (line, row) in &self.rows {
            let record: HashMap<String, String> = self.headers.iter().cloned().zip(row.iter().cloned()).collect();
            let mut ok = true;
            for r in required {
                if record.get(*r).is_none_or(|v| v.is_empty()) {
                    report.errors.push(Issue {
                        file: self.file.clone(),
                        line: Some(*line),
                        field: r.to_string(),
                        message: "required value missing".into(),
                    });
                    ok = false;
                }
            }
            if ok {
                out.push((*line, record));
            }
        }
        out
    }
}

fn issue(file: &str, line: u64, field: &str, message: impl Into<String>) -> Issue {
    Issue {
        file: file.into(),
        line: Some(line),
        field: field.into(),
        message: message.into(),
    }
}

/// Reads and checks a feed given as file name → text.
pub fn parse(files: &BTreeMap<String, String>) -> (Option<Feed>, Report) {
    let mut report = Report::default();
    let table = |name: &str, required: bool, report: &mut Report| -> Option<Table> {
        match files.get(name) {
            Some(text) => Table::read(name, text, report),
            None => {
                if required {
                    report.errors.push(Issue {
                        file: name.into(),
                        line: None,
                        field: "file".into(),
                        message: "required file missing".into(),
                    });
                }
                None
            }
        }
    };
    let agency = table("agency.txt", true, &mut report);
    let stops_t = table("stops.txt", true, &mut report);
    let routes_t = table("routes.txt", true, &mut report);
    let trips_t = table("trips.txt", true, &mut report);
    let times_t = table("stop_times.txt", true, &mut report);
    let calendar_t = table("calendar.txt", false, &mut report);
    let dates_t = table("calendar_dates.txt", false, &mut report);
    let transfers_t = table("transfers.txt", false, &mut report);
    let translations_t = table("translations.txt", false, &mut report);
    if calendar_t.is_none() && dates_t.is_none() {
        report.errors.push(Issue {
            file: "calendar.txt".into(),
            line: None,
            field: "file".into(),
            message: "calendar.txt or calendar_dates.txt is required".into(),
        });
    }

    let mut agencies = Vec::new();
    if let Some(t) = &agency {
        for (_, r) in t.records(&["agency_name", "agency_timezone"], &mut report) {
            agencies.push((
                r.get("agency_id").cloned().unwrap_or_default(),
                r["agency_name"].clone(),
            ));
        }
    }

    let mut english: HashMap<String, String> = HashMap::new();
    if let Some(t) = &translations_t {
        for (_, r) in t.records(&["table_name", "field_name", "language", "translation"], &mut report) {
            if r["table_name"] == "stops"
                && r["field_name"] == "stop_name"
                && r["language"].starts_with("en")
                && let Some(id) = r.get("record_id")
            {
                english.insert(id.clone(), r["translation"].clone());
            }
        }
    }

    let mut stops = Vec::new();
    let mut stop_ids = HashSet::new();
    if let Some(t) = &stops_t {
        for (line, r) in t.records(&["stop_id", "stop_name"], &mut report) {
            let id = r["stop_id"].clone();
            if !stop_ids.insert(id.clone()) {
                report
                    .errors
                    .push(issue("stops.txt", line, "stop_id", format!("'{id}' is defined twice")));
                continue;
            }
            let coordinate = |field: &str, range: std::ops::RangeInclusive<f64>, report: &mut Report| match r
                .get(field)
                .map(|v| v.parse::<f64>())
            {
                Some(Ok(v)) if range.contains(&v) => v,
                _ => {
                    report.errors.push(issue(
                        "stops.txt",
                        line,
                        field,
                        format!(
                            "'{}' is not a valid coordinate",
                            r.get(field).cloned().unwrap_or_default()
                        ),
                    ));
                    0.0
                }
            };
            let lat = coordinate("stop_lat", -90.0..=90.0, &mut report);
            let lon = coordinate("stop_lon", -180.0..=180.0, &mut report);
            let location_type = match r.get("location_type").map(String::as_str).unwrap_or("") {
                "" | "0" => 0,
                "1" => 1,
                other @ ("2" | "3" | "4") => other.parse().unwrap_or(0),
                other => {
                    report.errors.push(issue(
                        "stops.txt",
                        line,
                        "location_type",
                        format!("'{other}' is not 0–4"),
                    ));
                    0
                }
            };
            let nonempty = |field: &str| r.get(field).filter(|v| !v.is_empty()).cloned();
            stops.push(Stop {
                name_en: english.get(&id).cloned(),
                id,
                code: r.get("stop_code").cloned().unwrap_or_default(),
                name: r["stop_name"].clone(),
                lat,
                lon,
                location_type,
                parent: nonempty("parent_station"),
                platform: nonempty("platform_code"),
                jurisdiction: nonempty("yrd_jurisdiction"),
            });
        }
    }
    for s in &stops {
        if let Some(parent) = &s.parent
            && !stops.iter().any(|p| &p.id == parent && p.location_type == 1)
        {
            report.errors.push(Issue {
                file: "stops.txt".into(),
                line: None,
                field: "parent_station".into(),
                message: format!("stop '{}': parent '{parent}' is not a station in this feed", s.id),
            });
        }
        if let Some(code) = &s.jurisdiction
            && yrd_kernel::JurisdictionCode::parse(code).is_err()
        {
            report.warnings.push(Issue {
                file: "stops.txt".into(),
                line: None,
                field: "yrd_jurisdiction".into(),
                message: format!("stop '{}': '{code}' is not a jurisdiction of the region", s.id),
            });
        }
    }

    let mut routes = Vec::new();
    if let Some(t) = &routes_t {
        let mut seen = HashSet::new();
        for (line, r) in t.records(&["route_id", "route_type"], &mut report) {
            if !seen.insert(r["route_id"].clone()) {
                report.errors.push(issue(
                    "routes.txt",
                    line,
                    "route_id",
                    format!("'{}' is defined twice", r["route_id"]),
                ));
                continue;
            }
            let short = r.get("route_short_name").cloned().unwrap_or_default();
            let long = r.get("route_long_name").cloned().unwrap_or_default();
            if short.is_empty() && long.is_empty() {
                report.errors.push(issue(
                    "routes.txt",
                    line,
                    "route_short_name",
                    "a route needs a short or a long name",
                ));
            }
            routes.push(Route {
                id: r["route_id"].clone(),
                short_name: short,
                long_name: long,
            });
        }
    }

    let mut calendars = Vec::new();
    let mut services: HashSet<String> = HashSet::new();
    if let Some(t) = &calendar_t {
        let days = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ];
        let mut required = vec!["service_id", "start_date", "end_date"];
        required.extend(days);
        for (line, r) in t.records(&required, &mut report) {
            let mut flags = [false; 7];
            for (i, d) in days.iter().enumerate() {
                match r[*d].as_str() {
                    "0" => {}
                    "1" => flags[i] = true,
                    other => report
                        .errors
                        .push(issue("calendar.txt", line, d, format!("'{other}' is not 0 or 1"))),
                }
            }
            let start = parse_date(&r["start_date"]);
            let end = parse_date(&r["end_date"]);
            if start.is_none() {
                report.errors.push(issue(
                    "calendar.txt",
                    line,
                    "start_date",
                    format!("'{}' is not a date (YYYYMMDD)", r["start_date"]),
                ));
            }
            if end.is_none() {
                report.errors.push(issue(
                    "calendar.txt",
                    line,
                    "end_date",
                    format!("'{}' is not a date (YYYYMMDD)", r["end_date"]),
                ));
            }
            if let (Some(start), Some(end)) = (start, end) {
                if end < start {
                    report.errors.push(issue(
                        "calendar.txt",
                        line,
                        "end_date",
                        format!("{end} is before the start {start}"),
                    ));
                }
                if !services.insert(r["service_id"].clone()) {
                    report.errors.push(issue(
                        "calendar.txt",
                        line,
                        "service_id",
                        format!("'{}' is defined twice", r["service_id"]),
                    ));
                }
                calendars.push(Calendar {
                    service: r["service_id"].clone(),
                    days: flags,
                    start,
                    end,
                });
            }
        }
    }
    let mut exceptions = BTreeMap::new();
    if let Some(t) = &dates_t {
        for (line, r) in t.records(&["service_id", "date", "exception_type"], &mut report) {
            let Some(date) = parse_date(&r["date"]) else {
                report.errors.push(issue(
                    "calendar_dates.txt",
                    line,
                    "date",
                    format!("'{}' is not a date (YYYYMMDD)", r["date"]),
                ));
                continue;
            };
            let added = match r["exception_type"].as_str() {
                "1" => true,
                "2" => false,
                other => {
                    report.errors.push(issue(
                        "calendar_dates.txt",
                        line,
                        "exception_type",
                        format!("'{other}' is not 1 or 2"),
                    ));
                    continue;
                }
            };
            services.insert(r["service_id"].clone());
            exceptions.insert((r["service_id"].clone(), date), added);
        }
    }

    let mut trips = Vec::new();
    let mut trip_ids = HashSet::new();
    if let Some(t) = &trips_t {
        for (line, r) in t.records(&["route_id", "service_id", "trip_id"], &mut report) {
            let id = r["trip_id"].clone();
            if !trip_ids.insert(id.clone()) {
                report
                    .errors
                    .push(issue("trips.txt", line, "trip_id", format!("'{id}' is defined twice")));
                continue;
            }
            if !routes.iter().any(|x| x.id == r["route_id"]) {
                report.errors.push(issue(
                    "trips.txt",
                    line,
                    "route_id",
                    format!("unknown route '{}'", r["route_id"]),
                ));
            }
            if !services.contains(&r["service_id"]) {
                report.errors.push(issue(
                    "trips.txt",
                    line,
                    "service_id",
                    format!("unknown service '{}'", r["service_id"]),
                ));
            }
            trips.push(Trip {
                id,
                route: r["route_id"].clone(),
                service: r["service_id"].clone(),
                short_name: r.get("trip_short_name").cloned().unwrap_or_default(),
                headsign: r.get("trip_headsign").cloned().unwrap_or_default(),
            });
        }
    }

    let mut stop_times: BTreeMap<String, Vec<(u64, StopTime)>> = BTreeMap::new();
    if let Some(t) = &times_t {
        for (line, r) in t.records(&["trip_id", "stop_id", "stop_sequence"], &mut report) {
            if !trip_ids.contains(&r["trip_id"]) {
                report.errors.push(issue(
                    "stop_times.txt",
                    line,
                    "trip_id",
                    format!("unknown trip '{}'", r["trip_id"]),
                ));
                continue;
            }
            if !stop_ids.contains(&r["stop_id"]) {
                report.errors.push(issue(
                    "stop_times.txt",
                    line,
                    "stop_id",
                    format!("unknown stop '{}'", r["stop_id"]),
                ));
                continue;
            }
            let Ok(sequence) = r["stop_sequence"].parse::<u32>() else {
                report.errors.push(issue(
                    "stop_times.txt",
                    line,
                    "stop_sequence",
                    format!("'{}' is not a whole number", r["stop_sequence"]),
                ));
                continue;
            };
            let time = |field: &str, report: &mut Report| -> Option<Secs> {
                let text = r.get(field).map(String::as_str).unwrap_or("");
                if text.is_empty() {
                    return None;
                }
                let parsed = parse_time(text);
                if parsed.is_none() {
                    report.errors.push(issue(
                        "stop_times.txt",
                        line,
                        field,
                        format!("'{text}' is not a time (HH:MM:SS)"),
                    ));
                }
                parsed
            };
            let arrival = time("arrival_time", &mut report);
            let departure = time("departure_time", &mut report);
            let (Some(arrival), Some(departure)) = (arrival.or(departure), departure.or(arrival)) else {
                report.errors.push(issue(
                    "stop_times.txt",
                    line,
                    "arrival_time",
                    "this planner needs a time at every stop",
                ));
                continue;
            };
            stop_times.entry(r["trip_id"].clone()).or_default().push((
                line,
                StopTime {
                    trip: r["trip_id"].clone(),
                    sequence,
                    stop: r["stop_id"].clone(),
                    arrival,
                    departure,
                },
            ));
        }
    }
    let mut ordered = BTreeMap::new();
    for (trip, mut list) in stop_times {
        list.sort_by_key(|(_, st)| st.sequence);
        let mut previous: Option<&StopTime> = None;
        for (line, st) in &list {
            if let Some(p) = previous {
                if st.sequence == p.sequence {
                    report.errors.push(issue(
                        "stop_times.txt",
                        *line,
                        "stop_sequence",
                        format!("trip '{trip}' has stop_sequence {} twice", st.sequence),
                    ));
                } else if st.arrival < p.departure {
                    report.errors.push(issue(
                        "stop_times.txt",
                        *line,
                        "arrival_time",
                        format!(
                            "trip '{trip}' arrives at {} before leaving the previous stop at {}",
                            format_time(st.arrival),
                            format_time(p.departure)
                        ),
                    ));
                }
            }
            if st.departure < st.arrival {
                report.errors.push(issue(
                    "stop_times.txt",
                    *line,
                    "departure_time",
                    "departs before it arrives",
                ));
            }
            previous = Some(st);
        }
        if list.len() < 2 {
            report.warnings.push(Issue {
                file: "stop_times.txt".into(),
                line: None,
                field: "trip_id".into(),
                message: format!("trip '{trip}' has fewer than two stops"),
            });
        }
        ordered.insert(trip, list.into_iter().map(|(_, st)| st).collect::<Vec<_>>());
    }
    for t in &trips {
        if !ordered.contains_key(&t.id) {
            report.warnings.push(Issue {
                file: "trips.txt".into(),
                line: None,
                field: "trip_id".into(),
                message: format!("trip '{}' has no stop times", t.id),
            });
        }
    }

    let mut transfers = Vec::new();
    if let Some(t) = &transfers_t {
        for (line, r) in t.records(&["from_stop_id", "to_stop_id", "transfer_type"], &mut report) {
            for field in ["from_stop_id", "to_stop_id"] {
                if !stop_ids.contains(&r[field]) {
                    report.errors.push(issue(
                        "transfers.txt",
                        line,
                        field,
                        format!("unknown stop '{}'", r[field]),
                    ));
                }
            }
            let min_seconds = r
                .get("min_transfer_time")
                .filter(|v| !v.is_empty())
                .map(|v| v.parse::<Secs>());
            let min_seconds = match min_seconds {
                Some(Ok(s)) if s >= 0 => Some(s),
                Some(_) => {
                    report
                        .errors
                        .push(issue("transfers.txt", line, "min_transfer_time", "a number of seconds"));
                    None
                }
                None => None,
            };
            transfers.push(Transfer {
                from: r["from_stop_id"].clone(),
                to: r["to_stop_id"].clone(),
                min_seconds,
            });
        }
    }

    if !report.errors.is_empty() {
        return (None, report);
    }
    (
        Some(Feed {
            agencies,
            stops,
            routes,
            trips,
            stop_times: ordered,
            calendars,
            exceptions,
            transfers,
        }),
        report,
    )
}

/// Reads a feed from a zip archive or a folder of `.txt` files.
pub fn read_files(path: &std::path::Path) -> Result<BTreeMap<String, String>, String> {
    let mut files = BTreeMap::new();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))? {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".txt") {
                let text = std::fs::read_to_string(entry.path()).map_err(|e| format!("{name}: {e}"))?;
                files.insert(name, text);
            }
        }
        return Ok(files);
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    unzip(&bytes)
}

pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

pub fn unzip(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format!("not a zip archive: {e}"))?;
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| e.to_string())?;
        let name = file.name().rsplit('/').next().unwrap_or("").to_string();
        if !name.ends_with(".txt") {
            continue;
        }
        if file.size() > MAX_FILE_BYTES {
            return Err(format!("{name}: larger than {} MiB", MAX_FILE_BYTES / 1024 / 1024));
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(&mut file, MAX_FILE_BYTES), &mut text)
            .map_err(|e| format!("{name}: {e}"))?;
        files.insert(name, text);
    }
    Ok(files)
}

/// Writes files into a zip archive (the export).
pub fn zip_files(files: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in files {
            writer.start_file(name.as_str(), options).expect("writing to memory");
            std::io::Write::write_all(&mut writer, text.as_bytes()).expect("writing to memory");
        }
        writer.finish().expect("writing to memory");
    }
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn shipped() -> BTreeMap<String, String> {
        read_files(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/transit/yrd-rail"
        )))
        .unwrap()
    }

    #[test]
    fn the_shipped_feed_is_valid() {
        let (feed, report) = parse(&shipped());
        assert_eq!(report.errors, vec![]);
        let feed = feed.unwrap();
        let loop_trip = &feed.stop_times["G8388-daily"];
        assert_eq!(loop_trip.len(), 21);
        assert_eq!(format_time(loop_trip[0].departure), "10:27:00");
        assert_eq!(format_time(loop_trip[20].arrival), "18:36:00");
        // National Day 2026 (a Thursday): the weekend timetable runs.
        let national_day = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        assert!(feed.runs("weekend", national_day) && !feed.runs("weekday", national_day));
        // Sunday 2026-09-20 is a make-up working day.
        let make_up = NaiveDate::from_ymd_opt(2026, 9, 20).unwrap();
        assert!(feed.runs("weekday", make_up) && !feed.runs("weekend", make_up));
        assert!(
            feed.stop_times
                .values()
                .any(|st| st.last().unwrap().arrival > 24 * 3600),
            "a trip runs past midnight"
        );
    }

    #[test]
    fn times_dates_and_references_are_checked_with_their_place() {
        let mut files = shipped();
        let times =
            files["stop_times.txt"].replacen("10:31:00", "25:99:00", 1) + "ghost-trip,08:00:00,08:00:00,SHH-1,1\n";
        files.insert("stop_times.txt".into(), times);
        let calendar = files["calendar.txt"].replacen("20240615,20261231", "20261231,20240615", 1);
        files.insert("calendar.txt".into(), calendar);
        files.insert(
            "trips.txt".into(),
            files["trips.txt"].clone() + "S1,daily,S1-0-0-daily,1,x,x\n",
        );
        let (feed, report) = parse(&files);
        assert!(feed.is_none());
        let text: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        for expected in [
            "stop_times.txt:3: arrival_time: '25:99:00' is not a time",
            "unknown trip 'ghost-trip'",
            "calendar.txt:2: end_date: 2024-06-15 is before the start 2026-12-31",
            "trips.txt:669: trip_id: 'S1-0-0-daily' is defined twice",
        ] {
            assert!(text.iter().any(|t| t.contains(expected)), "{expected} in {text:#?}");
        }
        let mut missing = shipped();
        missing.remove("stops.txt");
        let (_, report) = parse(&missing);
        assert!(
            report
                .errors
                .iter()
                .any(|e| e.file == "stops.txt" && e.message == "required file missing")
        );
        let mut garbage = shipped();
        garbage.insert("routes.txt".into(), "route_id,route_type\n\"unterminated,2\n".into());
        assert!(parse(&garbage).0.is_none());
    }

    #[test]
    fn zip_round_trip() {
        let files = shipped();
        assert_eq!(unzip(&zip_files(&files)).unwrap(), files);
        assert!(unzip(b"not a zip").is_err());
        assert_eq!(parse_time("24:05:00"), Some(86700));
        for bad in ["25:99:00", "8:5:00", "aa:00:00", "10:00", "-1:00:00"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
