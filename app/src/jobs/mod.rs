//! Jobs: the Recent, Active and Scheduled tabs (spec portal-b §2.9), and the job widgets every page uses.

mod active;
pub mod api;
mod recent;
mod scheduled;
mod widgets;

pub use active::ActiveJobsPage;
pub use recent::RecentJobsPage;
pub use scheduled::ScheduledJobsPage;
pub use widgets::{JobLog, JobTable, ProgressBar, run_time, state_badge};

use leptos::prelude::*;

/// Recent | Active | Scheduled.
#[component]
fn JobsTabs(current: &'static str) -> impl IntoView {
    let tab = move |href: &'static str, label: &'static str| {
        let here = href == current;
        view! { <a href=href class:active=here aria-current=here.then_some("page")>{label}</a> }
    };
    view! {
        <nav class="tabs" aria-label="Jobs">
            {tab("/jobs", "Recent")}
            {tab("/jobs/active", "Active")}
            {tab("/jobs/scheduled", "Scheduled")}
        </nav>
    }
}
