//! An asset's drawer (spec portal-a §2.43), opened from its row: where it lives, its policy and
//! health, the jobs running on it or just ended (with Cancel and their logs, updated live), and
//! its recovery points, newest first.

use leptos::prelude::*;
use leptos_router::params::ParamsMap;
use model::appliance::views::{AssetDetail, AssetView, RecoveryPointView};
use model::policy::describe_restore_tests;

use super::api::get_asset_detail;
use super::health::{RecentBackups, last_backup_cell, last_copy_cell, last_verified_cell};
use crate::components::{ErrorBox, Loading, LocalTime, Modal, format_bytes, href_with};
use crate::jobs::{JobLog, JobTable};
use crate::live::use_live;

#[component]
pub fn AssetDrawer(asset_id: i64, #[prop(into)] on_close: Callback<()>) -> impl IntoView {
    let live = use_live();
    let detail = Resource::new(move || live.refetch.get(), move |_| get_asset_detail(asset_id));
    view! {
        <Modal label="Asset details" class="drawer" on_close=move || on_close.run(())>
            <Transition fallback=Loading>
                {move || detail.get().map(|result| match result {
                    Ok(detail) => view! { <Details detail on_close /> }.into_any(),
                    Err(error) => view! {
                        <ErrorBox error />
                        <button type="button" on:click=move |_| on_close.run(())>"Close"</button>
                    }.into_any(),
                })}
            </Transition>
        </Modal>
    }
}

#[component]
fn Details(detail: AssetDetail, on_close: Callback<()>) -> impl IntoView {
    let AssetDetail {
        asset,
        jobs,
        recovery_points,
    } = detail;
    let see_all = href_with("/jobs", &ParamsMap::new(), &[("asset", Some(asset.name.clone()))]);
    view! {
        <div class="page-head">
            <h2>{asset.name.clone()}</h2>
            <button type="button" on:click=move |_| on_close.run(())>"Close"</button>
        </div>
        <Facts asset=asset.clone() />
        <div class="page-head">
            <h3>"Jobs"</h3>
            <a href=see_all>"See all →"</a>
        </div>
        <AssetJobs asset_id=asset.id fetched=jobs />
        <h3>"Recovery points"</h3>
        <Points points=recovery_points />
    }
}

#[component]
fn Facts(asset: AssetView) -> impl IntoView {
    let policy = asset.policy.as_ref().map_or_else(
        || "None".to_owned(),
        |p| {
            let paused = if p.enabled { "" } else { " (disabled)" };
            format!(
                "{}{paused}, {}, {}",
                p.schedule.describe(),
                p.retention.describe(),
                describe_restore_tests(p.restore_test_days).to_lowercase()
            )
        },
    );
    view! {
        <dl class="facts">
            <div><dt>"Appliance"</dt><dd><a href=format!("/protect/appliances/{}", asset.appliance_id)>{asset.appliance_name.clone()}</a></dd></div>
            <div><dt>"Organization"</dt><dd><a href=format!("/organizations/{}", asset.organization_id)>{asset.organization_name.clone()}</a></dd></div>
            <div><dt>"Path"</dt><dd><code>{asset.path.clone()}</code></dd></div>
            <div><dt>"Backup policy"</dt><dd>{policy}</dd></div>
            <div><dt>"Last backup"</dt><dd class="last-backup">{last_backup_cell(asset.last_backup)}</dd></div>
            <div><dt>"Last size"</dt><dd>{asset.last_point_bytes.map(format_bytes).unwrap_or_else(|| "–".into())}</dd></div>
            <div><dt>"Last backup copy"</dt><dd>{last_copy_cell(asset.last_copy_at)}</dd></div>
            <div><dt>"Last verified"</dt><dd>{last_verified_cell(asset.last_verified)}</dd></div>
            <div><dt>"Recent backups"</dt><dd><RecentBackups days=asset.recent_backups.clone() /></dd></div>
        </dl>
    }
}

/// The asset's jobs as fetched, with live updates merged in.
#[component]
fn AssetJobs(asset_id: i64, fetched: Vec<model::appliance::views::JobView>) -> impl IntoView {
    let live = use_live();
    let jobs = Signal::derive(move || live.merge_jobs(fetched.clone(), |j| j.asset_id == Some(asset_id)));
    let open_log = RwSignal::new(None::<i64>);
    view! {
        <Show when=move || !jobs.with(Vec::is_empty)
            fallback=|| view! { <p class="muted">"No job running or ended in the last few minutes."</p> }>
            <JobTable jobs open_log />
        </Show>
        {move || open_log.get().map(|job_id| view! { <JobLog job_id on_close=move || open_log.set(None) /> })}
    }
}

#[component]
fn Points(points: Vec<RecoveryPointView>) -> impl IntoView {
    if points.is_empty() {
        return view! { <p class="muted">"No recovery points yet."</p> }.into_any();
    }
    view! {
        <ol class="recovery-points">
            {points.into_iter().map(|p| view! {
                <li data-point=p.id.clone()>
                    <LocalTime unix_ms=p.taken_at />
                    <span class="muted">{format!(" · {} · {} files", format_bytes(p.size_bytes), p.files)}</span>
                </li>
            }).collect_view()}
        </ol>
    }
    .into_any()
}
