//! The driver's finder: connectors on a grid of cells, so a query looks only at the
//! cells its circle touches; status changes update the index in place. Swap stations
//! with their packs beside them. Pure.

use std::collections::{BTreeMap, HashMap};

/// One connector where a driver may charge.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub station_id: String,
    pub connector_id: u32,
    pub operator_id: String,
    pub lon: f64,
    pub lat: f64,
    pub max_kw: f64,
    /// e.g. `GB/T DC`, `GB/T AC`
    pub standard: String,
    pub status: String,
}

impl Point {
    pub fn available(&self) -> bool {
        self.status == "Available"
    }
}

/// What the driver asks for besides the place.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub min_kw: Option<f64>,
    pub standard: Option<String>,
    pub operator: Option<String>,
    pub available_only: bool,
}

impl Filter {
    pub fn accepts(&self, point: &Point) -> bool {
        self.min_kw.is_none_or(|kw| point.max_kw >= kw)
            && self.standard.as_deref().is_none_or(|s| point.standard == s)
            && self.operator.as_deref().is_none_or(|o| point.operator_id == o)
            && (!self.available_only || point.available())
    }
}

/// Great-circle distance in km (mean Earth radius).
pub fn distance_km(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().min(1.0).asin()
}

/// Cell size in degrees: about 5.5 km north–south.
const CELL_DEG: f64 = 0.05;
/// Searches reach at most this far.
pub const MAX_RADIUS_KM: f64 = 100.0;

fn cell_of(lon: f64, lat: f64) -> (i32, i32) {
    ((lon / CELL_DEG).floor() as i32, (lat / CELL_DEG).floor() as i32)
}

#[derive(Debug, Default)]
pub struct Index {
    points: Vec<Point>,
    cells: HashMap<(i32, i32), Vec<usize>>,
    by_connector: HashMap<(String, u32), usize>,
}

impl Index {
    pub fn new(points: Vec<Point>) -> Self {
        let mut index = Index::default();
        for point in points {
            index.insert(point);
        }
        index
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Adds a connector, or replaces it where it already is.
    pub fn insert(&mut self, point: Point) {
        let key = (point.station_id.clone(), point.connector_id);
        if let Some(&at) = self.by_connector.get(&key) {
            let old = cell_of(self.points[at].lon, self.points[at].lat);
            if let Some(list) = self.cells.get_mut(&old) {
                list.retain(|&i| i != at);
            }
            self.cells.entry(cell_of(point.lon, point.lat)).or_default().push(at);
            self.points[at] = point;
            return;
        }
        let at = self.points.len();
        self.cells.entry(cell_of(point.lon, point.lat)).or_default().push(at);
        self.by_connector.insert(key, at);
        self.points.push(point);
    }

    /// A status change as it arrives; false if the connector is not indexed.
    pub fn set_status(&mut self, station_id: &str, connector_id: u32, status: &str) -> bool {
        match self.by_connector.get(&(station_id.to_string(), connector_id)) {
            Some(&at) => {
                self.points[at].status = status.to_string();
                true
            }
            None => false,
        }
    }

    /// The station's connectors all at once (a station that went offline).
    pub fn set_station_status(&mut self, station_id: &str, status: &str) {
        for point in self.points.iter_mut().filter(|p| p.station_id == station_id) {
            point.status = status.to_string();
        }
    }

    /// The nearest matching connectors within `radius_km`, nearest first (ties by
    /// station and connector, so answers are stable).
    pub fn nearby(&self, lon: f64, lat: f64, radius_km: f64, filter: &Filter, limit: usize) -> Vec<(f64, &Point)> {
        let radius = radius_km.clamp(0.0, MAX_RADIUS_KM);
        let dlat = radius / 110.574;
        let dlon = radius / (111.320 * lat.to_radians().cos().abs().max(0.01));
        let (x0, y0) = cell_of(lon - dlon, lat - dlat);
        let (x1, y1) = cell_of(lon + dlon, lat + dlat);
        let mut found: Vec<(f64, &Point)> = Vec::new();
        for x in x0..=x1 {
            for y in y0..=y1 {
                for &at in self.cells.get(&(x, y)).into_iter().flatten() {
                    let point = &self.points[at];
                    if !filter.accepts(point) {
                        continue;
                    }
                    let d = distance_km(lon, lat, point.lon, point.lat);
                    if d <= radius {
                        found.push((d, point));
                    }
                }
            }
        }
        found.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then_with(|| a.1.station_id.cmp(&b.1.station_id))
                .then_with(|| a.1.connector_id.cmp(&b.1.connector_id))
        });
        found.truncate(limit);
        found
    }

    /// Every point, for the brute-force comparison and for statistics.
    pub fn points(&self) -> &[Point] {
        &self.points
    }
}

