//! The appliance page's overview (spec portal-a §2.28): the Appliance alerts and Completed jobs
//! tiles, the alerts table, the Jobs tabs (Active, Scheduled, Recent) and the storage devices.

use leptos::prelude::*;
use model::Action;
use model::alerts::{AlertView, Severity};
use model::appliance::views::{ApplianceSummary, JobView};
use model::auth::SessionView;
use model::jobs::{RECENTLY_ENDED_MS, ScheduleView};
use model::lists::SchedulesQuery;

use super::api::completed_jobs;
use crate::alerts::CompletedChart;
use crate::alerts::api::{DismissAlert, appliance_alerts};
use crate::components::{ErrorBox, Icon, Loading, LocalTime, action_error, format_bytes, icon, sort_button};
use crate::jobs::api::{list_jobs, list_schedules};
use crate::jobs::{JobLog, JobTable, newest_first, sort_jobs};
use crate::live::use_live;

/// The columns the alerts table sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AlertColumn {
    Raised,
    Message,
    Source,
}

/// What raised an alert: the asset's name, or the appliance itself.
fn source(alert: &AlertView) -> String {
    alert.asset_name.clone().unwrap_or_else(|| "Appliance".into())
}

fn sort_alerts(alerts: &mut [AlertView], (column, descending): (AlertColumn, bool)) {
    alerts.sort_by(|a, b| {
        let by_column = match column {
            AlertColumn::Raised => a.raised_at.cmp(&b.raised_at),
            AlertColumn::Message => a.message.cmp(&b.message),
            AlertColumn::Source => source(a).cmp(&source(b)),
        };
        let order = if descending {
            by_column.reverse()
        } else {
            by_column
        };
        order.then_with(|| b.id.cmp(&a.id))
    });
}

