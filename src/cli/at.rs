//! `--at TIME`: "as of this time" for `plan`, `propose` and `windows`. An
//! instant with an offset (RFC 3339), or a date or date-time without one,
//! read in the Fleet's timezone — the zone its windows and approval days
//! are counted in — so `--at 2026-12-08` means that day's midnight there.
//! Parsed in two stages: the text when the arguments are read, the zone
//! once the repository is loaded.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A time as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeArg {
    Instant(Timestamp),
    /// No offset given: a wall-clock time in the Fleet's zone.
    Civil(DateTime),
}

/// The value parser of `--at`.
pub fn parse(s: &str) -> Result<TimeArg, String> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(TimeArg::Instant(t));
    }
    // A time with its zone, as `windows --format json` prints them.
    if let Ok(z) = s.parse::<Zoned>() {
        return Ok(TimeArg::Instant(z.timestamp()));
    }
    if let Ok(dt) = s.parse::<DateTime>() {
        return Ok(TimeArg::Civil(dt));
    }
    if let Ok(d) = s.parse::<Date>() {
        return Ok(TimeArg::Civil(d.to_datetime(jiff::civil::Time::midnight())));
    }
    Err(format!(
        "`{s}` is not a time; write a date (2026-12-08), a date and time in the Fleet's timezone (2026-12-08T22:00), or an instant (2026-12-08T21:00:00Z)"
    ))
}

impl TimeArg {
    /// The instant, reading a civil time in `tz` (the Fleet's).
    pub fn resolve(&self, tz: &TimeZone) -> Result<Timestamp, String> {
        match self {
            TimeArg::Instant(t) => Ok(*t),
            TimeArg::Civil(dt) => dt
                .to_zoned(tz.clone())
                .map(|z| z.timestamp())
                .map_err(|e| format!("`{dt}` in the Fleet's timezone: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_wall_clock_times_are_read_in_the_fleets_zone() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let at = |s: &str| parse(s).unwrap().resolve(&berlin).unwrap().to_string();
        assert_eq!(at("2026-12-08"), "2026-12-07T23:00:00Z");
        assert_eq!(at("2026-12-08T22:00"), "2026-12-08T21:00:00Z");
        assert_eq!(at("2026-07-08T22:00"), "2026-07-08T20:00:00Z");
        assert_eq!(at("2026-12-08T21:00:00Z"), "2026-12-08T21:00:00Z");
        assert_eq!(at("2026-12-08T22:00:00+01:00"), "2026-12-08T21:00:00Z");
        assert_eq!(
            at("2026-12-08T22:00:00+01:00[Europe/Berlin]"),
            "2026-12-08T21:00:00Z"
        );
        let err = parse("tomorrow").unwrap_err();
        assert!(err.contains("is not a time; write a date"), "{err}");
    }
}
