//! The query of each list page — filters, sort, page and page size — read from the page's URL in
//! one place ([`UrlParams`]) and passed whole, as one argument, to the list's server function,
//! which validates it once.

use serde::{Deserialize, Serialize};

use crate::AppError;
use crate::appliance::views::{ApplianceFilter, ApplianceSort};
use crate::appliance::{JobKind, JobState};
use crate::jobs::{JobSort, RecentJobFilter, ScheduleFilter, ScheduleSort};
use crate::tenancy::{OrgQuery, OrgSort, PAGE_SIZES, ScopeFilter};

/// A page's URL parameters, as the router hands them over. Empty values count as absent.
pub trait UrlParams {
    fn param(&self, key: &str) -> Option<String>;

    fn text(&self, key: &str) -> Option<String> {
        self.param(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn id(&self, key: &str) -> Option<i64> {
        self.text(key).and_then(|v| v.parse().ok())
    }

    /// `1` (as checkboxes and links write it) or `true`.
    fn flag(&self, key: &str) -> Option<bool> {
        self.text(key).map(|v| v == "1" || v == "true")
    }

    /// 1-based; anything else is the first page.
    fn page(&self) -> u32 {
        self.text("page")
            .and_then(|v| v.parse().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1)
    }

    /// One of [`PAGE_SIZES`], else `default`.
    fn page_size(&self, default: u32) -> u32 {
        self.text("per_page")
            .and_then(|v| v.parse().ok())
            .filter(|n| PAGE_SIZES.contains(n))
            .unwrap_or(default)
    }
}

impl<F: Fn(&str) -> Option<String>> UrlParams for F {
    fn param(&self, key: &str) -> Option<String> {
        self(key)
    }
}

/// Rows per page unless the URL chooses another of [`PAGE_SIZES`].
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// The page size a server function accepts: one of [`PAGE_SIZES`].
fn checked_page_size(per_page: u32) -> Result<u32, AppError> {
    if PAGE_SIZES.contains(&per_page) {
        Ok(per_page)
    } else {
        Err(AppError::invalid(
            "per_page",
            "Choose 10, 25, 50 or 100 rows per page.",
        ))
    }
}

/// An empty URL: no filter, the default order, the first page.
fn empty(_: &str) -> Option<String> {
    None
}

/// Jobs → Recent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentJobsQuery {
    pub scope_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub appliance: Option<String>,
    pub asset: Option<String>,
    pub status: Option<JobState>,
    pub kind: Option<JobKind>,
    /// `YYYY-MM-DD`, UTC, inclusive.
    pub from: Option<String>,
    pub to: Option<String>,
    /// None: newest first.
    pub sort: Option<JobSort>,
    pub descending: bool,
    pub page: u32,
    pub per_page: u32,
}

impl Default for RecentJobsQuery {
    fn default() -> Self {
        Self::from_url(&empty)
    }
}

impl RecentJobsQuery {
    pub fn from_url(url: &impl UrlParams) -> Self {
        let sort = url.text("sort").map(|s| JobSort::parse(&s));
        RecentJobsQuery {
            scope_id: url.id("scope"),
            organization_id: url.id("organization"),
            appliance: url.text("appliance"),
            asset: url.text("asset"),
            status: url.text("status").and_then(|s| JobState::parse(&s)),
            kind: url.text("type").and_then(|k| JobKind::parse(&k)),
            from: url.text("from"),
            to: url.text("to"),
            descending: url.flag("desc").unwrap_or(sort.is_none()),
            sort,
            page: url.page(),
            per_page: url.page_size(DEFAULT_PAGE_SIZE),
        }
    }

    /// The filter, with the dates checked and turned into a half-open range of Unix ms.
    pub fn filter(&self) -> Result<RecentJobFilter, AppError> {
        Ok(RecentJobFilter {
            scope_id: self.scope_id,
            organization_id: self.organization_id,
            appliance: self.appliance.clone(),
            asset: self.asset.clone(),
            state: self.status,
            kind: self.kind,
            started_from: day_start("from", self.from.as_deref(), 0)?,
            started_before: day_start("to", self.to.as_deref(), 1)?,
        })
    }