/// A battery-swap station and the state of charge of the pack in each occupied slot.
#[derive(Debug, Clone, PartialEq)]
pub struct SwapPoint {
    pub station_id: String,
    pub operator_id: String,
    pub name: String,
    pub lon: f64,
    pub lat: f64,
    pub slots: u32,
    pub vehicle_models: Vec<String>,
    /// slot → state of charge (%).
    pub packs: BTreeMap<u32, f64>,
    /// Connected (or not yet known to be away): an offline station swaps nothing.
    pub online: bool,
}

impl SwapPoint {
    /// Packs charged to at least `min_soc` %.
    pub fn ready(&self, min_soc: f64) -> usize {
        self.packs.values().filter(|soc| **soc >= min_soc).count()
    }
}

/// What a driver asks of a swap station besides the place.
#[derive(Debug, Clone, Default)]
pub struct SwapFilter {
    pub vehicle_model: Option<String>,
    pub operator: Option<String>,
    /// A pack counts as ready from this state of charge (%).
    pub min_soc: f64,
    /// Only online stations with a ready pack.
    pub ready_only: bool,
}

impl SwapFilter {
    pub fn accepts(&self, point: &SwapPoint) -> bool {
        self.vehicle_model
            .as_deref()
            .is_none_or(|m| point.vehicle_models.iter().any(|v| v.eq_ignore_ascii_case(m)))
            && self.operator.as_deref().is_none_or(|o| point.operator_id == o)
            && (!self.ready_only || (point.online && point.ready(self.min_soc) > 0))
    }
}

/// Swap stations, live. They number in the hundreds per province (not the hundreds of
/// thousands of connectors), so a scan of all of them is the index: a query over 1,000
/// stations costs about 0.1 ms (docs/performance.md) and every pack event updates it
/// in place.
#[derive(Debug, Default)]
pub struct SwapIndex {
    stations: HashMap<String, SwapPoint>,
}

impl SwapIndex {
    pub fn new(points: Vec<SwapPoint>) -> Self {
        SwapIndex {
            stations: points.into_iter().map(|p| (p.station_id.clone(), p)).collect(),
        }
    }

    /// Adds a station or replaces what was known of it (keeping whether it is online).
    pub fn insert(&mut self, mut point: SwapPoint) {
        if let Some(old) = self.stations.get(&point.station_id) {
            point.online = old.online;
        }
        self.stations.insert(point.station_id.clone(), point);
    }

    pub fn remove(&mut self, station_id: &str) {
        self.stations.remove(station_id);
    }

    /// A slot's pack changed (`None`: the slot is empty now).
    pub fn set_pack(&mut self, station_id: &str, slot: u32, soc: Option<f64>) {
        if let Some(point) = self.stations.get_mut(station_id) {
            match soc {
                Some(soc) => point.packs.insert(slot, soc),
                None => point.packs.remove(&slot),
            };
        }
    }

    pub fn set_online(&mut self, station_id: &str, online: bool) {
        if let Some(point) = self.stations.get_mut(station_id) {
            point.online = online;
        }
    }

    pub fn get(&self, station_id: &str) -> Option<&SwapPoint> {
        self.stations.get(station_id)
    }

