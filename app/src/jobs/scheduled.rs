//! Jobs → Scheduled: each asset's backup policy as a schedule (spec portal-b §2.9 W-J8–W-J13),
//! with Run now (Manage and above), Disable/Enable and Delete (Admin and above), each a command
//! whose progress shows on its row. Next runs are shown in the viewer's time zone.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::Action;
use model::appliance::views::CommandView;
use model::auth::SessionView;
use model::jobs::ScheduleView;
use model::lists::SchedulesQuery;

use super::api::{BackupNow, DeleteSchedule, SetScheduleEnabled, list_schedules};
use super::{JobsTabs, state_badge};
use crate::components::{
    DefaultSort, FilterForm, ListText, Loading, LocalTime, action_error, contains_filter, current_params,
    paged_list, select_option, sort_header,
};
use crate::live::use_live;
use crate::organizations::ScopeAndOrganizationSelects;

/// The command each row last sent, by asset: kept by the page, so a row rebuilt by a refetch
/// still shows how its command ended.
type SentCommands = RwSignal<HashMap<i64, CommandView>>;

/// What a row's buttons may do, by the viewer's role.
#[derive(Debug, Clone, Copy)]
struct Powers {
    run: bool,
    configure: bool,
}

#[component]
pub fn ScheduledJobsPage() -> impl IntoView {
    let query = use_query_map();
    let live = use_live();
    let role = use_context::<SessionView>().map(|s| s.role);
    let powers = Powers {
        run: role.is_some_and(|r| r.can(Action::StartBackup)),
        configure: role.is_some_and(|r| r.can(Action::ConfigurePolicies)),
    };
    let sent: SentCommands = RwSignal::new(HashMap::new());
    let schedules = Resource::new(
        move || (query.get(), live.refetch.get()),
        |(q, _)| list_schedules(SchedulesQuery::from_url(&|key: &str| q.get(key))),
    );
    view! {
        <Title text="Scheduled jobs · Backplane" />
        <h1>"Jobs"</h1>
        <JobsTabs current="/jobs/scheduled" />
        <Filters />
        <Transition fallback=Loading>
            {move || schedules.get().map(|result| {
                let text = ListText {
                    path: "/jobs/scheduled".into(),
                    empty: "No schedules match. Give assets a backup policy in Protect → Assets.",
                    capped_at: None,
                };
                paged_list(result, text, |schedules| view! { <ScheduleTable schedules powers sent /> })
            })}
        </Transition>
    }
}

/// Scope, organization, appliance and job name contains, status; kept in the URL.
#[component]
fn Filters() -> impl IntoView {
    let current = current_params();
    let status = current("status");
    view! {
        <FilterForm action="/jobs/scheduled">
            <ScopeAndOrganizationSelects />
            {contains_filter("Appliance", "appliance", current("appliance"))}
            {contains_filter("Job name", "job_name", current("job_name"))}
            <label>"Status"
                <select name="status">
                    <option value="">"All"</option>
                    {select_option("idle".into(), "Idle".into(), &status)}
                    {select_option("running".into(), "Running".into(), &status)}
                </select>
            </label>
        </FilterForm>
    }
}

