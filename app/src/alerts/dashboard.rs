//! The Dashboard: tiles over what the user may see, narrowed by organization or scope, kept
//! current by live events (no polling). The chart is SVG rendered on the server, so it shows
//! before the page hydrates and inside an RMM's iframe.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::alerts::{DashboardHint, DashboardView, DayCount};
use model::appliance::views::JobView;

use super::AlertPanelOpen;
use super::api::dashboard;
use crate::components::{ErrorBox, FilterForm, Loading, format_bytes, format_time};
use crate::jobs::{ProgressBar, state_badge};
use crate::live::use_live;
use crate::organizations::ScopeAndOrganizationSelects;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let tiles = Resource::new(
        move || (query.get(), live.summary.get()),
        |(q, _)| {
            let number = |key: &str| q.get(key).and_then(|v| v.parse().ok());
            dashboard(number("organization"), number("scope"))
        },
    );
    view! {
        <Title text="Dashboard · Backplane" />
        <h1>"Dashboard"</h1>
        <FilterForm action="/">
            <ScopeAndOrganizationSelects />
        </FilterForm>
        <Transition fallback=Loading>
            {move || tiles.get().map(|result| match result {
                Ok(view) => view! { <Tiles view /> }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

/// A missing set-up step that leaves customers unprotected, with the way to fix it.
#[component]
fn SetupHint(hint: DashboardHint) -> impl IntoView {
    match hint {
        DashboardHint::BackupAlarmsOff => view! {
            <p class="notice" role="note" data-hint="backup-alarms-off">
                "Backup alarms are off: nothing warns you when a customer's backups stop. "
                <a href="/settings/alarms">"Set a global backup threshold"</a>
            </p>
        }
        .into_any(),
        DashboardHint::NoOffsiteCopies => view! {
            <p class="notice" role="note" data-hint="no-offsite-copies">
                "No appliance copies its backups offsite: one incident away from losing them with the appliance. "
                <a href="/protect">"Set a copy target on an appliance's page"</a>
            </p>
        }
        .into_any(),
        DashboardHint::NoRestoreTests => view! {
            <p class="notice" role="note" data-hint="no-restore-tests">
                "No backup has been restore-tested yet: appliances test each asset weekly after a backup. "
                <a href="/protect">"Test a restore now from an appliance's page"</a>
            </p>
        }
        .into_any(),
        DashboardHint::CopyAlarmsOff => view! {
            <p class="notice" role="note" data-hint="copy-alarms-off">
                "Replication offsite alarms are off: nothing warns you when copies stop. "
                <a href="/settings/alarms">"Turn on the Replication offsite threshold"</a>
            </p>
        }
        .into_any(),
    }
}

#[component]
fn Tiles(view: DashboardView) -> impl IntoView {
    let panel = use_context::<AlertPanelOpen>();
    let open_alerts = move |_| {
        if let Some(AlertPanelOpen(open)) = panel {
            open.set(true);
        }
    };
    let DashboardView {
        appliances_online,
        appliances_offline,
        alerts,
        low_space,
        storage_used_bytes,
        storage_total_bytes,
        active_jobs,
        completed,
        recent_jobs,
        hints,
    } = view;
    view! {
        {hints.into_iter().map(|hint| view! { <SetupHint hint /> }).collect_view()}
        <div class="tiles">
            <section class="tile" data-tile="appliances">
                <h2>"Appliances"</h2>
                <p><span class="big" data-online=appliances_online>{appliances_online}</span>" online"</p>
                <p>
                    <a href="/protect?status=offline" data-offline=appliances_offline
                        class:alarm={appliances_offline > 0}>{format!("{appliances_offline} offline")}</a>
                </p>
            </section>
            <section class="tile" data-tile="alerts">
                <h2>"Alerts"</h2>
                <button type="button" class="link big" data-alerts=alerts on:click=open_alerts
                    class:alarm={alerts > 0}>{alerts}</button>
                <p class="muted">"unresolved"</p>
            </section>
            <section class="tile" data-tile="low-space">
                <h2>"Low space"</h2>
                <a href="/protect?low_space=1" class="big" data-low-space=low_space>{low_space}</a>
                <p class="muted">"appliances with 30 % or less free"</p>
            </section>
            <section class="tile" data-tile="storage">
                <h2>"Local storage used"</h2>
                <p class="big">{format_bytes(storage_used_bytes)}</p>
                <p class="muted">{format!("of {}", format_bytes(storage_total_bytes))}</p>
            </section>
            <section class="tile wide" data-tile="active-jobs">
                <h2>"Active jobs"</h2>
                <ActiveJobs fetched=active_jobs />
                <a href="/jobs/active">"See all"</a>
            </section>
            <section class="tile wide" data-tile="completed">
                <h2>"Completed jobs"</h2>
                <CompletedChart days=completed />
            </section>
            <section class="tile wide" data-tile="recent-jobs">
                <h2>"Recent jobs"</h2>
                <JobRows jobs=recent_jobs empty="No job finished in the last 13 days." />
                <a href="/jobs">"See all"</a>
            </section>
        </div>
    }
}

/// The fetched active jobs with the progress pushed since.
#[component]
fn ActiveJobs(fetched: Vec<JobView>) -> impl IntoView {
    let live = use_live();
    let ids: Vec<i64> = fetched.iter().map(|j| j.id).collect();
    let jobs = move || {
        let mut jobs = live.merge_jobs(fetched.clone(), |_| false);
        live.jobs.with(|pushed| {
            for job in &mut jobs {
                if let Some(newer) = pushed.get(&job.id) {
                    *job = newer.clone();
                }
            }
        });
        jobs.retain(|j| ids.contains(&j.id));
        jobs
    };
    view! {
        {move || {
            let jobs = jobs();
            if jobs.is_empty() {
                return view! { <p class="empty">"No job is running."</p> }.into_any();
            }
            view! {
                <ul class="tile-jobs">
                    {jobs.into_iter().map(|job| view! {
                        <li data-job=job.id>
                            <span>{format!("{} · {}", job.asset_name, job.appliance_name)}</span>
                            <ProgressBar job=job.clone() />
                        </li>
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
    }
}

#[component]
fn JobRows(jobs: Vec<JobView>, empty: &'static str) -> impl IntoView {
    if jobs.is_empty() {
        return view! { <p class="empty">{empty}</p> }.into_any();
    }
    view! {
        <ul class="tile-jobs">
            {jobs.into_iter().map(|job| view! {
                <li data-job=job.id>
                    {state_badge(job.state)}
                    <span>{format!("{} · {}", job.asset_name, job.appliance_name)}</span>
                    <span class="muted">{format_time(job.started_at)}</span>
                </li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}

const CHART_WIDTH: i64 = 520;
const CHART_HEIGHT: i64 = 160;
const AXIS: i64 = 20;

/// Success and Missed per day as grouped bars; the legend hides or shows each series.
#[component]
pub fn CompletedChart(days: Vec<DayCount>) -> impl IntoView {
    let show_success = RwSignal::new(true);
    let show_missed = RwSignal::new(true);
    let highest = days
        .iter()
        .map(|d| d.success.max(d.missed))
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = CHART_WIDTH / days.len().max(1) as i64;
    let bar = (slot - 6) / 2;
    let height = |count: i64| count * (CHART_HEIGHT - AXIS - 10) / highest;
    let bars = days
        .iter()
        .enumerate()
        .map(|(index, day)| {
            let x = index as i64 * slot + 3;
            let (success, missed) = (height(day.success), height(day.missed));
            let base = CHART_HEIGHT - AXIS;
            let label = chrono::DateTime::from_timestamp_millis(day.day)
                .map(|t| t.format("%d").to_string())
                .unwrap_or_default();
            let date = chrono::DateTime::from_timestamp_millis(day.day)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            view! {
                <g data-day=date.clone() data-success=day.success data-missed=day.missed>
                    <rect class="success" x=x y=base - success width=bar height=success
                        style:display=move || if show_success.get() { "" } else { "none" }>
                        <title>{format!("{date}: {} succeeded", day.success)}</title>
                    </rect>
                    <rect class="missed" x=x + bar y=base - missed width=bar height=missed
                        style:display=move || if show_missed.get() { "" } else { "none" }>
                        <title>{format!("{date}: {} missed or failed", day.missed)}</title>
                    </rect>
                    <text x=x + bar y=CHART_HEIGHT - 5 text-anchor="middle">{label}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class="chart" viewBox=format!("0 0 {CHART_WIDTH} {CHART_HEIGHT}") role="img"
            aria-label="Completed jobs per day over the last 13 days (UTC): success and missed">
            <line x1="0" x2=CHART_WIDTH y1=CHART_HEIGHT - AXIS y2=CHART_HEIGHT - AXIS class="axis" />
            {bars}
        </svg>
        <div class="legend">
            <button type="button" class="legend-success" aria-pressed=move || show_success.get().to_string()
                on:click=move |_| show_success.update(|s| *s = !*s)>"Success"</button>
            <button type="button" class="legend-missed" aria-pressed=move || show_missed.get().to_string()
                on:click=move |_| show_missed.update(|s| *s = !*s)>"Missed"</button>
            <span class="muted">"Days in UTC"</span>
        </div>
    }
}
