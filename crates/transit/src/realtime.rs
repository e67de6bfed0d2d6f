//! GTFS-Realtime TripUpdates: the protobuf messages this planner reads (a subset of
//! gtfs-realtime.proto with the same field numbers), decoded into delays and cancellations.

use prost::Message;
use std::collections::HashMap;

#[derive(Clone, PartialEq, Message)]
pub struct FeedMessage {
    #[prost(message, required, tag = "1")]
    pub header: FeedHeader,
    #[prost(message, repeated, tag = "2")]
    pub entity: Vec<FeedEntity>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FeedHeader {
    #[prost(string, required, tag = "1")]
    pub gtfs_realtime_version: String,
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FeedEntity {
    #[prost(string, required, tag = "1")]
    pub id: String,
    #[prost(bool, optional, tag = "2")]
    pub is_deleted: Option<bool>,
    #[prost(message, optional, tag = "3")]
    pub trip_update: Option<TripUpdate>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TripUpdate {
    #[prost(message, required, tag = "1")]
    pub trip: TripDescriptor,
    #[prost(message, repeated, tag = "2")]
    pub stop_time_update: Vec<StopTimeUpdate>,
    #[prost(int32, optional, tag = "5")]
    pub delay: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TripDescriptor {
    #[prost(string, optional, tag = "1")]
    pub trip_id: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub start_date: Option<String>,
    /// 0 scheduled, 1 added, 2 unscheduled, 3 canceled.
    #[prost(int32, optional, tag = "4")]
    pub schedule_relationship: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct StopTimeUpdate {
    #[prost(uint32, optional, tag = "1")]
    pub stop_sequence: Option<u32>,
    #[prost(message, optional, tag = "2")]
    pub arrival: Option<StopTimeEvent>,
    #[prost(message, optional, tag = "3")]
    pub departure: Option<StopTimeEvent>,
    #[prost(string, optional, tag = "4")]
    pub stop_id: Option<String>,
    /// 0 scheduled, 1 skipped, 2 no data.
    #[prost(int32, optional, tag = "5")]
    pub schedule_relationship: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct StopTimeEvent {
    #[prost(int32, optional, tag = "1")]
    pub delay: Option<i32>,
    #[prost(int64, optional, tag = "2")]
    pub time: Option<i64>,
}

/// What real time changes about one trip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TripChange {
    pub cancelled: bool,
    /// From a stop_sequence on: (arrival delay, departure delay) in seconds, until the next update.
    pub delays: Vec<(u32, i32, i32)>,
    /// Delay for the whole trip when no stop is named.
    pub trip_delay: Option<i32>,
}

/// Changes by trip id (and service date, when the update names one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Updates {
    pub trips: HashMap<(String, Option<String>), TripChange>,
    pub timestamp: Option<u64>,
}

impl Updates {
    /// The change for a trip on a service date (`YYYYMMDD`).
    pub fn for_trip(&self, trip: &str, date: &str) -> Option<&TripChange> {
        self.trips
            .get(&(trip.to_string(), Some(date.to_string())))
            .or_else(|| self.trips.get(&(trip.to_string(), None)))
    }

    /// Applies the delays to a trip's times (`sequences` aligned with the times).
    pub fn apply(change: &TripChange, sequences: &[u32], arrivals: &mut [i32], departures: &mut [i32]) {
        let mut delay = (change.trip_delay.unwrap_or(0), change.trip_delay.unwrap_or(0));
        for (i, seq) in sequences.iter().enumerate() {
            if let Some((_, a, d)) = change.delays.iter().rev().find(|(s, _, _)| s <= seq) {
                delay = (*a, *d);
            }
            arrivals[i] += delay.0;
            departures[i] = (departures[i] + delay.1).max(arrivals[i]);
        }
    }
}

/// Decodes a TripUpdates feed. `stop_sequence_of(trip, stop_id)` resolves updates that
/// name a stop instead of a sequence.
pub fn decode(bytes: &[u8], stop_sequence_of: impl Fn(&str, &str) -> Option<u32>) -> Result<Updates, String> {
    let message = FeedMessage::decode(bytes).map_err(|e| format!("not a GTFS-Realtime feed: {e}"))?;
    if !message.header.gtfs_realtime_version.starts_with('1') && !message.header.gtfs_realtime_version.starts_with('2')
    {
        return Err(format!(
            "unsupported gtfs_realtime_version '{}'",
            message.header.gtfs_realtime_version
        ));
    }
    let mut updates = Updates {
        timestamp: message.header.timestamp,
        ..Default::default()
    };
    for entity in message.entity {
        let Some(update) = entity.trip_update else { continue };
        let Some(trip) = update.trip.trip_id.clone() else {
            continue;
        };
        if entity.is_deleted == Some(true) {
            continue;
        }
        let mut change = TripChange {
            cancelled: update.trip.schedule_relationship == Some(3),
            trip_delay: update.delay,
            delays: Vec::new(),
        };
        for stu in &update.stop_time_update {
            let seq = stu
                .stop_sequence
                .or_else(|| stu.stop_id.as_deref().and_then(|s| stop_sequence_of(&trip, s)));
            let Some(seq) = seq else { continue };
            let arrival = stu.arrival.as_ref().and_then(|e| e.delay);
            let departure = stu.departure.as_ref().and_then(|e| e.delay).or(arrival);
            if let Some(d) = departure.or(arrival) {
                change.delays.push((seq, arrival.unwrap_or(d), d));
            }
        }
        change.delays.sort_by_key(|(s, _, _)| *s);
        updates.trips.insert((trip, update.trip.start_date.clone()), change);
    }
    Ok(updates)
}

/// Encodes updates (for tests and the demo's "post a delay").
pub fn encode(message: &FeedMessage) -> Vec<u8> {
    message.encode_to_vec()
}

/// A feed that delays one trip from a stop on, or cancels it.
pub fn single_update(trip: &str, from_sequence: u32, delay: i32, cancelled: bool) -> FeedMessage {
    FeedMessage {
        header: FeedHeader {
            gtfs_realtime_version: "2.0".into(),
            timestamp: None,
        },
        entity: vec![FeedEntity {
            id: format!("{trip}-update"),
            is_deleted: None,
            trip_update: Some(TripUpdate {
                trip: TripDescriptor {
                    trip_id: Some(trip.into()),
                    start_date: None,
                    schedule_relationship: cancelled.then_some(3),
                },
                stop_time_update: if cancelled {
                    Vec::new()
                } else {
                    vec![StopTimeUpdate {
                        stop_sequence: Some(from_sequence),
                        arrival: Some(StopTimeEvent {
                            delay: Some(delay),
                            time: None,
                        }),
                        departure: None,
                        stop_id: None,
                        schedule_relationship: None,
                    }]
                },
                delay: None,
            }),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_propagate_from_their_stop_and_garbage_is_refused() {
        let bytes = encode(&single_update("T1", 3, 600, false));
        let updates = decode(&bytes, |_, _| None).unwrap();
        let change = updates.for_trip("T1", "20261128").unwrap();
        let (mut arr, mut dep) = (vec![0, 100, 200, 300], vec![10, 110, 210, 300]);
        Updates::apply(change, &[1, 2, 3, 4], &mut arr, &mut dep);
        assert_eq!(arr, vec![0, 100, 800, 900]);
        assert_eq!(dep, vec![10, 110, 810, 900]);
        let cancelled = decode(&encode(&single_update("T2", 1, 0, true)), |_, _| None).unwrap();
        assert!(cancelled.for_trip("T2", "20261128").unwrap().cancelled);
        assert!(decode(b"\xff\xff garbage", |_, _| None).is_err());
        assert!(decode(&[], |_, _| None).is_err(), "a header is required");
    }
}
