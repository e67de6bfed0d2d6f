//! Pricing a charging session by the tariff in force: energy (by time-of-day band),
//! service fee and idle fee, in integer fen. Pure.

use chrono::{DateTime, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use yrd_kernel::time::shanghai;

/// An electricity price from a time of day (China time) until the next band begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Minutes after midnight, 0–1439.
    pub start_minute: i64,
    pub energy_fen_per_kwh: i64,
}

/// An operator's tariff. Prices per kWh and per minute, in fen; the default charges nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// Electricity, fen per kWh, when there are no bands.
    pub energy_fen_per_kwh: i64,
    /// Time-of-day electricity prices (峰谷电价): the first starts at minute 0, the rest in
    /// order; each interval between meter readings is priced at its own bands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bands: Vec<Band>,
    /// Service fee (服务费), fen per kWh.
    pub service_fen_per_kwh: i64,
    /// Idle fee (占位费), fen per minute an EV occupies the connector without charging.
    pub idle_fen_per_minute: i64,
    /// Idle minutes that are free.
    pub idle_grace_minutes: i64,
    /// Battery-swap service fee (换电服务费), fen per completed swap.
    #[serde(default)]
    pub swap_fen: i64,
}

impl Tariff {
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        let price = 0..=100_000;
        if !price.contains(&self.energy_fen_per_kwh) {
            return Some(("energy_fen_per_kwh", "0 to 1,000 yuan per kWh, in fen"));
        }
        if !price.contains(&self.service_fen_per_kwh) {
            return Some(("service_fen_per_kwh", "0 to 1,000 yuan per kWh, in fen"));
        }
        if !price.contains(&self.idle_fen_per_minute) {
            return Some(("idle_fen_per_minute", "0 to 1,000 yuan per minute, in fen"));
        }
        if !price.contains(&self.swap_fen) {
            return Some(("swap_fen", "0 to 1,000 yuan per swap, in fen"));
        }
        if !(0..=1440).contains(&self.idle_grace_minutes) {
            return Some(("idle_grace_minutes", "0 to 1,440 minutes"));
        }
        if self.bands.len() > 24 {
            return Some(("bands", "at most 24 bands"));
        }
        if self.bands.first().is_some_and(|b| b.start_minute != 0) {
            return Some(("bands", "the first band starts at minute 0"));
        }
        if self.bands.windows(2).any(|w| w[0].start_minute >= w[1].start_minute)
            || self.bands.iter().any(|b| !(0..1440).contains(&b.start_minute))
        {
            return Some(("bands", "start minutes 0–1439, increasing"));
        }
        if self.bands.iter().any(|b| !price.contains(&b.energy_fen_per_kwh)) {
            return Some(("bands", "0 to 1,000 yuan per kWh, in fen"));
        }
        None
    }

    /// The electricity price at a minute of the day.
    fn energy_price_at(&self, minute: i64) -> i64 {
        self.bands
            .iter()
            .rev()
            .find(|b| b.start_minute <= minute)
            .map_or(self.energy_fen_per_kwh, |b| b.energy_fen_per_kwh)
    }

    /// Σ seconds × price over the session, and its seconds (bands split at their starts
    /// and at midnight, in China time).
    fn weighted_energy_price(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> (i128, i128) {
        let mut at = from.with_timezone(&shanghai());
        let end = to.with_timezone(&shanghai());
        let (mut weighted, mut seconds) = (0i128, 0i128);
        while at < end {
            let minute = i64::from(at.hour() * 60 + at.minute());
            let next_start = self
                .bands
                .iter()
                .map(|b| b.start_minute)
                .find(|m| *m > minute)
                .unwrap_or(1440);
            let boundary =
                at - Duration::seconds(i64::from(at.second())) - Duration::nanoseconds(i64::from(at.nanosecond()))
                    + Duration::minutes(next_start - minute);
            let until = boundary.min(end);
            let span = i128::from((until - at).num_seconds().max(1));
            weighted += span * i128::from(self.energy_price_at(minute));
            seconds += span;
            at = until;
        }
        (weighted, seconds)
    }
}

/// What a session costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Charge {
    pub energy_wh: i64,
    pub energy_fen: i64,
    pub service_fen: i64,
    pub idle_fen: i64,
    pub total_fen: i64,
}

/// Meter readings beyond this are a broken meter, not a session (10 MWh).
pub const MAX_SESSION_WH: i64 = 10_000_000;

/// A reading of the session's energy register: when, and Wh.
pub type Reading = (DateTime<Utc>, i64);

