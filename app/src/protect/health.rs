//! Asset health at a glance (spec portal-a §1.7, §6.4): the newest backup's result and age, and
//! the Recent backups strip (seven days in the appliance's zone) with its legend.

use chrono::{Datelike, NaiveDate, Weekday};
use leptos::prelude::*;
use model::appliance::JobState;
use model::appliance::views::{BackupDay, DayHealth, LastBackup};

use crate::components::RelativeTime;
use crate::jobs::state_badge;

/// The newest backup's result and how long ago it started; "Never" before the first.
pub fn last_backup_cell(last: Option<LastBackup>) -> impl IntoView {
    match last {
        Some(last) => view! {
            <span class="last-backup">{state_badge(last.state)}" "<RelativeTime unix_ms=last.started_at /></span>
        }
        .into_any(),
        None => view! { <span class="muted">"Never"</span> }.into_any(),
    }
}

/// How long ago the newest good backup copy ended; "–" when none (spec portal-a §2.41).
pub fn last_copy_cell(last_copy_at: Option<i64>) -> impl IntoView {
    match last_copy_at {
        Some(at) => view! { <RelativeTime unix_ms=at /> }.into_any(),
        None => view! { <span class="muted" aria-label="No backup copy">"–"</span> }.into_any(),
    }
}

/// The newest restore test: passed or failed, and how long ago; "Never" before the first.
pub fn last_verified_cell(last: Option<LastBackup>) -> impl IntoView {
    match last {
        Some(test) => {
            let (class, label) = if test.state == JobState::Error {
                ("badge failed", "Failed")
            } else {
                ("badge sent", "Passed")
            };
            view! {
                <span class="last-verified" data-state=test.state.as_str()>
                    <span class=class>{label}</span>" "<RelativeTime unix_ms=test.started_at />
                </span>
            }
            .into_any()
        }
        None => view! { <span class="muted last-verified">"Never"</span> }.into_any(),
    }
}

/// Seven squares, oldest first, each a day's result labelled with its weekday's letter.
#[component]
pub fn RecentBackups(days: Vec<BackupDay>) -> impl IntoView {
    view! {
        <span class="strip" role="list" aria-label="Recent backups, oldest day first">
            {days.into_iter().map(|day| {
                let date = NaiveDate::parse_from_str(&day.date, "%Y-%m-%d").ok();
                let weekday = date.map(|d| d.weekday());
                let health = day.health();
                let text = format!(
                    "{} {}: {}",
                    weekday.map(weekday_name).unwrap_or_default(),
                    day.date,
                    day.describe()
                );
                view! {
                    <span role="listitem" class=format!("day {}", health.as_str()) data-date=day.date.clone()
                        data-health=health.as_str() title=text.clone() aria-label=text>
                        {weekday.map(weekday_letter).unwrap_or("?")}
                    </span>
                }
            }).collect_view()}
        </span>
    }
}

/// What the strip's colours mean.
#[component]
pub fn HealthLegend() -> impl IntoView {
    view! {
        <ul class="strip-legend" aria-label="Recent backups legend">
            {DayHealth::ALL.into_iter().map(|health| view! {
                <li><span class=format!("day {}", health.as_str()) aria-hidden="true"></span>" "{health.label()}</li>
            }).collect_view()}
        </ul>
    }
}

fn weekday_letter(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "M",
        Weekday::Tue | Weekday::Thu => "T",
        Weekday::Wed => "W",
        Weekday::Fri => "F",
        Weekday::Sat | Weekday::Sun => "S",
    }
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}
