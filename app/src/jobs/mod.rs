//! Jobs: the Recent, Active and Scheduled tabs (spec portal-b §2.9), and the job widgets every page uses.

mod active;
pub mod api;
mod recent;
mod scheduled;
mod widgets;

pub use active::ActiveJobsPage;
pub use recent::RecentJobsPage;
pub use scheduled::ScheduledJobsPage;
pub use widgets::{JobLog, JobOrder, JobTable, ProgressBar, newest_first, run_time, sort_jobs, state_badge};

use leptos::prelude::*;

/// Recent | Active | Scheduled.
#[component]
fn JobsTabs(current: &'static str) -> impl IntoView {
    const TABS: &[(&str, &str)] = &[
        ("/jobs", "Recent"),
        ("/jobs/active", "Active"),
        ("/jobs/scheduled", "Scheduled"),
    ];
    view! { <crate::components::Tabs label="Jobs" tabs=TABS current /> }
}