    pub fn order(&self) -> (JobSort, bool) {
        (self.sort.unwrap_or_default(), self.descending)
    }

    pub fn page_size(&self) -> Result<u32, AppError> {
        checked_page_size(self.per_page)
    }
}

/// Midnight UTC of a `YYYY-MM-DD` date plus `extra_days`, in Unix ms.
fn day_start(field: &str, text: Option<&str>, extra_days: i64) -> Result<Option<i64>, AppError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let invalid = || AppError::invalid(field, format!("{text} is not a date (YYYY-MM-DD)."));
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return Err(invalid());
    };
    let (Ok(year), Ok(month), Ok(day)) = (year.parse::<i64>(), month.parse::<u32>(), day.parse::<u32>())
    else {
        return Err(invalid());
    };
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
    {
        return Err(invalid());
    }
    Ok(Some(
        (days_from_civil(year, month, day) + extra_days) * 86_400_000,
    ))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Jobs → Scheduled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulesQuery {
    pub scope_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub appliance_id: Option<i64>,
    pub appliance: Option<String>,
    pub job_name: Option<String>,
    /// `Some(true)`: running only; `Some(false)`: idle only.
    pub running: Option<bool>,
    pub sort: ScheduleSort,
    pub descending: bool,
    pub page: u32,
    pub per_page: u32,
}

impl Default for SchedulesQuery {
    fn default() -> Self {
        Self::from_url(&empty)
    }
}

impl SchedulesQuery {
    pub fn from_url(url: &impl UrlParams) -> Self {
        SchedulesQuery {
            scope_id: url.id("scope"),
            organization_id: url.id("organization"),
            appliance_id: url.id("appliance_id"),
            appliance: url.text("appliance"),
            job_name: url.text("job_name"),
            running: match url.text("status").as_deref() {
                Some("running") => Some(true),
                Some("idle") => Some(false),
                _ => None,
            },
            sort: url
                .text("sort")
                .map(|s| ScheduleSort::parse(&s))
                .unwrap_or_default(),
            descending: url.flag("desc").unwrap_or(false),
            page: url.page(),
            per_page: url.page_size(DEFAULT_PAGE_SIZE),
        }
    }

    pub fn filter(&self) -> ScheduleFilter {
        ScheduleFilter {
            scope_id: self.scope_id,
            organization_id: self.organization_id,
            appliance_id: self.appliance_id,
            appliance: self.appliance.clone(),
            job_name: self.job_name.clone(),
            running: self.running,
        }
    }

    pub fn page_size(&self) -> Result<u32, AppError> {
        checked_page_size(self.per_page)
    }
}

/// Protect → Appliances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliancesQuery {
    pub filter: ApplianceFilter,
    pub page: u32,
    pub per_page: u32,
}

impl Default for AppliancesQuery {
    fn default() -> Self {
        Self::from_url(&empty)
    }
}

impl AppliancesQuery {
    pub fn page_size(&self) -> Result<u32, AppError> {
        checked_page_size(self.per_page)
    }

    pub fn from_url(url: &impl UrlParams) -> Self {
        AppliancesQuery {
            filter: ApplianceFilter {
                scope_id: url.id("scope"),
                organization_id: url.id("organization"),
                online: match url.text("status").as_deref() {
                    Some("online") => Some(true),
                    Some("offline") => Some(false),
                    _ => None,
                },
                name_contains: url.text("name"),
                low_space: url.flag("low_space").unwrap_or(false),
                sort: url
                    .text("sort")
                    .map(|s| ApplianceSort::parse(&s))
                    .unwrap_or_default(),
            },
            page: url.page(),
            per_page: url.page_size(DEFAULT_PAGE_SIZE),
        }
    }
}

