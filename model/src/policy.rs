//! Backup policies: how often an asset is backed up (in the appliance's time zone) and which
//! recovery points are kept. The portal asks for a policy; the appliance keeps it and runs it
//! on its own, so backups go on while the portal is unreachable.

use serde::{Deserialize, Serialize};

/// How often a policy backs an asset up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Hourly,
    Bihourly,
    FourTimesDaily,
    Daily,
    Weekly,
}

impl Frequency {
    pub const ALL: [Frequency; 5] = [
        Frequency::Hourly,
        Frequency::Bihourly,
        Frequency::FourTimesDaily,
        Frequency::Daily,
        Frequency::Weekly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Hourly => "hourly",
            Frequency::Bihourly => "bihourly",
            Frequency::FourTimesDaily => "four_times_daily",
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
        }
    }

    pub fn parse(text: &str) -> Option<Frequency> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Frequency::Hourly => "Hourly",
            Frequency::Bihourly => "Bihourly",
            Frequency::FourTimesDaily => "4x/day",
            Frequency::Daily => "Daily",
            Frequency::Weekly => "Weekly",
        }
    }

    /// Hours between runs within a day; `None` for Weekly.
    pub fn hours_apart(self) -> Option<u32> {
        match self {
            Frequency::Hourly => Some(1),
            Frequency::Bihourly => Some(2),
            Frequency::FourTimesDaily => Some(6),
            Frequency::Daily => Some(24),
            Frequency::Weekly => None,
        }
    }

    /// The nominal time between two runs, in minutes.
    pub fn period_minutes(self) -> i64 {
        i64::from(self.hours_apart().unwrap_or(7 * 24)) * 60
    }
}

/// Which recovery points survive a backup, with restic's `forget` semantics: a snapshot is kept
/// if any rule keeps it; with no rule set, everything is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// The most recent N recovery points.
    pub keep_last: Option<u32>,
    /// The last recovery point of each of the N most recent days that have one.
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
}

impl Retention {
    pub fn keeps_everything(&self) -> bool {
        [
            self.keep_last,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        ]
        .iter()
        .all(|rule| rule.is_none_or(|n| n == 0))
    }

    /// "last 7, daily 14, monthly 12", or "keep all".
    pub fn describe(&self) -> String {
        let rules: Vec<String> = [
            ("last", self.keep_last),
            ("daily", self.keep_daily),
            ("weekly", self.keep_weekly),
            ("monthly", self.keep_monthly),
            ("yearly", self.keep_yearly),
        ]
        .into_iter()
        .filter_map(|(name, n)| n.filter(|n| *n > 0).map(|n| format!("{name} {n}")))
        .collect();
        if rules.is_empty() {
            "keep all".into()
        } else {
            rules.join(", ")
        }
    }
}

/// When a policy runs. `start_date` and `start_time` are wall-clock values in the appliance's
/// time zone: they anchor the series and nothing runs before them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub frequency: Frequency,
    pub exclude_weekends: bool,
    /// `YYYY-MM-DD`
    pub start_date: String,
    /// `HH:MM`, 24-hour
    pub start_time: String,
}

impl Schedule {
    /// "Daily at 22:00 (weekdays only) from 2026-11-23".
    pub fn describe(&self) -> String {
        let weekdays = if self.exclude_weekends {
            " (weekdays only)"
        } else {
            ""
        };
        format!(
            "{} from {} {}{weekdays}",
            self.frequency.label(),
            self.start_date,
            self.start_time
        )
    }
}

/// A backup policy as the appliance holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub schedule: Schedule,
    pub retention: Retention,
    /// A disabled policy keeps its settings but starts no backups (Jobs → Scheduled → Disable).
    pub enabled: bool,
    /// Days between the asset's restore tests, each run after a good backup; 0: none. Policies
    /// saved before this setting existed test weekly.
    #[serde(default = "default_restore_test_days")]
    pub restore_test_days: u16,
}