/// The two tiles and the alerts table, kept current by live alert events.
#[component]
pub fn ApplianceOverview(appliance_id: i64, #[prop(into)] open_asset: Callback<i64>) -> impl IntoView {
    let live = use_live();
    let may_dismiss = use_context::<SessionView>().is_some_and(|s| s.role.can(Action::DismissAlert));
    let dismiss = ServerAction::<DismissAlert>::new();
    let alerts = Resource::new(
        move || (live.alerts.get(), dismiss.version().get()),
        move |_| appliance_alerts(appliance_id),
    );
    let completed = Resource::new(move || live.refetch.get(), move |_| completed_jobs(appliance_id));
    let order = RwSignal::new((AlertColumn::Raised, true));
    view! {
        <div class="tiles">
            <section class="tile" data-tile="appliance-alerts">
                <h2>"Appliance alerts"</h2>
                <Transition fallback=Loading>
                    {move || alerts.get().map(|result| {
                        let list = result.unwrap_or_default();
                        let count = |severity| list.iter().filter(|a| a.severity == severity).count();
                        let (critical, warning) = (count(Severity::Critical), count(Severity::Warning));
                        view! {
                            <p><span class="big" class:alarm={critical > 0} data-count="critical">{critical}</span>" critical"</p>
                            <p><span class="big" data-count="warning">{warning}</span>" warning"</p>
                        }
                    })}
                </Transition>
            </section>
            <section class="tile wide" data-tile="completed">
                <h2>"Completed jobs"</h2>
                <Transition fallback=Loading>
                    {move || completed.get().map(|result| match result {
                        Ok(days) => view! { <CompletedChart days /> }.into_any(),
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    })}
                </Transition>
            </section>
        </div>
        <h2>"Appliance alerts"</h2>
        {action_error(dismiss.value())}
        <Transition fallback=Loading>
            {move || alerts.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! { <p class="empty">"No unresolved alerts."</p> }.into_any(),
                Ok(mut list) => view! {
                    <div class="table-wrap">
                        <table class="list" aria-label="Appliance alerts">
                            <thead><tr>
                                {sort_button(order, AlertColumn::Raised, "Date/Time")}
                                {sort_button(order, AlertColumn::Message, "Message")}
                                {sort_button(order, AlertColumn::Source, "Alert source")}
                                <th><span class="visually-hidden">"Dismiss"</span></th>
                            </tr></thead>
                            <tbody>
                                {move || {
                                    sort_alerts(&mut list, order.get());
                                    list.clone().into_iter().map(|alert| view! {
                                        <AlertRow alert may_dismiss dismiss open_asset />
                                    }).collect_view()
                                }}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn AlertRow(
    alert: AlertView,
    may_dismiss: bool,
    dismiss: ServerAction<DismissAlert>,
    open_asset: Callback<i64>,
) -> impl IntoView {
    let id = alert.id;
    let severity = match alert.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
    };
    let shown_source = match alert.asset_id {
        Some(asset_id) => view! {
            <button type="button" class="link" on:click=move |_| open_asset.run(asset_id)>{source(&alert)}</button>
        }
        .into_any(),
        None => view! { {source(&alert)} }.into_any(),
    };
    view! {
        <tr data-alert=id data-severity=severity>
            <td><LocalTime unix_ms=alert.raised_at /></td>
            <td>{alert.message.clone()}</td>
            <td>{shown_source}</td>
            <td class="row-actions">
                {may_dismiss.then(|| view! {
                    <button type="button" class="dismiss" aria-label="Dismiss"
                        on:click=move |_| { dismiss.dispatch(DismissAlert { id }); }>{icon(Icon::Close)}</button>
                })}
            </td>
        </tr>
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobsTab {
    Active,
    Scheduled,
    Recent,
}

impl JobsTab {
    const ALL: [JobsTab; 3] = [JobsTab::Active, JobsTab::Scheduled, JobsTab::Recent];

    fn label(self) -> &'static str {
        match self {
            JobsTab::Active => "Active",
            JobsTab::Scheduled => "Scheduled",
            JobsTab::Recent => "Recent",
        }
    }
}

/// Jobs as tabs: Active (running or just ended, live), Scheduled (the assets' policies) and
/// Recent (the 50 newest), each sortable by its headers.
#[component]
pub fn ApplianceJobs(appliance_id: i64) -> impl IntoView {
    let live = use_live();
    let tab = RwSignal::new(JobsTab::Active);
    let fetched = Resource::new(move || live.refetch.get(), move |_| list_jobs(Some(appliance_id)));
    let order = newest_first();
    let jobs = Signal::derive(move || {
        let fetched = fetched.get().and_then(Result::ok).unwrap_or_default();
        let mut jobs = live.merge_jobs(fetched, |j| j.appliance_id == appliance_id);
        if tab.get() == JobsTab::Active {
            let newest = jobs
                .iter()
                .map(|j| j.ended_at.unwrap_or(j.started_at))
                .max()
                .unwrap_or(0);
            jobs.retain(|j| still_active(j, newest));
        }
        jobs.truncate(50);
        sort_jobs(&mut jobs, order.get());
        jobs
    });
    let open_log = RwSignal::new(None::<i64>);
    view! {
        <h2>"Jobs"</h2>
        <div class="tabs" role="tablist" aria-label="Jobs of this appliance">
            {JobsTab::ALL.into_iter().map(|t| view! {
                <button type="button" role="tab" class:active=move || tab.get() == t
                    aria-selected=move || (tab.get() == t).to_string()
                    on:click=move |_| tab.set(t)>{t.label()}</button>
            }).collect_view()}
        </div>
        <div role="tabpanel">
            {move || match tab.get() {
                JobsTab::Scheduled => view! { <Schedules appliance_id /> }.into_any(),
                shown => view! {
                    <Transition fallback=Loading>
                        {move || fetched.get().map(|_| view! {
                            <Show when=move || !jobs.with(Vec::is_empty) fallback=move || view! {
                                <p class="empty">{if shown == JobsTab::Active { "No job is running." } else { "No jobs yet." }}</p>
                            }>
                                <JobTable jobs open_log order />
                            </Show>
                        })}
                    </Transition>
                }.into_any(),
            }}
        </div>
        {move || open_log.get().map(|job_id| view! { <JobLog job_id on_close=move || open_log.set(None) /> })}
    }
}

/// Running, or ended within the last few minutes of the newest job time seen (so server and
/// browser agree on what "recently" means).
fn still_active(job: &JobView, newest: i64) -> bool {
    job.ended_at.is_none_or(|end| end > newest - RECENTLY_ENDED_MS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScheduleColumn {
    Job,
    Asset,
    NextRun,
}

#[component]
fn Schedules(appliance_id: i64) -> impl IntoView {
    let live = use_live();
    let query = SchedulesQuery {
        appliance_id: Some(appliance_id),
        ..SchedulesQuery::default()
    };
    let schedules = Resource::new(move || live.refetch.get(), move |_| list_schedules(query.clone()));
    let order = RwSignal::new((ScheduleColumn::NextRun, false));
    view! {
        <Transition fallback=Loading>
            {move || schedules.get().map(|result| match result {
                Ok(page) if page.items.is_empty() => view! {
                    <p class="empty">"No asset of this appliance has a backup policy."</p>
                }.into_any(),
                Ok(page) => {
                    let items = page.items;
                    view! {
                        <div class="table-wrap">
                            <table class="list" aria-label="Scheduled jobs">
                                <thead><tr>
                                    {sort_button(order, ScheduleColumn::Job, "Job name")}
                                    {sort_button(order, ScheduleColumn::Asset, "Asset")}
                                    <th>"Schedule"</th>
                                    {sort_button(order, ScheduleColumn::NextRun, "Next run")}
                                </tr></thead>
                                <tbody>
                                    {move || {
                                        let mut items = items.clone();
                                        sort_schedules(&mut items, order.get());
                                        items.into_iter().map(|s| view! {
                                            <tr data-schedule=s.asset_id>
                                                <td>{s.job_name.clone()}</td>
                                                <td>{s.asset_name.clone()}</td>
                                                <td>{format!("{} at {} ({})", s.policy.schedule.frequency.label(), s.policy.schedule.start_time, s.time_zone)}</td>
                                                <td>{match s.next_run_at {
                                                    Some(at) => view! { <LocalTime unix_ms=at /> }.into_any(),
                                                    None => view! { <span class="muted">"Disabled"</span> }.into_any(),
                                                }}</td>
                                            </tr>
                                        }).collect_view()
                                    }}
                                </tbody>
                            </table>
                        </div>
                        <a href="/jobs/scheduled">"All scheduled jobs →"</a>
                    }.into_any()
                }
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

fn sort_schedules(items: &mut [ScheduleView], (column, descending): (ScheduleColumn, bool)) {
    items.sort_by(|a, b| {
        let by_column = match column {
            ScheduleColumn::Job => a.job_name.cmp(&b.job_name),
            ScheduleColumn::Asset => a.asset_name.cmp(&b.asset_name),
            // Disabled ones (no next run) last.
            ScheduleColumn::NextRun => a
                .next_run_at
                .unwrap_or(i64::MAX)
                .cmp(&b.next_run_at.unwrap_or(i64::MAX)),
        };
        let order = if descending {
            by_column.reverse()
        } else {
            by_column
        };
        order.then_with(|| a.asset_id.cmp(&b.asset_id))
    });
}

/// Details: the storage the appliance reports (spec portal-a §1.6): its repository's volume.
#[component]
pub fn StorageDevices(appliance: Signal<ApplianceSummary>) -> impl IntoView {
    move || {
        let a = appliance.get();
        let used = 100.0 - a.storage.free_percent();
        view! {
            <h2>"Details"</h2>
            <div class="table-wrap">
                <table class="list compact" aria-label="Storage devices">
                    <thead><tr><th>"Type"</th><th>"Name"</th><th>"Capacity"</th><th>"Total size"</th><th>"Free size"</th><th>"Status"</th></tr></thead>
                    <tbody>
                        <tr data-storage="repository">
                            <td>"Internal"</td>
                            <td>"Backup repository volume"</td>
                            <td>
                                <div class="progress" role="meter" aria-valuemin="0" aria-valuemax="100"
                                    aria-valuenow=format!("{used:.1}") aria-label="Used">
                                    <span style=format!("width: {used:.1}%")></span>
                                </div>
                            </td>
                            <td class="num">{format_bytes(a.storage.total_bytes)}</td>
                            <td class="num">{format_bytes(a.storage.free_bytes)}</td>
                            <td>{if a.online { "Online" } else { "Offline" }}</td>
                        </tr>
                    </tbody>
                </table>
            </div>
        }
    }
}