/// Protect → Assets and an appliance's asset list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetsQuery {
    pub scope_id: Option<i64>,
    pub appliance_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub name: Option<String>,
    /// "Contains" on the appliance's name.
    pub appliance_name: Option<String>,
    /// Only assets whose Recent backups strip shows a failed or missed backup.
    pub recent_failures: bool,
    pub sort: AssetSort,
    pub descending: bool,
    pub page: u32,
    pub per_page: u32,
}

/// The columns Protect → Assets sorts by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetSort {
    /// Organization, then appliance, then asset name.
    #[default]
    Organization,
    Name,
    Path,
    Appliance,
    LastBackup,
    /// Assets with recent failures first (descending) or last.
    RecentBackups,
    RecoveryPoints,
    LastRecoveryPoint,
    LastSize,
    LastCopy,
    LastVerified,
}

impl AssetSort {
    pub const ALL: [AssetSort; 11] = [
        AssetSort::Organization,
        AssetSort::Name,
        AssetSort::Path,
        AssetSort::Appliance,
        AssetSort::LastBackup,
        AssetSort::RecentBackups,
        AssetSort::RecoveryPoints,
        AssetSort::LastRecoveryPoint,
        AssetSort::LastSize,
        AssetSort::LastCopy,
        AssetSort::LastVerified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssetSort::Organization => "organization",
            AssetSort::Name => "name",
            AssetSort::Path => "path",
            AssetSort::Appliance => "appliance",
            AssetSort::LastBackup => "last_backup",
            AssetSort::RecentBackups => "recent_backups",
            AssetSort::RecoveryPoints => "recovery_points",
            AssetSort::LastRecoveryPoint => "last_recovery_point",
            AssetSort::LastSize => "last_size",
            AssetSort::LastCopy => "last_copy",
            AssetSort::LastVerified => "last_verified",
        }
    }

    /// An unknown key sorts by the default.
    pub fn parse(text: &str) -> AssetSort {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .unwrap_or_default()
    }
}

impl Default for AssetsQuery {
    fn default() -> Self {
        Self::from_url(&empty)
    }
}

impl AssetsQuery {
    pub fn from_url(url: &impl UrlParams) -> Self {
        AssetsQuery {
            scope_id: url.id("scope"),
            appliance_id: url.id("appliance"),
            organization_id: url.id("organization"),
            name: url.text("name"),
            appliance_name: url.text("appliance_name"),
            recent_failures: url.flag("failures").unwrap_or(false),
            sort: url.text("sort").map(|s| AssetSort::parse(&s)).unwrap_or_default(),
            descending: url.flag("desc").unwrap_or(false),
            page: url.page(),
            per_page: url.page_size(DEFAULT_PAGE_SIZE),
        }
    }

    pub fn page_size(&self) -> Result<u32, AppError> {
        checked_page_size(self.per_page)
    }
}

/// Settings → Users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsersQuery {
    pub sort: UserSort,
    pub descending: bool,
    pub page: u32,
    pub per_page: u32,
}

/// The columns Settings → Users sorts by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSort {
    #[default]
    Email,
    Role,
    Status,
    LastSeen,
}

impl UserSort {
    pub fn parse(text: &str) -> UserSort {
        match text {
            "role" => UserSort::Role,
            "status" => UserSort::Status,
            "last_seen" => UserSort::LastSeen,
            _ => UserSort::Email,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UserSort::Email => "email",
            UserSort::Role => "role",
            UserSort::Status => "status",
            UserSort::LastSeen => "last_seen",
        }
    }
}

impl Default for UsersQuery {
    fn default() -> Self {
        Self::from_url(&empty)
    }
}

impl UsersQuery {
    pub fn from_url(url: &impl UrlParams) -> Self {
        UsersQuery {
            sort: url.text("sort").map(|s| UserSort::parse(&s)).unwrap_or_default(),
            descending: url.flag("desc").unwrap_or(false),
            page: url.page(),
            per_page: url.page_size(DEFAULT_PAGE_SIZE),
        }
    }

    pub fn page_size(&self) -> Result<u32, AppError> {
        checked_page_size(self.per_page)
    }
}