/// How often an asset's restore is tested unless its policy says otherwise: weekly.
pub const DEFAULT_RESTORE_TEST_DAYS: u16 = 7;
/// The longest interval between restore tests a policy may set.
pub const MAX_RESTORE_TEST_DAYS: u16 = 365;

fn default_restore_test_days() -> u16 {
    DEFAULT_RESTORE_TEST_DAYS
}

/// "Restore test weekly", "every 3 days", "daily" or "No restore tests".
pub fn describe_restore_tests(days: u16) -> String {
    match days {
        0 => "No restore tests".into(),
        1 => "Restore test daily".into(),
        7 => "Restore test weekly".into(),
        n => format!("Restore test every {n} days"),
    }
}

/// The name of the job a policy runs, as the Jobs pages show it.
pub fn policy_job_name(asset_name: &str) -> String {
    format!("Backplane-{asset_name}")
}

#[cfg(feature = "schedule")]
pub use next_run::{NextRunError, is_time_zone, next_run, parse_schedule, runs_between};

/// Run times of a schedule, from wall-clock rules to instants (needs the time zone database,
/// so it is compiled only where it is used: the appliance and the server).
#[cfg(feature = "schedule")]
mod next_run {
    use chrono::{
        DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
        Weekday,
    };
    use chrono_tz::Tz;

    use super::{Frequency, Schedule};

    /// Why a schedule cannot be run.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum NextRunError {
        #[error("The start date {0:?} is not a date (YYYY-MM-DD).")]
        StartDate(String),
        #[error("The start time {0:?} is not a time of day (HH:MM, 24-hour).")]
        StartTime(String),
        #[error("{0:?} is not a time zone name (such as Europe/Berlin).")]
        TimeZone(String),
        #[error("A weekly backup that starts on a {0} never runs when weekends are excluded.")]
        NeverRuns(Weekday),
    }

    /// The schedule's start as a wall-clock value, checked.
    pub fn parse_schedule(schedule: &Schedule) -> Result<NaiveDateTime, NextRunError> {
        let date = NaiveDate::parse_from_str(schedule.start_date.trim(), "%Y-%m-%d")
            .map_err(|_| NextRunError::StartDate(schedule.start_date.clone()))?;
        let time = NaiveTime::parse_from_str(schedule.start_time.trim(), "%H:%M")
            .map_err(|_| NextRunError::StartTime(schedule.start_time.clone()))?;
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        if schedule.frequency == Frequency::Weekly && schedule.exclude_weekends && weekend {
            return Err(NextRunError::NeverRuns(date.weekday()));
        }
        Ok(date.and_time(time))
    }

    /// Whether `name` is a time zone of the IANA database (such as Europe/Berlin).
    pub fn is_time_zone(name: &str) -> bool {
        name.parse::<Tz>().is_ok()
    }

    fn zone(name: &str) -> Result<Tz, NextRunError> {
        name.parse::<Tz>()
            .map_err(|_| NextRunError::TimeZone(name.to_owned()))
    }

    /// The first run strictly after `after` (Unix ms), as Unix ms.
    ///
    /// Runs fall on wall-clock times in `time_zone`: every 1, 2 or 6 hours from the start time,
    /// daily at the start time, or weekly on the start date's weekday. A time the clock skips
    /// (spring forward) runs when the clock jumps; a time that happens twice (fall back) runs
    /// once, the first time.
    pub fn next_run(schedule: &Schedule, time_zone: &str, after: i64) -> Result<i64, NextRunError> {
        let start = parse_schedule(schedule)?;
        let tz = zone(time_zone)?;
        let after_utc = DateTime::<Utc>::from_timestamp_millis(after).unwrap_or_default();
        // A day earlier than `after`'s local date covers runs moved across the date line by
        // an offset change.
        let from = (after_utc.with_timezone(&tz).date_naive() - Duration::days(1)).max(start.date());
        for day in from.iter_days().take(16) {
            if !runs_on(schedule, start.date(), day) {
                continue;
            }
            for time in times_of_day(schedule.frequency, start.time()) {
                let local = day.and_time(time);
                if local < start {
                    continue;
                }
                let instant = resolve(&tz, local).timestamp_millis();
                if instant > after {
                    return Ok(instant);
                }
            }
        }
        // Unreachable for a schedule parse_schedule accepts: 16 days hold every weekday.
        Err(NextRunError::NeverRuns(start.weekday()))
    }

    /// Every run in `(after, until]`, oldest first, at most `limit` of them.
    pub fn runs_between(
        schedule: &Schedule,
        time_zone: &str,
        after: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<i64>, NextRunError> {
        let mut runs = Vec::new();
        let mut cursor = after;
        while runs.len() < limit {
            let run = next_run(schedule, time_zone, cursor)?;
            if run > until {
                break;
            }
            runs.push(run);
            cursor = run;
        }
        Ok(runs)
    }

    fn runs_on(schedule: &Schedule, start: NaiveDate, day: NaiveDate) -> bool {
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if schedule.exclude_weekends && weekend {
            return false;
        }
        schedule.frequency != Frequency::Weekly || day.weekday() == start.weekday()
    }

    /// The wall-clock times a frequency runs at each day, earliest first.
    fn times_of_day(frequency: Frequency, start: NaiveTime) -> Vec<NaiveTime> {
        let Some(step) = frequency.hours_apart() else {
            return vec![start];
        };
        let mut times: Vec<NaiveTime> = (0..24 / step)
            .map(|k| start + Duration::hours(i64::from(k * step)))
            .collect();
        times.sort();
        times
    }

    /// The instant a wall-clock time stands for: the first of two in a fall-back overlap; for a
    /// time skipped by spring forward, the moment the clock jumps past it.
    fn resolve(tz: &Tz, local: NaiveDateTime) -> DateTime<Tz> {
        let mut probe = local;
        // Offset changes skip at most a few hours; walk minute by minute to the first valid one.
        for _ in 0..(24 * 60) {
            match tz.from_local_datetime(&probe) {
                LocalResult::Single(t) => return t,
                LocalResult::Ambiguous(first, _) => return first,
                LocalResult::None => probe += Duration::minutes(1),
            }
        }
        tz.from_utc_datetime(&local)
    }
}