    /// The nearest matching swap stations within `radius_km`, nearest first (ties by id).
    pub fn nearby(
        &self,
        lon: f64,
        lat: f64,
        radius_km: f64,
        filter: &SwapFilter,
        limit: usize,
    ) -> Vec<(f64, &SwapPoint)> {
        let radius = radius_km.clamp(0.0, MAX_RADIUS_KM);
        let mut found: Vec<(f64, &SwapPoint)> = self
            .stations
            .values()
            .filter(|p| filter.accepts(p))
            .map(|p| (distance_km(lon, lat, p.lon, p.lat), p))
            .filter(|(d, _)| *d <= radius)
            .collect();
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.station_id.cmp(&b.1.station_id)));
        found.truncate(limit);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % 1_000_000) as f64 / 1_000_000.0
        }
    }

    fn brute<'a>(
        points: &'a [Point],
        lon: f64,
        lat: f64,
        radius: f64,
        filter: &Filter,
        limit: usize,
    ) -> Vec<(f64, &'a Point)> {
        let mut all: Vec<(f64, &Point)> = points
            .iter()
            .filter(|p| filter.accepts(p))
            .map(|p| (distance_km(lon, lat, p.lon, p.lat), p))
            .filter(|(d, _)| *d <= radius.min(MAX_RADIUS_KM))
            .collect();
        all.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then_with(|| a.1.station_id.cmp(&b.1.station_id))
                .then_with(|| a.1.connector_id.cmp(&b.1.connector_id))
        });
        all.truncate(limit);
        all
    }

    #[test]
    fn the_index_answers_like_a_brute_force_scan() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let standards = ["GB/T DC", "GB/T AC", "CCS2"];
        let points: Vec<Point> = (0..5_000)
            .map(|i| Point {
                station_id: format!("S{}", i / 4),
                connector_id: (i % 4) as u32 + 1,
                operator_id: format!("op{}", i % 3),
                lon: 116.0 + rng.next() * 6.0,
                lat: 29.0 + rng.next() * 6.0,
                max_kw: [7.0, 60.0, 120.0, 240.0][i % 4],
                standard: standards[i % 3].to_string(),
                status: if rng.next() < 0.6 { "Available" } else { "Charging" }.to_string(),
            })
            .collect();
        let mut index = Index::new(points.clone());
        let mut current = points;
        for q in 0..400 {
            let (lon, lat) = (116.0 + rng.next() * 6.0, 29.0 + rng.next() * 6.0);
            let radius = [0.5, 3.0, 10.0, 40.0, 150.0][q % 5];
            let filter = Filter {
                min_kw: (q % 3 == 0).then_some(60.0),
                standard: (q % 4 == 0).then(|| "GB/T DC".to_string()),
                operator: (q % 5 == 0).then(|| "op1".to_string()),
                available_only: q % 2 == 0,
            };
            let fast: Vec<(String, u32)> = index
                .nearby(lon, lat, radius, &filter, 20)
                .iter()
                .map(|(_, p)| (p.station_id.clone(), p.connector_id))
                .collect();
            let slow: Vec<(String, u32)> = brute(&current, lon, lat, radius, &filter, 20)
                .iter()
                .map(|(_, p)| (p.station_id.clone(), p.connector_id))
                .collect();
            assert_eq!(fast, slow, "query {q}");
            // Status changes arrive between queries.
            let i = (rng.next() * current.len() as f64) as usize % current.len();
            let status = if current[i].available() {
                "Charging"
            } else {
                "Available"
            };
            current[i].status = status.to_string();
            assert!(index.set_status(&current[i].station_id, current[i].connector_id, status));
        }
        assert!(!index.set_status("nowhere", 1, "Available"));
    }

    #[test]
    fn distances_are_great_circle_km() {
        // People's Square, Shanghai to Hefei railway station: about 400 km.
        let d = distance_km(121.4737, 31.2304, 117.3132, 31.8787);
        assert!((390.0..410.0).contains(&d), "{d}");
        assert_eq!(distance_km(120.0, 30.0, 120.0, 30.0), 0.0);
    }

    #[test]
    fn swap_stations_with_ready_packs_for_the_model() {
        let point = |id: &str, lon: f64, models: &[&str], packs: &[(u32, f64)]| SwapPoint {
            station_id: id.into(),
            operator_id: "op".into(),
            name: id.into(),
            lon,
            lat: 31.2,
            slots: 13,
            vehicle_models: models.iter().map(|m| m.to_string()).collect(),
            packs: packs.iter().copied().collect(),
            online: true,
        };
        let mut index = SwapIndex::new(vec![
            point("near", 121.40, &["NIO ET5"], &[(1, 40.0)]),
            point("mid", 121.45, &["NIO ET5", "NIO ES6"], &[(1, 95.0), (2, 92.0)]),
            point("far", 121.50, &["NIO ES6"], &[(1, 99.0)]),
        ]);
        let ready = |index: &SwapIndex, model: &str| -> Vec<String> {
            let filter = SwapFilter {
                vehicle_model: Some(model.into()),
                min_soc: 90.0,
                ready_only: true,
                ..SwapFilter::default()
            };
            index
                .nearby(121.39, 31.2, 20.0, &filter, 10)
                .into_iter()
                .map(|(_, p)| p.station_id.clone())
                .collect()
        };
        assert_eq!(ready(&index, "nio et5"), ["mid"]);
        assert_eq!(ready(&index, "NIO ES6"), ["mid", "far"]);
        index.set_pack("near", 1, Some(96.0));
        assert_eq!(ready(&index, "NIO ET5"), ["near", "mid"]);
        index.set_pack("mid", 1, None);
        index.set_pack("mid", 2, Some(50.0));
        index.set_online("near", false);
        assert!(ready(&index, "NIO ET5").is_empty());
        assert_eq!(index.get("mid").map(|p| p.ready(0.0)), Some(1));
    }
}