impl OrgQuery {
    /// Organizations: `scope` is a scope id or `unassigned`.
    pub fn from_url(url: &impl UrlParams) -> Self {
        OrgQuery {
            scope: match url.text("scope").as_deref() {
                Some("unassigned") => Some(ScopeFilter::Unassigned),
                Some(id) => id.parse().ok().map(ScopeFilter::Scope),
                None => None,
            },
            name: url.text("name").unwrap_or_default(),
            only_with_alerts: url.flag("alerts").unwrap_or(false),
            sort: match url.text("sort").as_deref() {
                Some("scope") => OrgSort::Scope,
                Some("appliances") => OrgSort::Appliances,
                Some("alerts") => OrgSort::Alerts,
                Some("free") => OrgSort::FreeSpace,
                _ => OrgSort::Name,
            },
            descending: url.flag("desc").unwrap_or(false),
            page: url.page(),
            per_page: url.page_size(DEFAULT_PAGE_SIZE),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn url(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key: &str| map.get(key).cloned()
    }

    #[test]
    fn assets_read_their_filters_and_order_from_the_url() {
        let query = AssetsQuery::from_url(&url(&[
            ("scope", "4"),
            ("failures", "1"),
            ("sort", "last_backup"),
            ("desc", "1"),
        ]));
        assert_eq!(query.scope_id, Some(4));
        assert!(query.recent_failures);
        assert_eq!((query.sort, query.descending), (AssetSort::LastBackup, true));
        let plain = AssetsQuery::default();
        assert!(!plain.recent_failures);
        assert_eq!((plain.sort, plain.descending), (AssetSort::Organization, false));
        assert_eq!(
            AssetsQuery::from_url(&url(&[("sort", "nonsense")])).sort,
            AssetSort::Organization,
            "an unknown column sorts by the default"
        );
        for sort in AssetSort::ALL {
            assert_eq!(AssetSort::parse(sort.as_str()), sort);
        }
    }

    #[test]
    fn recent_jobs_read_every_filter_from_the_url() {
        let query = RecentJobsQuery::from_url(&url(&[
            ("scope", "3"),
            ("organization", ""),
            ("appliance", " nas "),
            ("status", "error"),
            ("type", "restore"),
            ("from", "2026-02-28"),
            ("to", "2026-02-28"),
            ("page", "2"),
            ("per_page", "25"),
        ]));
        assert_eq!(query.scope_id, Some(3));
        assert_eq!(query.organization_id, None, "empty means absent");
        assert_eq!(query.appliance.as_deref(), Some("nas"));
        assert_eq!(
            (query.status, query.kind),
            (Some(JobState::Error), Some(JobKind::Restore))
        );
        assert_eq!(query.order(), (JobSort::Started, true), "newest first by default");
        assert_eq!((query.page, query.per_page), (2, 25));
        let filter = query.filter().unwrap();
        assert_eq!(filter.started_from, Some(1_772_236_800_000));
        assert_eq!(filter.started_before, Some(1_772_236_800_000 + 86_400_000));
    }

    #[test]
    fn bad_dates_and_page_sizes_are_named() {
        for bad in ["2026-02-30", "2026-13-01", "yesterday", "2026-1"] {
            let query = RecentJobsQuery::from_url(&url(&[("from", bad)]));
            assert_eq!(query.filter().unwrap_err().field(), Some("from"), "{bad}");
        }
        let leap = RecentJobsQuery::from_url(&url(&[("to", "2028-02-29")]));
        assert!(leap.filter().is_ok());
        let odd = url(&[("per_page", "7"), ("page", "0")]);
        assert_eq!(odd.page_size(DEFAULT_PAGE_SIZE), DEFAULT_PAGE_SIZE);
        assert_eq!(odd.page(), 1);
        let mut query = RecentJobsQuery::from_url(&odd);
        query.per_page = 1000;
        assert_eq!(query.page_size().unwrap_err().field(), Some("per_page"));
    }

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 30), 20_787);
    }
}