#[cfg(test)]
#[cfg(feature = "schedule")]
mod tests {
    use chrono::{DateTime, NaiveDateTime};
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn policies_saved_before_restore_test_intervals_test_weekly() {
        let saved = r#"{"schedule":{"frequency":"daily","exclude_weekends":false,"start_date":"2026-01-05","start_time":"01:00"},"retention":{},"enabled":true}"#;
        let policy: Policy = serde_json::from_str(saved).unwrap();
        assert_eq!(policy.restore_test_days, DEFAULT_RESTORE_TEST_DAYS);
        assert_eq!(
            describe_restore_tests(policy.restore_test_days),
            "Restore test weekly"
        );
        assert_eq!(describe_restore_tests(0), "No restore tests");
        assert_eq!(describe_restore_tests(3), "Restore test every 3 days");
    }

    fn schedule(frequency: Frequency, start: &str, exclude_weekends: bool) -> Schedule {
        let (date, time) = start.split_once(' ').unwrap();
        Schedule {
            frequency,
            exclude_weekends,
            start_date: date.into(),
            start_time: time.into(),
        }
    }

    /// A UTC wall-clock reading ("2026-03-08 07:00") as Unix ms: the controllable clock.
    fn utc(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    fn show(ms: i64) -> String {
        DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// The first `n` runs after `now`, as UTC readings.
    fn runs(s: &Schedule, zone: &str, now: &str, n: usize) -> Vec<String> {
        let mut at = utc(now);
        (0..n)
            .map(|_| {
                at = next_run(s, zone, at).unwrap();
                show(at)
            })
            .collect()
    }

    #[test]
    fn hourly_runs_every_hour_from_the_start_and_never_before_it() {
        let s = schedule(Frequency::Hourly, "2026-01-05 09:30", false);
        assert_eq!(
            runs(&s, "UTC", "2026-01-01 00:00", 3),
            ["2026-01-05 09:30", "2026-01-05 10:30", "2026-01-05 11:30"]
        );
        assert_eq!(runs(&s, "UTC", "2026-01-06 23:30", 1), ["2026-01-07 00:30"]);
    }

    #[test]
    fn bihourly_and_four_times_a_day_repeat_from_the_start_time_around_the_clock() {
        let bihourly = schedule(Frequency::Bihourly, "2026-01-05 01:15", false);
        assert_eq!(
            runs(&bihourly, "UTC", "2026-01-05 22:00", 2),
            ["2026-01-05 23:15", "2026-01-06 01:15"]
        );
        let four = schedule(Frequency::FourTimesDaily, "2026-01-05 22:00", false);
        assert_eq!(
            runs(&four, "UTC", "2026-01-06 00:00", 4),
            [
                "2026-01-06 04:00",
                "2026-01-06 10:00",
                "2026-01-06 16:00",
                "2026-01-06 22:00"
            ]
        );
    }

    #[test]
    fn daily_follows_the_appliances_wall_clock_across_summer_time() {
        let s = schedule(Frequency::Daily, "2026-03-27 22:00", false);
        // Berlin is UTC+1 until 29 March 2026, then UTC+2.
        assert_eq!(
            runs(&s, "Europe/Berlin", "2026-03-27 00:00", 3),
            ["2026-03-27 21:00", "2026-03-28 21:00", "2026-03-29 20:00"]
        );
    }

    #[test]
    fn weekly_runs_on_the_start_dates_weekday() {
        // 7 January 2026 is a Wednesday.
        let s = schedule(Frequency::Weekly, "2026-01-07 09:00", false);
        assert_eq!(
            runs(&s, "UTC", "2026-01-08 00:00", 2),
            ["2026-01-14 09:00", "2026-01-21 09:00"]
        );
    }

    #[test]
    fn excluding_weekends_skips_saturday_and_sunday_in_the_appliances_zone() {
        // 9 January 2026 is a Friday.
        let daily = schedule(Frequency::Daily, "2026-01-05 20:00", true);
        assert_eq!(runs(&daily, "UTC", "2026-01-09 20:00", 1), ["2026-01-12 20:00"]);
        let hourly = schedule(Frequency::Hourly, "2026-01-05 00:00", true);
        assert_eq!(runs(&hourly, "UTC", "2026-01-09 23:00", 1), ["2026-01-12 00:00"]);
        // Friday 23:30 in Tokyo is still Friday 14:30 UTC; Saturday there starts at 15:00 UTC.
        let tokyo = schedule(Frequency::Hourly, "2026-01-05 00:30", true);
        assert_eq!(
            runs(&tokyo, "Asia/Tokyo", "2026-01-09 14:30", 1),
            ["2026-01-11 15:30"]
        );
    }

    #[test]
    fn a_weekly_weekend_start_with_weekends_excluded_is_refused() {
        // 10 January 2026 is a Saturday.
        let s = schedule(Frequency::Weekly, "2026-01-10 09:00", true);
        assert!(matches!(
            next_run(&s, "UTC", 0),
            Err(NextRunError::NeverRuns(chrono::Weekday::Sat))
        ));
    }

    #[test]
    fn a_time_skipped_by_spring_forward_runs_when_the_clock_jumps() {
        // New York skips 02:00–03:00 on 8 March 2026 (UTC−5 → UTC−4).
        let daily = schedule(Frequency::Daily, "2026-03-06 02:30", false);
        assert_eq!(
            runs(&daily, "America/New_York", "2026-03-07 00:00", 3),
            ["2026-03-07 07:30", "2026-03-08 07:00", "2026-03-09 06:30"]
        );
        let hourly = schedule(Frequency::Hourly, "2026-03-01 00:00", false);
        assert_eq!(
            runs(&hourly, "America/New_York", "2026-03-08 05:30", 3),
            ["2026-03-08 06:00", "2026-03-08 07:00", "2026-03-08 08:00"],
            "01:00, then 03:00 once (the 02:00 run and the 03:00 run are the same moment), then 04:00"
        );
    }

    #[test]
    fn a_time_repeated_by_fall_back_runs_once_the_first_time() {
        // New York repeats 01:00–02:00 on 1 November 2026 (UTC−4 → UTC−5).
        let daily = schedule(Frequency::Daily, "2026-10-30 01:30", false);
        assert_eq!(
            runs(&daily, "America/New_York", "2026-11-01 00:00", 2),
            ["2026-11-01 05:30", "2026-11-02 06:30"]
        );
        let hourly = schedule(Frequency::Hourly, "2026-10-30 00:00", false);
        assert_eq!(
            runs(&hourly, "America/New_York", "2026-11-01 03:30", 3),
            ["2026-11-01 04:00", "2026-11-01 05:00", "2026-11-01 07:00"],
            "00:00 and 01:00 daylight time, then 02:00 standard time"
        );
    }

    #[test]
    fn bad_dates_times_and_zones_are_named() {
        let mut s = schedule(Frequency::Daily, "2026-02-30 10:00", false);
        assert_eq!(
            next_run(&s, "UTC", 0),
            Err(NextRunError::StartDate("2026-02-30".into()))
        );
        s.start_date = "2026-02-27".into();
        s.start_time = "25:00".into();
        assert_eq!(
            next_run(&s, "UTC", 0),
            Err(NextRunError::StartTime("25:00".into()))
        );
        s.start_time = "10:00".into();
        assert_eq!(
            next_run(&s, "Mars/Olympus", 0),
            Err(NextRunError::TimeZone("Mars/Olympus".into()))
        );
    }

    #[test]
    fn runs_between_lists_the_runs_in_a_window() {
        let s = schedule(Frequency::FourTimesDaily, "2026-01-05 00:00", false);
        let window = runs_between(&s, "UTC", utc("2026-01-05 00:00"), utc("2026-01-06 00:00"), 10).unwrap();
        let shown: Vec<String> = window.into_iter().map(show).collect();
        assert_eq!(
            shown,
            [
                "2026-01-05 06:00",
                "2026-01-05 12:00",
                "2026-01-05 18:00",
                "2026-01-06 00:00"
            ]
        );
    }

    #[test]
    fn retention_describes_its_rules() {
        let retention = Retention {
            keep_last: Some(7),
            keep_monthly: Some(12),
            ..Retention::default()
        };
        assert_eq!(retention.describe(), "last 7, monthly 12");
        assert!(!retention.keeps_everything());
        assert_eq!(Retention::default().describe(), "keep all");
    }

    const ZONES: [&str; 5] = [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
    ];

    proptest! {
        /// The next run is in the future, and nothing runs between now and then.
        #[test]
        fn the_next_run_is_the_first_run_after_now(
            frequency in 0usize..5,
            zone in 0usize..5,
            exclude_weekends in any::<bool>(),
            start_day in 0i64..365,
            start_minute in 0u32..(24 * 60),
            now_offset_minutes in 0i64..(400 * 24 * 60),
            between in 0.0f64..1.0,
        ) {
            let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(start_day);
            let s = Schedule {
                frequency: Frequency::ALL[frequency],
                exclude_weekends,
                start_date: start.format("%Y-%m-%d").to_string(),
                start_time: format!("{:02}:{:02}", start_minute / 60, start_minute % 60),
            };
            prop_assume!(parse_schedule(&s).is_ok());
            let now = utc("2026-01-01 00:00") + now_offset_minutes * 60_000;
            let next = next_run(&s, ZONES[zone], now).unwrap();
            prop_assert!(next > now);
            let started = now > utc(&format!("{} 00:00", s.start_date)) + 2 * 86_400_000;
            prop_assert!(!started || next - now <= 9 * 86_400_000, "within 9 days once started");
            let earlier = now + ((next - now) as f64 * between) as i64;
            prop_assert_eq!(next_run(&s, ZONES[zone], earlier.min(next - 1)).unwrap(), next);
        }
    }
}