#[component]
fn ScheduleTable(schedules: Vec<ScheduleView>, powers: Powers, sent: SentCommands) -> impl IntoView {
    let query = use_query_map();
    let soonest_first = DefaultSort {
        key: "next_run",
        descending: false,
    };
    let header = move |key, label| {
        sort_header(
            "/jobs/scheduled",
            &query.get_untracked(),
            soonest_first,
            key,
            label,
        )
    };
    view! {
        <div class="table-wrap">
            <table class="list">
                <thead><tr>
                    {header("appliance", "Appliance")}{header("organization", "Organization")}{header("job_name", "Job name")}
                    <th>"Status"</th><th>"Type"</th><th>"Schedule"</th>{header("last_run", "Last run")}{header("next_run", "Next run")}
                    <th></th>
                </tr></thead>
                <tbody>
                    {schedules.into_iter().map(|schedule| view! { <ScheduleRow schedule powers sent /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn ScheduleRow(schedule: ScheduleView, powers: Powers, sent: SentCommands) -> impl IntoView {
    let live = use_live();
    let asset_id = schedule.asset_id;
    let fetched_running = schedule.running;
    // Running as pushed: a job of this asset that has not finished.
    let running = Signal::derive(move || {
        live.jobs.with(|jobs| {
            let pushed: Vec<_> = jobs.values().filter(|j| j.asset_id == Some(asset_id)).collect();
            if pushed.is_empty() {
                fetched_running
            } else {
                pushed.iter().any(|j| !j.state.is_finished())
            }
        })
    });
    let fetched_change = schedule.change.as_ref().map(|c| CommandView {
        id: c.command_id,
        appliance_id: schedule.appliance_id,
        organization_id: schedule.organization_id,
        description: c.description.clone(),
        status: c.status,
        message: c.message.clone(),
        requested_by: String::new(),
        created_at: 0,
        finished_at: None,
    });
    let command = Signal::derive(move || {
        let latest = sent
            .with(|m| m.get(&asset_id).cloned())
            .or_else(|| fetched_change.clone())?;
        Some(
            live.commands
                .with(|m| m.get(&latest.id).cloned())
                .unwrap_or(latest),
        )
    });
    let busy = move || command.with(|c| c.as_ref().is_some_and(|c| !c.status.is_finished()));
    let enabled = schedule.policy.enabled;
    let schedule_text = format!("{} ({})", schedule.policy.schedule.describe(), schedule.time_zone);
    view! {
        <tr data-schedule=schedule.asset_name.clone() data-enabled=enabled.to_string()>
            <td>{schedule.appliance_name.clone()}</td>
            <td>{schedule.organization_name.clone()}</td>
            <td>{schedule.job_name.clone()}</td>
            <td data-testid="schedule-status">{move || if running.get() { "Running" } else { "Idle" }}</td>
            <td>{schedule.kind.label()}</td>
            <td>{schedule_text}{(!enabled).then(|| view! { <span class="badge muted">"Disabled"</span> })}</td>
            <td>
                {schedule.last_run_at.map(|at| view! { <LocalTime unix_ms=at /> })}
                {schedule.last_run_state.map(state_badge)}
            </td>
            <td>{match schedule.next_run_at {
                Some(at) => view! { <LocalTime unix_ms=at /> }.into_any(),
                None => view! { "–" }.into_any(),
            }}</td>
            <td class="row-actions">
                <RowActions asset_id enabled powers busy=Signal::derive(busy) sent />
                {move || command.get().map(|c| view! {
                    <span class="command-feedback small" role="status" data-status=c.status.as_str()>
                        {(!c.status.is_finished()).then(|| view! { <span class="spinner" aria-hidden="true"></span> })}
                        {format!(" {}: {}", c.description, c.status.label())}
                        {c.message.map(|m| format!(" — {m}"))}
                    </span>
                })}
            </td>
        </tr>
    }
}

/// Run now, Disable/Enable and Delete (with its confirmation).
#[component]
fn RowActions(
    asset_id: i64,
    enabled: bool,
    powers: Powers,
    busy: Signal<bool>,
    sent: SentCommands,
) -> impl IntoView {
    let run = ServerAction::<BackupNow>::new();
    let toggle = ServerAction::<SetScheduleEnabled>::new();
    let delete = ServerAction::<DeleteSchedule>::new();
    let confirming = RwSignal::new(false);
    for value in [run.value(), toggle.value(), delete.value()] {
        Effect::new(move || {
            if let Some(Ok(command)) = value.get() {
                sent.update(|m| {
                    m.insert(asset_id, command);
                });
                confirming.set(false);
            }
        });
    }
    view! {
        {powers.run.then(|| view! {
            <button type="button" disabled=busy on:click=move |_| { run.dispatch(BackupNow { asset_id }); }>"Run now"</button>
        })}
        {powers.configure.then(|| view! {
            <button type="button" disabled=busy
                on:click=move |_| { toggle.dispatch(SetScheduleEnabled { asset_id, enabled: !enabled }); }>
                {if enabled { "Disable" } else { "Enable" }}
            </button>
            <Show when=move || confirming.get() fallback=move || view! {
                <button type="button" class="danger" disabled=busy on:click=move |_| confirming.set(true)>"Delete"</button>
            }>
                <span role="group" aria-label="Confirm delete">
                    "Delete this schedule? "
                    <button type="button" class="danger" on:click=move |_| { delete.dispatch(DeleteSchedule { asset_id }); }>"Delete"</button>
                    <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </span>
            </Show>
        })}
        {action_error(run.value())}
        {action_error(toggle.value())}
        {action_error(delete.value())}
    }
}