/// Energy is priced per Wh and rounded half up to the fen. With time-of-day bands, each
/// interval between two meter readings is priced at the time-weighted band price over
/// that interval (energy spread evenly within it), so a session that drew most of its
/// energy in the valley pays the valley price for it. `readings` run from the start to
/// the stop; if they do not add up to `energy_wh` (a meter that ran backwards) the
/// whole session is one interval. Idle time is counted in started minutes after the
/// grace period.
pub fn price(tariff: &Tariff, energy_wh: i64, idle_seconds: i64, readings: &[Reading]) -> Charge {
    let energy_wh = energy_wh.clamp(0, MAX_SESSION_WH);
    let per_wh = |fen_per_kwh: i64| (energy_wh * fen_per_kwh + 500) / 1000;
    let idle_minutes = (idle_seconds.max(0) + 59) / 60;
    let billable = (idle_minutes - tariff.idle_grace_minutes).max(0);
    let energy_fen = match (readings.first(), readings.last()) {
        (Some(first), Some(last)) if !tariff.bands.is_empty() => {
            let intervals: Vec<(Reading, Reading)> = readings.windows(2).map(|w| (w[0], w[1])).collect();
            let consistent = intervals.iter().all(|(a, b)| b.1 >= a.1 && b.0 >= a.0)
                && intervals.iter().map(|(a, b)| b.1 - a.1).sum::<i64>() == energy_wh;
            let intervals = if consistent && !intervals.is_empty() {
                intervals
            } else {
                vec![((first.0, 0), (last.0.max(first.0), energy_wh))]
            };
            // Micro-fen, so that only the total is rounded.
            let micro: i128 = intervals
                .iter()
                .map(|((from, w0), (to, w1))| {
                    let wh = i128::from(w1 - w0);
                    if to > from {
                        let (weighted, seconds) = tariff.weighted_energy_price(*from, *to);
                        wh * weighted * 1000 / seconds
                    } else {
                        let local = from.with_timezone(&shanghai());
                        wh * i128::from(tariff.energy_price_at(i64::from(local.hour() * 60 + local.minute()))) * 1000
                    }
                })
                .sum();
            ((micro + 500_000) / 1_000_000) as i64
        }
        _ => per_wh(tariff.energy_fen_per_kwh),
    };
    let service_fen = per_wh(tariff.service_fen_per_kwh);
    let idle_fen = billable * tariff.idle_fen_per_minute;
    Charge {
        energy_wh,
        energy_fen,
        service_fen,
        idle_fen,
        total_fen: energy_fen + service_fen + idle_fen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARIFF: Tariff = Tariff {
        energy_fen_per_kwh: 80,
        bands: Vec::new(),
        service_fen_per_kwh: 60,
        idle_fen_per_minute: 50,
        idle_grace_minutes: 15,
        swap_fen: 0,
    };

    #[test]
    fn energy_service_and_idle_add_up() {
        let charge = price(&TARIFF, 12_345, 0, &[]);
        assert_eq!((charge.energy_fen, charge.service_fen, charge.idle_fen), (988, 741, 0));
        assert_eq!(charge.total_fen, 1_729);
        // 20 minutes and one second idle: 21 started minutes, 6 beyond the grace.
        assert_eq!(price(&TARIFF, 0, 20 * 60 + 1, &[]).idle_fen, 300);
        assert_eq!(price(&TARIFF, 0, 15 * 60, &[]).idle_fen, 0);
        // A meter running backwards or wild is clamped, never negative or overflowing.
        assert_eq!(price(&TARIFF, -5, -9, &[]).total_fen, 0);
        assert_eq!(price(&TARIFF, i64::MAX, 0, &[]).energy_wh, MAX_SESSION_WH);
    }

    #[test]
    fn time_bands_split_a_session_by_the_clock_in_china() {
        // Valley 00:00–08:00 at 0.30 yuan, peak 08:00–22:00 at 1.00, valley again after 22:00.
        let tariff = Tariff {
            bands: vec![
                Band {
                    start_minute: 0,
                    energy_fen_per_kwh: 30,
                },
                Band {
                    start_minute: 8 * 60,
                    energy_fen_per_kwh: 100,
                },
                Band {
                    start_minute: 22 * 60,
                    energy_fen_per_kwh: 30,
                },
            ],
            ..TARIFF
        };
        assert_eq!(tariff.problem(), None);
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
        // 07:00–09:00 China time: half the energy at each price.
        let charge = price(
            &tariff,
            20_000,
            0,
            &[(at("2026-11-27T23:00:00Z"), 0), (at("2026-11-28T01:00:00Z"), 20_000)],
        );
        assert_eq!(charge.energy_fen, 1_300);
        // Wholly in the valley, across midnight.
        assert_eq!(
            price(
                &tariff,
                10_000,
                0,
                &[
                    (at("2026-11-28T15:00:00Z"), 5_000),
                    (at("2026-11-28T17:00:00Z"), 15_000)
                ]
            )
            .energy_fen,
            300
        );
        // No duration: the band at the start.
        let instant = at("2026-11-28T04:00:00Z");
        assert_eq!(
            price(&tariff, 1_000, 0, &[(instant, 0), (instant, 1_000)]).energy_fen,
            100
        );
        // 21:00–23:00 China time, 9 kWh in the peak hour and 1 kWh in the valley hour:
        // 9 × 1.00 + 1 × 0.30 yuan, not 10 kWh at the average of the two.
        let profile = [
            (at("2026-11-28T13:00:00Z"), 100),
            (at("2026-11-28T13:30:00Z"), 4_600),
            (at("2026-11-28T14:00:00Z"), 9_100),
            (at("2026-11-28T15:00:00Z"), 10_100),
        ];
        assert_eq!(price(&tariff, 10_000, 0, &profile).energy_fen, 930);
        assert_eq!(price(&tariff, 10_000, 0, &[profile[0], profile[3]]).energy_fen, 650);
        // A meter that ran backwards: one interval over the whole session.
        let broken = [profile[0], (at("2026-11-28T14:00:00Z"), 50), profile[3]];
        assert_eq!(price(&tariff, 10_000, 0, &broken).energy_fen, 650);
        let bad = Tariff {
            bands: vec![Band {
                start_minute: 60,
                energy_fen_per_kwh: 30,
            }],
            ..TARIFF
        };
        assert_eq!(bad.problem().map(|p| p.0), Some("bands"));
    }
}
