//! An organization's page (spec portal-b W-O3): what it is, its appliances and assets, its
//! alerts, its copy target, and Edit. Reached by clicking its row in Organizations; like every lookup, an
//! organization outside the viewer's scopes is "not found". It lives with Protect, which
//! already uses the organizations area (never the other way round).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use model::Action;
use model::AppError;
use model::appliance::views::{ApplianceFilter, ApplianceSummary, AssetView};
use model::auth::SessionView;
use model::lists::{AppliancesQuery, AssetsQuery};
use model::tenancy::{Organization, Page};

use super::api::{list_appliances, list_assets};
use super::copies::OrganizationCopyTargetSection;
use crate::components::{ErrorBox, Loading, format_time};
use crate::organizations::api::{get_organization, list_scopes};
use crate::organizations::{OrgDialog, OrgForm};

/// Rows shown per list here; the full lists are a link away.
const ROWS: u32 = 100;

#[component]
pub fn OrganizationPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .get()
            .get("id")
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap_or_default()
    };
    let refresh = RwSignal::new(0u32);
    let organization = Resource::new(move || (id(), refresh.get()), |(id, _)| get_organization(id));
    view! {
        <Transition fallback=Loading>
            {move || organization.get().map(|result| match result {
                Ok(org) => view! { <Overview org refresh /> }.into_any(),
                Err(error) => view! { <Title text="Organization · Backplane" /><ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Overview(org: Organization, refresh: RwSignal<u32>) -> impl IntoView {
    let role = use_context::<SessionView>().map(|s| s.role);
    let may_manage = role.is_some_and(|r| r.can(Action::ManageOrganizations));
    let may_manage_appliances = role.is_some_and(|r| r.can(Action::ManageAppliances));
    let dialog = RwSignal::new(OrgDialog::Closed);
    let scopes = Resource::new(|| (), |_| list_scopes());
    let done = move || {
        dialog.set(OrgDialog::Closed);
        refresh.update(|n| *n += 1);
    };
    let editing = org.clone();
    let id = org.id;
    view! {
        <Title text=format!("{} · Backplane", org.name) />
        <p class="breadcrumb"><a href="/organizations">"Organizations"</a></p>
        <div class="page-head">
            <h1>{org.name.clone()}</h1>
            {may_manage.then(|| view! {
                <button type="button" on:click=move |_| dialog.set(OrgDialog::Edit(editing.clone()))>"Edit"</button>
            })}
        </div>
        <p class="muted">{format!("Scope: {}", org.scope_name.clone().unwrap_or_else(|| "Unassigned".into()))}</p>
        <div class="tiles">
            <section class="tile" data-tile="appliances">
                <h2>"Appliances"</h2>
                <p class="big">{org.appliances}</p>
            </section>
            <section class="tile" data-tile="alerts">
                <h2>"Alerts"</h2>
                <p><a class="big" class:alarm={org.alerts > 0} href=format!("/?organization={id}")
                    title="Its Dashboard">{org.alerts}</a></p>
                <p class="muted">"unresolved"</p>
            </section>
            <section class="tile" data-tile="free-space">
                <h2>"Free space"</h2>
                <p class="big">{format!("{:.2}%", org.free_space_pct)}</p>
            </section>
        </div>
        <Appliances organization_id=id />
        <Assets organization_id=id />
        <OrganizationCopyTargetSection organization_id=id may_manage=may_manage_appliances />
        <Suspense fallback=|| ()>
            {move || scopes.get().map(|scopes| {
                let scopes = scopes.unwrap_or_default();
                match dialog.get() {
                    OrgDialog::Edit(org) => Some(view! { <OrgForm org=Some(org) scopes dialog done /> }),
                    _ => None,
                }
            })}
        </Suspense>
    }
}

#[component]
fn Appliances(organization_id: i64) -> impl IntoView {
    let query = AppliancesQuery {
        filter: ApplianceFilter {
            organization_id: Some(organization_id),
            ..ApplianceFilter::default()
        },
        page: 1,
        per_page: ROWS,
    };
    let appliances = Resource::new(move || query.clone(), list_appliances);
    let more = format!("/protect?organization={organization_id}");
    view! {
        <section data-section="appliances">
            <h2>"Appliances"</h2>
            <Transition fallback=Loading>
                {move || appliances.get().map(|result| listed(result, more.clone(), |appliances| view! { <ApplianceRows appliances /> }))}
            </Transition>
        </section>
    }
}

#[component]
fn ApplianceRows(appliances: Vec<ApplianceSummary>) -> impl IntoView {
    if appliances.is_empty() {
        return view! { <p class="empty">"No appliances yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="list">
                <thead><tr><th>"Status"</th><th>"Name"</th><th>"Last seen"</th><th>"Free space"</th><th>"Assets"</th></tr></thead>
                <tbody>
                    {appliances.into_iter().map(|a| {
                        let (class, status) = if a.online { ("badge sent", "Online") } else { ("badge failed", "Offline") };
                        view! {
                            <tr data-appliance=a.name.clone()>
                                <td><span class=class>{status}</span></td>
                                <td><a href=format!("/protect/appliances/{}", a.id)>{a.name.clone()}</a></td>
                                <td>{a.last_seen_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
                                <td class="num">{format!("{:.2}%", a.storage.free_percent())}</td>
                                <td class="num">{a.assets}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn Assets(organization_id: i64) -> impl IntoView {
    let query = AssetsQuery {
        organization_id: Some(organization_id),
        per_page: ROWS,
        ..AssetsQuery::default()
    };
    let assets = Resource::new(move || query.clone(), list_assets);
    let more = format!("/protect/assets?organization={organization_id}");
    view! {
        <section data-section="assets">
            <h2>"Assets"</h2>
            <Transition fallback=Loading>
                {move || assets.get().map(|result| listed(result, more.clone(), |assets| view! { <AssetRows assets /> }))}
            </Transition>
        </section>
    }
}

#[component]
fn AssetRows(assets: Vec<AssetView>) -> impl IntoView {
    if assets.is_empty() {
        return view! { <p class="empty">"No assets yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="list">
                <thead><tr><th>"Name"</th><th>"Appliance"</th><th>"Recovery points"</th><th>"Last recovery point"</th><th>"Policy"</th></tr></thead>
                <tbody>
                    {assets.into_iter().map(|asset| view! {
                        <tr data-asset=asset.name.clone()>
                            <td title=asset.path.clone()>{asset.name.clone()}</td>
                            <td><a href=format!("/protect/appliances/{}", asset.appliance_id)>{asset.appliance_name.clone()}</a></td>
                            <td class="num">{asset.recovery_points}</td>
                            <td>{asset.last_recovery_point_at.map(format_time).unwrap_or_else(|| "None".into())}</td>
                            <td>{if asset.policy.is_some() { "Scheduled" } else { "None" }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The first rows of a list, or why they could not be read, and the way to the full list.
fn listed<T, V: IntoView + 'static>(
    result: Result<Page<T>, AppError>,
    full_list: String,
    rows: impl FnOnce(Vec<T>) -> V,
) -> AnyView {
    match result {
        Ok(page) => {
            let total = page.total;
            view! { {rows(page.items)} <MoreLink total href=full_list /> }.into_any()
        }
        Err(error) => view! { <ErrorBox error /> }.into_any(),
    }
}

/// "All N →" when the list here is cut short.
#[component]
fn MoreLink(total: i64, href: String) -> impl IntoView {
    (total > i64::from(ROWS)).then(|| view! { <p><a href=href>{format!("All {total} →")}</a></p> })
}
