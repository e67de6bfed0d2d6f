//! Pricing a charging session by the tariff in force: energy, service fee and idle fee,
//! in integer fen. Pure.

use serde::{Deserialize, Serialize};

/// An operator's tariff. Prices per kWh and per minute, in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// Electricity, fen per kWh.
    pub energy_fen_per_kwh: i64,
    /// Service fee (服务费), fen per kWh.
    pub service_fen_per_kwh: i64,
    /// Idle fee (占位费), fen per minute an EV occupies the connector without charging.
    pub idle_fen_per_minute: i64,
    /// Idle minutes that are free.
    pub idle_grace_minutes: i64,
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
        if !(0..=1440).contains(&self.idle_grace_minutes) {
            return Some(("idle_grace_minutes", "0 to 1,440 minutes"));
        }
        None
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

/// Energy is priced per Wh and rounded half up to the fen; idle time is counted in
/// started minutes after the grace period.
pub fn price(tariff: &Tariff, energy_wh: i64, idle_seconds: i64) -> Charge {
    let energy_wh = energy_wh.clamp(0, MAX_SESSION_WH);
    let per_wh = |fen_per_kwh: i64| (energy_wh * fen_per_kwh + 500) / 1000;
    let idle_minutes = (idle_seconds.max(0) + 59) / 60;
    let billable = (idle_minutes - tariff.idle_grace_minutes).max(0);
    let energy_fen = per_wh(tariff.energy_fen_per_kwh);
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
        service_fen_per_kwh: 60,
        idle_fen_per_minute: 50,
        idle_grace_minutes: 15,
    };

    #[test]
    fn energy_service_and_idle_add_up() {
        let charge = price(&TARIFF, 12_345, 0);
        assert_eq!((charge.energy_fen, charge.service_fen, charge.idle_fen), (988, 741, 0));
        assert_eq!(charge.total_fen, 1_729);
        // 20 minutes and one second idle: 21 started minutes, 6 beyond the grace.
        assert_eq!(price(&TARIFF, 0, 20 * 60 + 1).idle_fen, 300);
        assert_eq!(price(&TARIFF, 0, 15 * 60).idle_fen, 0);
        // A meter running backwards or wild is clamped, never negative or overflowing.
        assert_eq!(price(&TARIFF, -5, -9).total_fen, 0);
        assert_eq!(price(&TARIFF, i64::MAX, 0).energy_wh, MAX_SESSION_WH);
    }
}
