//! Asset health (spec portal-a §1.7, §6.4): the Recent backups strip, seven days in the
//! appliance's zone, and how long a failure keeps an asset under "Recent failures".

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use model::appliance::JobState;
use model::appliance::views::BackupDay;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::DomainResult;
use crate::clock::HOUR_MS;
use crate::db::id_list;

/// Days the strip shows, today included.
pub const STRIP_DAYS: u64 = 7;

/// An appliance's zone; one the database does not know (never written by this portal) is UTC.
fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

fn local_date(unix_ms: i64, tz: Tz) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// The instant the local day `date` begins (the first moment that exists, across a
/// daylight-saving gap at midnight).
fn day_start(date: NaiveDate, tz: Tz) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..4)
        .find_map(|hours| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(hours)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc().timestamp_millis(), |t| t.timestamp_millis())
}

/// Until when a backup that failed (or was missed) at `started_at` shows in the strip: the
/// end of the sixth day after its own, in the appliance's zone.
pub(crate) fn failure_shown_until(started_at: i64, time_zone: &str) -> i64 {
    let tz = zone(time_zone);
    let date = local_date(started_at, tz);
    day_start(date.checked_add_days(Days::new(STRIP_DAYS)).unwrap_or(date), tz)
}

/// The strip's days for an appliance in `time_zone` at `now`, oldest first, all empty.
fn empty_strip(now: i64, time_zone: &str) -> Vec<BackupDay> {
    let today = local_date(now, zone(time_zone));
    (0..STRIP_DAYS)
        .rev()
        .filter_map(|back| today.checked_sub_days(Days::new(back)))
        .map(|date| BackupDay::empty(date.format("%Y-%m-%d").to_string()))
        .collect()
}

/// An asset whose strip is wanted.
pub(crate) struct StripAsset<'a> {
    pub id: i64,
    pub time_zone: &'a str,
}

#[derive(sqlx::FromRow)]
struct BackupResult {
    asset_id: i64,
    state: String,
    started_at: i64,
}

/// The Recent backups strip of each asset, by asset id: its backups that started in the last
/// seven local days, counted per day by result.
pub(crate) async fn recent_backups(
    conn: &mut AnyConnection,
    assets: &[StripAsset<'_>],
    now: i64,
) -> DomainResult<HashMap<i64, Vec<BackupDay>>> {
    if assets.is_empty() {
        return Ok(HashMap::new());
    }
    // Eight days of 24 hours reach the start of the oldest local day in every zone (offsets
    // stay within a day).
    let since = now - 8 * 24 * HOUR_MS;
    let ids: Vec<i64> = assets.iter().map(|a| a.id).collect();
    let results: Vec<BackupResult> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT s.id AS asset_id, j.state, j.started_at
         FROM assets s JOIN jobs j ON j.appliance_id = s.appliance_id AND j.asset_external_id = s.external_id
         WHERE s.id IN ({}) AND j.started_at >= $1 AND j.started_at <= $2 AND j.kind = 'backup'
           AND j.state IN ('success', 'warning', 'error', 'missed')",
        id_list(&ids)
    )))
    .bind(since)
    .bind(now)
    .fetch_all(conn)
    .await?;
    let mut strips: HashMap<i64, (Tz, Vec<BackupDay>)> = assets
        .iter()
        .map(|a| (a.id, (zone(a.time_zone), empty_strip(now, a.time_zone))))
        .collect();
    for result in results {
        let Some((tz, days)) = strips.get_mut(&result.asset_id) else {
            continue;
        };
        let date = local_date(result.started_at, *tz).format("%Y-%m-%d").to_string();
        if let (Some(day), Some(state)) = (
            days.iter_mut().find(|d| d.date == date),
            JobState::parse(&result.state),
        ) {
            day.count(state);
        }
    }
    Ok(strips.into_iter().map(|(id, (_, days))| (id, days)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = HOUR_MS;
    /// 2026-11-30 00:00 UTC, a Monday.
    const MONDAY: i64 = 1_795_996_800_000;

    #[test]
    fn the_strip_is_seven_local_days_ending_today() {
        let strip = empty_strip(MONDAY + 10 * HOUR, "UTC");
        let dates: Vec<&str> = strip.iter().map(|d| d.date.as_str()).collect();
        assert_eq!(
            dates,
            [
                "2026-11-24",
                "2026-11-25",
                "2026-11-26",
                "2026-11-27",
                "2026-11-28",
                "2026-11-29",
                "2026-11-30"
            ]
        );
        // 03:00 UTC on Monday is still Sunday evening in New York.
        let strip = empty_strip(MONDAY + 3 * HOUR, "America/New_York");
        assert_eq!(strip.last().unwrap().date, "2026-11-29");
        assert_eq!(strip.first().unwrap().date, "2026-11-23");
        // And already Monday afternoon in Auckland at 01:00 UTC.
        assert_eq!(
            empty_strip(MONDAY + HOUR, "Pacific/Auckland")
                .last()
                .unwrap()
                .date,
            "2026-11-30"
        );
    }

    #[test]
    fn a_failure_counts_as_recent_until_its_day_leaves_the_strip() {
        // Failed Monday 10:00 UTC: shown through Sunday, gone at next Monday's midnight.
        assert_eq!(
            failure_shown_until(MONDAY + 10 * HOUR, "UTC"),
            MONDAY + 7 * 24 * HOUR
        );
        // Failed Monday 03:00 UTC = Sunday 22:00 in New York (UTC−5): Sunday's failure leaves
        // at the New York midnight that starts the next Sunday, 05:00 UTC.
        assert_eq!(
            failure_shown_until(MONDAY + 3 * HOUR, "America/New_York"),
            MONDAY + 6 * 24 * HOUR + 5 * HOUR
        );
        assert_eq!(
            failure_shown_until(MONDAY, "Not/AZone"),
            MONDAY + 7 * 24 * HOUR,
            "unknown zones read as UTC"
        );
    }
}
