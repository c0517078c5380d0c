//! Jobs as every page shows them: a live progress bar, a table with Cancel and the job log.

use leptos::prelude::*;
use model::Action;
use model::appliance::JobState;
use model::appliance::views::JobView;
use model::auth::SessionView;
use model::jobs::JobSort;

use super::api::{CancelJob, job_log};
use crate::components::{
    ErrorBox, Loading, Modal, action_error, format_bytes, format_duration, format_time, sort_button,
};
use crate::live::use_live;

/// Percent, bytes, rate and ETA of a job; `role=progressbar` carries the percent.
#[component]
pub fn ProgressBar(job: JobView) -> impl IntoView {
    let p = job.progress;
    let percent = p.percent.clamp(0.0, 100.0);
    let mut detail = vec![format!("{percent:.0}%")];
    if p.bytes_total > 0 {
        detail.push(format!(
            "{} of {}",
            format_bytes(p.bytes_done),
            format_bytes(p.bytes_total)
        ));
    }
    if p.files_total > 0 {
        detail.push(format!("{} of {} files", p.files_done, p.files_total));
    }
    if job.state == JobState::Running {
        if p.bytes_per_sec > 0 {
            detail.push(format!("{}/s", format_bytes(p.bytes_per_sec)));
        }
        if let Some(eta) = p.eta_secs {
            detail.push(format!("ETA {}", format_duration(eta)));
        }
    }
    view! {
        <div class="progress-cell">
            <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=format!("{percent:.1}") aria-label="Progress">
                <span style=format!("width: {percent:.1}%")></span>
            </div>
            <span class="muted small">{detail.join(" · ")}</span>
            {(!p.message.is_empty()).then(|| view! { <span class="muted small">{p.message.clone()}</span> })}
        </div>
    }
}

pub fn state_badge(state: JobState) -> impl IntoView {
    let class = match state {
        JobState::Success => "badge sent",
        JobState::Warning => "badge warning",
        JobState::Error | JobState::Missed => "badge failed",
        JobState::Cancelled => "badge muted",
        JobState::Queued | JobState::Running => "badge pending",
    };
    view! { <span class=class data-state=state.as_str()>{state.label()}</span> }
}

/// How long a finished job ran; `None` while it runs.
pub fn run_time(job: &JobView) -> Option<String> {
    job.ended_at
        .map(|end| format_duration(((end - job.started_at).max(0) / 1000) as u64))
}

/// How a job list held in the browser is ordered: the column and whether it runs descending.
pub type JobOrder = RwSignal<(JobSort, bool)>;

/// The order job lists start in: newest first.
pub fn newest_first() -> JobOrder {
    RwSignal::new((JobSort::Started, true))
}

/// Sorts `jobs` by the column (ties newest first); a running job's duration counts as the
/// longest.
pub fn sort_jobs(jobs: &mut [JobView], (sort, descending): (JobSort, bool)) {
    jobs.sort_by(|a, b| {
        let duration = |j: &JobView| j.ended_at.map_or(i64::MAX, |end| end - j.started_at);
        let by_column = match sort {
            JobSort::Started => a.started_at.cmp(&b.started_at),
            JobSort::Appliance => a.appliance_name.cmp(&b.appliance_name),
            JobSort::Asset => a.asset_name.cmp(&b.asset_name),
            JobSort::Status => a.state.label().cmp(b.state.label()),
            JobSort::Type => a.kind.label().cmp(b.kind.label()),
            JobSort::Duration => duration(a).cmp(&duration(b)),
        };
        let order = if descending {
            by_column.reverse()
        } else {
            by_column
        };
        order
            .then_with(|| b.started_at.cmp(&a.started_at))
            .then_with(|| b.id.cmp(&a.id))
    });
}

