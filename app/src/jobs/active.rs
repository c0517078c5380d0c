//! Jobs → Active: running jobs and those that ended in the last few minutes, kept current by
//! live updates only (no polling), 50 per page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{JobLog, JobTable, JobsTabs};
use crate::components::{ErrorBox, Loading, Pager};
use crate::live::use_live;
use crate::protect::api::{ACTIVE_AFTER_END_MS, list_active_jobs};

const PER_PAGE: usize = 50;

#[component]
pub fn ActiveJobsPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let fetched = Resource::new(move || live.refetch.get(), |_| list_active_jobs());
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
        live.merge_jobs(fetched, move |j| {
            j.ended_at
                .is_none_or(|end| end > newest_end - ACTIVE_AFTER_END_MS)
        })
    });
    let shown = Signal::derive(move || {
        let skip = (page() - 1) * PER_PAGE;
        all.get()
            .into_iter()
            .skip(skip)
            .take(PER_PAGE)
            .collect::<Vec<_>>()
    });
    let open_log = RwSignal::new(None::<i64>);
    view! {
        <Title text="Active jobs · Backplane" />
        <h1>"Jobs"</h1>
        <JobsTabs current="/jobs/active" />
        <Transition fallback=Loading>
            {move || fetched.get().map(|result| match result {
                Ok(_) => view! {
                    <Show when=move || !all.with(Vec::is_empty) fallback=|| view! { <p class="empty">"No job is running."</p> }>
                        <JobTable jobs=shown open_log show_appliance=true />
                        {move || {
                            let total = all.with(Vec::len);
                            let pages = total.div_ceil(PER_PAGE).max(1) as u32;
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
