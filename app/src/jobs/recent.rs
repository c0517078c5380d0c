//! Jobs → Recent: finished jobs of the last 90 days, with filters on each column, sorting,
//! paging (all kept in the URL) and a drawer with the job's details and full log.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::appliance::views::JobView;
use model::appliance::{JobKind, JobState};
use model::jobs::RECENT_COUNT_CAP;
use model::lists::RecentJobsQuery;
use model::policy::policy_job_name;

use super::api::list_recent_jobs;
use super::{JobLog, JobsTabs, run_time, state_badge};
use crate::components::{
    DefaultSort, FilterForm, ListText, Loading, activates, contains_filter, current_params, format_bytes,
    format_time, paged_list, select_option, sort_header,
};
use crate::live::use_live;
use crate::organizations::ScopeAndOrganizationSelects;

#[component]
pub fn RecentJobsPage() -> impl IntoView {
    let query = use_query_map();
    let live = use_live();
    let jobs = Resource::new(
        move || (query.get(), live.refetch.get()),
        |(q, _)| list_recent_jobs(RecentJobsQuery::from_url(&|key: &str| q.get(key))),
    );
    let selected = RwSignal::new(None::<JobView>);
    view! {
        <Title text="Recent jobs · Backplane" />
        <h1>"Jobs"</h1>
        <JobsTabs current="/jobs" />
        <Filters />
        <Transition fallback=Loading>
            {move || jobs.get().map(|result| {
                let text = ListText { path: "/jobs".into(), empty: "No jobs match in the last 90 days.", capped_at: Some(RECENT_COUNT_CAP) };
                paged_list(result, text, |jobs| view! { <RecentTable jobs selected /> })
            })}
        </Transition>
        {move || selected.get().map(|job| view! { <JobDetails job selected /> })}
    }
}

/// Scope, organization, appliance and asset contains, status, type, start dates.
#[component]
fn Filters() -> impl IntoView {
    let current = current_params();
    let (status, kind) = (current("status"), current("type"));
    view! {
        <FilterForm action="/jobs">
            <ScopeAndOrganizationSelects />
            {contains_filter("Appliance", "appliance", current("appliance"))}
            {contains_filter("Asset", "asset", current("asset"))}
            <label>"Status"
                <select name="status">
                    <option value="">"All"</option>
                    {JobState::ALL.into_iter().filter(|s| s.is_finished())
                        .map(|s| select_option(s.as_str().into(), s.label().into(), &status)).collect_view()}
                </select>
            </label>
            <label>"Type"
                <select name="type">
                    <option value="">"All"</option>
                    {JobKind::ALL.into_iter().map(|k| select_option(k.as_str().into(), k.label().into(), &kind)).collect_view()}
                </select>
            </label>
            <label>"Started from" <input type="date" name="from" value=current("from") /></label>
            <label>"to" <input type="date" name="to" value=current("to") /></label>
        </FilterForm>
    }
}

#[component]
fn RecentTable(jobs: Vec<JobView>, selected: RwSignal<Option<JobView>>) -> impl IntoView {
    let query = use_query_map();
    let newest_first = DefaultSort {
        key: "started",
        descending: true,
    };
    let header = move |key, label| sort_header("/jobs", &query.get_untracked(), newest_first, key, label);
    view! {
        <div class="table-wrap">
            <table class="list">
                <thead><tr>
                    {header("appliance", "Appliance")}<th>"Organization"</th><th>"Job name"</th>{header("asset", "Asset")}
                    {header("status", "Status")}{header("type", "Type")}<th>"Mode"</th>{header("started", "Started")}
                    {header("duration", "Duration")}<th>"Size"</th>
                </tr></thead>
                <tbody>
                    {jobs.into_iter().map(|job| {
                        let duration = run_time(&job).unwrap_or_else(|| "–".into());
                        let (for_click, for_key) = (job.clone(), job.clone());
                        view! {
                            <tr data-job=job.id data-kind=job.kind.as_str() class="clickable" tabindex="0"
                                on:click=move |_| selected.set(Some(for_click.clone()))
                                on:keydown=move |ev| if activates(&ev) {
                                    ev.prevent_default();
                                    selected.set(Some(for_key.clone()));
                                }>
                                <td>{job.appliance_name.clone()}</td>
                                <td>{job.organization_name.clone()}</td>
                                <td>{job_name(&job)}</td>
                                <td>{job.asset_name.clone()}</td>
                                <td>{state_badge(job.state)}</td>
                                <td>{job.kind.label()}</td>
                                <td data-mode=job.mode.map(|m| m.as_str())>{job.mode.map_or("–", |m| m.label())}</td>
                                <td>{format_time(job.started_at)}</td>
                                <td>{duration}</td>
                                <td class="num">{job_size(&job)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The drawer: name, ID, result, size and the whole log.
#[component]
fn JobDetails(job: JobView, selected: RwSignal<Option<JobView>>) -> impl IntoView {
    view! {
        <JobLog job_id=job.id on_close=move || selected.set(None)>
            <dl class="facts">
                <div><dt>"Asset"</dt><dd>{job.asset_name.clone()}</dd></div>
                <div><dt>"Appliance"</dt><dd>{job.appliance_name.clone()}</dd></div>
                <div><dt>"Name"</dt><dd>{job_name(&job)}</dd></div>
                <div><dt>"ID"</dt><dd><code>{job.external_id.clone()}</code></dd></div>
                <div><dt>"Mode"</dt><dd>{job.mode.map_or("–", |m| m.label())}</dd></div>
                <div><dt>"Result"</dt><dd>{state_badge(job.state)}</dd></div>
                <div><dt>"Size"</dt><dd>{job_size(&job)}</dd></div>
                <div><dt>"Message"</dt><dd>{job.error.clone().unwrap_or_else(|| job.progress.message.clone())}</dd></div>
            </dl>
        </JobLog>
    }
}

/// Policy runs carry their policy's job name; the rest were started by hand.
pub fn job_name(job: &JobView) -> String {
    if job.scheduled_for.is_some() {
        policy_job_name(&job.asset_name)
    } else {
        format!("{} on demand", job.kind.label())
    }
}

/// What a backup added to the repository, or what a restore wrote.
fn job_size(job: &JobView) -> String {
    match (job.size_bytes, job.progress.bytes_total) {
        (Some(size), _) => format_bytes(size),
        (None, total) if total > 0 && job.state.is_finished() => format_bytes(total),
        _ => "–".into(),
    }
}