/// Jobs with Cancel for running ones (Manage and above) and a Log button that sets `open_log`
/// (the caller shows [`JobLog`], so it stays open while the table refreshes). With `order`, the
/// headers sort (the caller sorts `jobs` by it with [`sort_jobs`]).
#[component]
pub fn JobTable(
    jobs: Signal<Vec<JobView>>,
    open_log: RwSignal<Option<i64>>,
    #[prop(optional)] show_appliance: bool,
    #[prop(optional)] order: Option<JobOrder>,
) -> impl IntoView {
    let header = move |sort: JobSort, label: &'static str| match order {
        Some(order) => sort_button(order, sort, label).into_any(),
        None => view! { <th>{label}</th> }.into_any(),
    };
    let may_cancel = use_context::<SessionView>().is_some_and(|s| s.role.can(Action::CancelJob));
    let cancel = ServerAction::<CancelJob>::new();
    // The job whose Cancel asks for confirmation (kept outside the rows, which progress rebuilds).
    let confirming = RwSignal::new(None::<i64>);
    view! {
        {action_error(cancel.value())}
        <div class="table-wrap">
            <table class="list jobs">
                <thead><tr>
                    {show_appliance.then(|| view! { {header(JobSort::Appliance, "Appliance")}<th>"Organization"</th> })}
                    {header(JobSort::Asset, "Asset")}{header(JobSort::Type, "Type")}{header(JobSort::Status, "Status")}
                    <th>"Progress"</th>{header(JobSort::Started, "Started")}{header(JobSort::Duration, "Duration")}<th></th>
                </tr></thead>
                <tbody>
                    <For each=move || jobs.get() key=|j| (j.id, j.state, j.progress.bytes_done, j.progress.percent.to_bits()) let:job>
                        {
                            let id = job.id;
                            let running = !job.state.is_finished();
                            let duration = run_time(&job).unwrap_or_default();
                            view! {
                                <tr data-job=id data-kind=job.kind.as_str()>
                                    {show_appliance.then(|| view! { <td>{job.appliance_name.clone()}</td><td>{job.organization_name.clone()}</td> })}
                                    <td>{job.asset_name.clone()}</td>
                                    <td>{job.kind.label()}</td>
                                    <td>{state_badge(job.state)}{job.error.clone().map(|e| view! { <span class="error small">{e}</span> })}</td>
                                    <td><ProgressBar job=job.clone() /></td>
                                    <td>{format_time(job.started_at)}</td>
                                    <td>{duration}</td>
                                    <td class="row-actions">
                                        {(may_cancel && running).then(|| view! {
                                            <Show when=move || confirming.get() == Some(id) fallback=move || view! {
                                                <button type="button" on:click=move |_| confirming.set(Some(id))>"Cancel"</button>
                                            }>
                                                <span role="group" aria-label="Confirm cancel">
                                                    "Stop this job? "
                                                    <button type="button" class="danger" on:click=move |_| {
                                                        confirming.set(None);
                                                        cancel.dispatch(CancelJob { job_id: id });
                                                    }>"Cancel job"</button>
                                                    <button type="button" on:click=move |_| confirming.set(None)>"Keep running"</button>
                                                </span>
                                            </Show>
                                        })}
                                        <button type="button" on:click=move |_| open_log.update(|o| *o = if *o == Some(id) { None } else { Some(id) })>"Log"</button>
                                    </td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
        </div>
    }
}

/// A job's log in a drawer, refreshed as new lines arrive, below the job's facts if given.
#[component]
pub fn JobLog(
    job_id: i64,
    #[prop(into)] on_close: Callback<()>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let live = use_live();
    let lines = Resource::new(move || (job_id, live.log_lines.get()), |(id, _)| job_log(id));
    view! {
        <Modal label="Job log" class="drawer" on_close=move || on_close.run(())>
            <div class="page-head">
                <h2>{format!("Job log #{job_id}")}</h2>
                <button type="button" on:click=move |_| on_close.run(())>"Close"</button>
            </div>
            {children.map(|facts| facts())}
            <Transition fallback=Loading>
                {move || lines.get().map(|result| match result {
                    Ok(lines) if lines.is_empty() => view! { <p class="muted">"No log lines yet."</p> }.into_any(),
                    Ok(lines) => view! {
                        <pre class="job-log">{lines.into_iter().map(|l| format!("{}  {}\n", format_time(l.at), l.line)).collect::<String>()}</pre>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                })}
            </Transition>
        </Modal>
    }
}
