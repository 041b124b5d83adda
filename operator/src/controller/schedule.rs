//! Time zones and cron schedules, as a BackupPolicy's or a sync
//! DataConnector's CronJob will fire them.
//!
//! Zones come from jiff's bundled IANA database: bytes, read when a zone is
//! first asked for. chrono-tz's tables were compiled in as Rust values with
//! a pointer in each entry (28,578 spans alone), which the loader relocates
//! at start: about 1 MiB of private memory in every wardops process
//! (`.data.rel.ro`, 1.42 MiB with them, 0.46 without).
//! croner finds the next time a schedule fires; it asks for the zone through
//! chrono's `TimeZone`, which [`Zone`] implements over the jiff zone.

use chrono::{FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::AmbiguousOffset;

/// An IANA time zone by its exact name. The CronJob controller reads the
/// name as Go's `time.LoadLocation` does, case and all; the bundled database
/// would also match `asia/ho_chi_minh`, so the name it answers with must be
/// the one asked for.
pub fn zone(name: &str) -> Option<jiff::tz::TimeZone> {
    let tz = jiff::tz::TimeZone::get(name).ok()?;
    (tz.iana_name() == Some(name)).then_some(tz)
}

/// Whether `name` is an IANA time zone (see [`zone`]).
pub fn is_zone(name: &str) -> bool {
    zone(name).is_some()
}

/// The first time `schedule` (cron) fires strictly after `after`, in the
/// zone `time_zone`; `None` when either is invalid or it never fires.
pub fn next_run(schedule: &str, time_zone: &str, after: Timestamp) -> Option<Timestamp> {
    let zone = Zone(zone(time_zone)?);
    let cron: croner::Cron = schedule.parse().ok()?;
    let from = zone.timestamp_opt(after.as_second(), 0).single()?;
    let next = cron.find_next_occurrence(&from, false).ok()?;
    Timestamp::from_second(next.timestamp()).ok()
}

/// A jiff zone as chrono's `TimeZone`, for croner.
#[derive(Clone, Debug)]
struct Zone(jiff::tz::TimeZone);

/// An offset of a [`Zone`]: chrono recovers the zone from its offset.
#[derive(Clone, Debug)]
struct ZoneOffset {
    zone: Zone,
    fixed: FixedOffset,
}

impl chrono::Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl Zone {
    fn offset(&self, offset: jiff::tz::Offset) -> ZoneOffset {
        ZoneOffset {
            zone: self.clone(),
            // jiff's offsets are within ±25:59:59, chrono's within ±23:59:59;
            // the database's never leave ±15 hours.
            fixed: FixedOffset::east_opt(offset.seconds())
                .unwrap_or(FixedOffset::east_opt(0).unwrap()),
        }
    }
}

impl TimeZone for Zone {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Self {
        offset.zone.clone()
    }

    /// As chrono-tz answers: an offset the day has, the earliest at its
    /// start or else at its end.
    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        let at = |time: NaiveTime| self.offset_from_local_datetime(&local.and_time(time));
        match at(NaiveTime::MIN).earliest() {
            Some(offset) => MappedLocalTime::Single(offset),
            None => at(NaiveTime::from_hms_opt(23, 59, 59).unwrap())
                .earliest()
                .map_or(MappedLocalTime::None, MappedLocalTime::Single),
        }
    }

    /// A wall-clock time in a gap (clocks moved forward) has no offset; one
    /// in a fold (clocks moved back) has two, the earlier instant first.
    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        use chrono::{Datelike, Timelike};
        let civil = i16::try_from(local.year()).ok().and_then(|year| {
            // chrono's fields are in range; only the year can exceed jiff's.
            DateTime::new(
                year,
                local.month() as i8,
                local.day() as i8,
                local.hour() as i8,
                local.minute() as i8,
                local.second() as i8,
                (local.nanosecond() % 1_000_000_000) as i32,
            )
            .ok()
        });
        let Some(civil) = civil else {
            return MappedLocalTime::None;
        };
        match self.0.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => MappedLocalTime::Single(self.offset(offset)),
            AmbiguousOffset::Gap { .. } => MappedLocalTime::None,
            AmbiguousOffset::Fold { before, after } => {
                MappedLocalTime::Ambiguous(self.offset(before), self.offset(after))
            }
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        let second = utc
            .and_utc()
            .timestamp()
            .clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
        let instant = Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH);
        self.offset(self.0.to_offset(instant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_read_by_their_exact_iana_name() {
        for name in [
            "Asia/Ho_Chi_Minh",
            "Asia/Saigon",
            "UTC",
            "Etc/GMT-7",
            "US/Eastern",
        ] {
            assert!(is_zone(name), "{name}");
        }
        for name in [
            "asia/ho_chi_minh",
            "Asia/Hai_Phong",
            "Local",
            "",
            "+07:00",
            "ICT",
        ] {
            assert!(!is_zone(name), "{name}");
        }
    }

    /// Every zone chrono-tz knew is still a zone, and one more: `Factory`,
    /// the database's placeholder for a zone not set (UTC, abbreviated
    /// `-00`), which chrono-tz left out and Go's database, the CronJob
    /// controller's, has.
    #[test]
    fn the_zones_are_those_chrono_tz_knew() {
        for tz in chrono_tz::TZ_VARIANTS {
            assert!(is_zone(tz.name()), "{}", tz.name());
        }
        let bundled: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
        let missing: Vec<&String> = bundled
            .iter()
            .filter(|n| n.parse::<chrono_tz::Tz>().is_err())
            .collect();
        assert_eq!(missing, ["Factory"], "zones chrono-tz did not know");
        assert!(bundled.iter().all(|n| is_zone(n)));
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The next run agrees with croner over chrono-tz, second for second,
    /// across the year's transitions of zones with every kind of change:
    /// none, an hour forward and back, half an hour (Lord Howe), a gap at
    /// midnight (Santiago), south of the equator, and a zone whose offset
    /// changed for good (Samoa skipped 2011-12-30).
    #[test]
    fn next_runs_are_those_of_croner_over_chrono_tz() {
        let zones = [
            "Asia/Ho_Chi_Minh",
            "UTC",
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "America/Santiago",
            "Pacific/Apia",
            "Asia/Kolkata",
        ];
        let schedules = [
            "30 1 * * *",
            "0 2 * * *",
            "30 2 * * 0",
            "*/15 * * * *",
            "0 */3 * * *",
            "15 0 1 * *",
            "0 0 * * 1-5",
            "45 23 31 12 *",
        ];
        let mut compared = 0;
        for name in zones {
            let theirs: chrono_tz::Tz = name.parse().unwrap();
            for schedule in schedules {
                let cron: croner::Cron = schedule.parse().unwrap();
                // Every 7 h 13 min through 2011 and 2026: each hour of the day
                // and each transition's day is passed over.
                for year in [2011, 2026] {
                    let mut at = t(&format!("{year}-01-01T00:00:00Z"));
                    let end = t(&format!("{}-01-01T00:00:00Z", year + 1));
                    while at < end {
                        let from = chrono::DateTime::from_timestamp(at.as_second(), 0)
                            .unwrap()
                            .with_timezone(&theirs);
                        let expected = cron
                            .find_next_occurrence(&from, false)
                            .ok()
                            .map(|n| Timestamp::from_second(n.timestamp()).unwrap());
                        assert_eq!(
                            next_run(schedule, name, at),
                            expected,
                            "{schedule} in {name} after {at}"
                        );
                        compared += 1;
                        at += jiff::SignedDuration::from_secs(7 * 3600 + 13 * 60);
                    }
                }
            }
        }
        assert!(compared > 100_000, "{compared}");
    }

    #[test]
    fn a_fixed_time_in_a_gap_runs_when_the_clocks_resume() {
        // New York, 2026-03-08: 02:00 → 03:00. "30 2 * * *" has no 02:30 that day.
        let next = next_run("30 2 * * *", "America/New_York", t("2026-03-08T05:00:00Z"));
        assert_eq!(next, Some(t("2026-03-08T07:00:00Z")));
        // In a fold (2026-11-01: 02:00 → 01:00) a fixed time runs once, the first time.
        let next = next_run("30 1 * * *", "America/New_York", t("2026-11-01T04:00:00Z"));
        assert_eq!(next, Some(t("2026-11-01T05:30:00Z")));
        let after = next_run("30 1 * * *", "America/New_York", t("2026-11-01T05:30:00Z"));
        assert_eq!(after, Some(t("2026-11-02T06:30:00Z")));
    }

    #[test]
    fn an_invalid_zone_or_schedule_has_no_next_run() {
        let now = t("2026-11-27T10:00:00Z");
        assert_eq!(next_run("30 1 * * *", "Asia/Hai_Phong", now), None);
        assert_eq!(next_run("61 1 * * *", "UTC", now), None);
        assert!(next_run("30 1 * * *", "UTC", now).is_some());
    }
}
