//! Jobs → Active: running jobs and those that ended in the last few minutes, kept current by
//! live updates only (no polling), a page at a time, filtered in the browser (spec portal-b W-J5).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;
use model::appliance::JobKind;
use model::appliance::views::JobView;
use model::lists::{DEFAULT_PAGE_SIZE, UrlParams};

use super::api::list_active_jobs;
use super::recent::job_name;
use super::{JobLog, JobTable, JobsTabs, newest_first, sort_jobs};
use crate::components::{
    ErrorBox, FilterForm, Loading, Pager, contains_filter, current_params, select_option,
};
use crate::live::use_live;
use crate::organizations::ScopeAndOrganizationSelects;
use model::jobs::RECENTLY_ENDED_MS;

/// The filters of the page's query; text filters match "contains", ignoring case.
#[derive(Debug, Clone, Default, PartialEq)]
struct ActiveFilter {
    scope: Option<i64>,
    organization: Option<i64>,
    appliance: String,
    asset: String,
    job_name: String,
    kind: Option<JobKind>,
}

impl ActiveFilter {
    fn from_query(q: &ParamsMap) -> ActiveFilter {
        let id = |key: &str| q.get(key).and_then(|v| v.parse().ok());
        let text = |key: &str| q.get(key).unwrap_or_default().trim().to_lowercase();
        ActiveFilter {
            scope: id("scope"),
            organization: id("organization"),
            appliance: text("appliance"),
            asset: text("asset"),
            job_name: text("job_name"),
            kind: q.get("type").as_deref().and_then(JobKind::parse),
        }
    }

    fn keeps(&self, job: &JobView) -> bool {
        let contains = |text: &str, part: &str| part.is_empty() || text.to_lowercase().contains(part);
        self.organization.is_none_or(|o| o == job.organization_id)
            && self.scope.is_none_or(|s| job.scope_id == Some(s))
            && self.kind.is_none_or(|k| k == job.kind)
            && contains(&job.appliance_name, &self.appliance)
            && contains(&job.asset_name, &self.asset)
            && contains(&job_name(job), &self.job_name)
    }
}

#[component]
pub fn ActiveJobsPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let fetched = Resource::new(move || live.refetch.get(), |_| list_active_jobs());
    let filter = Memo::new(move |_| query.with(ActiveFilter::from_query));
    let order = newest_first();
    let per_page = move || query.with(|q| (|key: &str| q.get(key)).page_size(DEFAULT_PAGE_SIZE) as usize);
    let page = move || {
        query.with(|q| {
            q.get("page")
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1)
        })
    };
    let all = Signal::derive(move || {
        let fetched = fetched.get().and_then(Result::ok).unwrap_or_default();
        let newest_end = fetched
            .iter()
            .chain(live.jobs.with(|m| m.values().cloned().collect::<Vec<_>>()).iter())
            .filter_map(|j| j.ended_at.or(Some(j.started_at)))
            .max()
            .unwrap_or(0);
        // "Recently" is measured against the newest job time seen, so server and browser agree.
        let jobs = live.merge_jobs(fetched, move |j| {
            j.ended_at.is_none_or(|end| end > newest_end - RECENTLY_ENDED_MS)
        });
        let filter = filter.get();
        let mut kept = jobs.into_iter().filter(|j| filter.keeps(j)).collect::<Vec<_>>();
        sort_jobs(&mut kept, order.get());
        kept
    });
    let shown = Signal::derive(move || {
        let skip = (page() - 1) * per_page();
        all.get()
            .into_iter()
            .skip(skip)
            .take(per_page())
            .collect::<Vec<_>>()
    });
    let open_log = RwSignal::new(None::<i64>);
    view! {
        <Title text="Active jobs · Backplane" />
        <h1>"Jobs"</h1>
        <JobsTabs current="/jobs/active" />
        <Filters />
        <Transition fallback=Loading>
            {move || fetched.get().map(|result| match result {
                Ok(_) => view! {
                    <Show when=move || !all.with(Vec::is_empty) fallback=|| view! { <p class="empty">"No job is running."</p> }>
                        <JobTable jobs=shown open_log show_appliance=true order />
                        {move || {
                            let total = all.with(Vec::len);
                            let pages = total.div_ceil(per_page()).max(1) as u32;
                            view! { <Pager path="/jobs/active" page=page() as u32 pages total=total as i64 /> }
                        }}
                    </Show>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
        {move || open_log.get().map(|job_id| view! { <JobLog job_id on_close=move || open_log.set(None) /> })}
    }
}

/// Scope, organization, appliance, type, job name and asset; kept in the URL.
#[component]
fn Filters() -> impl IntoView {
    let current = current_params();
    let kind = current("type");
    view! {
        <FilterForm action="/jobs/active">
            <ScopeAndOrganizationSelects />
            {contains_filter("Appliance", "appliance", current("appliance"))}
            <label>"Type"
                <select name="type">
                    <option value="">"All"</option>
                    {JobKind::ALL.into_iter().map(|k| select_option(k.as_str().into(), k.label().into(), &kind)).collect_view()}
                </select>
            </label>
            {contains_filter("Job name", "job_name", current("job_name"))}
            {contains_filter("Asset", "asset", current("asset"))}
        </FilterForm>
    }
}
