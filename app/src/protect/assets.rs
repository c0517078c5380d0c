//! Protect → Assets: every protected directory across the appliances the user may see, with
//! their backup policies (spec portal-b §2.1). Assets are selected across pages and given a
//! policy, a retention or none in one action; a row whose change is on its way to the
//! appliance shows a spinner and cannot be selected until the appliance answers.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use model::Action;
use model::appliance::views::{AssetView, CommandStatus, PolicyChange};
use model::auth::SessionView;
use model::jobs::BulkOutcome;
use model::lists::{AssetSort, AssetsQuery};
use model::policy::{DEFAULT_RESTORE_TEST_DAYS, Frequency, MAX_RESTORE_TEST_DAYS, Policy, Retention};

use super::ProtectTabs;
use super::api::{RemoveAssets, list_assets};
use super::asset_drawer::AssetDrawer;
use super::health::{HealthLegend, RecentBackups, last_backup_cell, last_copy_cell, last_verified_cell};
use super::policy_api::{RemovePolicy, SetPolicy, SetRetention};
use crate::components::{
    DefaultSort, FilterForm, ListText, Loading, Modal, RelativeTime, SubmitOrCancel, TypeDeleteToConfirm,
    action_error, contains_filter, format_bytes, paged_list, sort_header,
};
use crate::live::use_live;
use crate::organizations::ScopeAndOrganizationSelects;

/// Selected assets (kept across pages, cleared by a reload): id → (name, appliance zone).
type Selection = RwSignal<BTreeMap<i64, (String, String)>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyDialog {
    Closed,
    Set,
    Retention,
    Remove,
    RemoveAssets,
}

#[component]
pub fn AssetsPage() -> impl IntoView {
    let query = use_query_map();
    let live = use_live();
    let role = use_context::<SessionView>().map(|s| s.role);
    let may_configure = role.is_some_and(|r| r.can(Action::ConfigurePolicies));
    let may_retain = role.is_some_and(|r| r.can(Action::ChangeRetention));
    let may_remove = role.is_some_and(|r| r.can(Action::ManageAppliances));
    let selection: Selection = RwSignal::new(BTreeMap::new());
    let dialog = RwSignal::new(PolicyDialog::Closed);
    let outcome = RwSignal::new(None::<BulkOutcome>);
    let changed = RwSignal::new(0u32);
    let drawer = RwSignal::new(None::<i64>);
    let assets = Resource::new(
        move || (query.get(), live.refetch.get(), changed.get()),
        |(q, _, _)| list_assets(AssetsQuery::from_url(&|key: &str| q.get(key))),
    );
    let done = Callback::new(move |result: BulkOutcome| {
        outcome.set(Some(result));
        selection.set(BTreeMap::new());
        dialog.set(PolicyDialog::Closed);
        changed.update(|n| *n += 1);
    });
    view! {
        <Title text="Assets · Protect · Backplane" />
        <div class="page-head"><h1>"Protect"</h1></div>
        <ProtectTabs current="/protect/assets" />
        <Filters />
        {may_retain.then(|| view! { <SelectionBar selection dialog may_configure may_remove /> })}
        <Outcome outcome sent=|n| format!("Sent to the appliances for {n} asset{}; each row shows its progress.", plural(n)) />
        {move || match dialog.get() {
            PolicyDialog::Closed => None,
            PolicyDialog::Set => Some(view! { <SetPolicyForm selection dialog done /> }.into_any()),
            PolicyDialog::Retention => Some(view! { <RetentionForm selection dialog done /> }.into_any()),
            PolicyDialog::Remove => Some(view! { <RemovePolicyForm selection dialog done /> }.into_any()),
            PolicyDialog::RemoveAssets => Some(view! { <RemoveAssetsForm selection dialog done /> }.into_any()),
        }}
        <Transition fallback=Loading>
            {move || assets.get().map(|result| {
                let text = ListText { path: "/protect/assets".into(), empty: "No assets match.", capped_at: None };
                paged_list(result, text, |assets| view! { <AssetTable assets selection selectable=may_retain drawer /> })
            })}
        </Transition>
        {move || drawer.get().map(|asset_id| view! { <AssetDrawer asset_id on_close=move || drawer.set(None) /> })}
    }
}

/// "N selected" and the bulk actions.
#[component]
fn SelectionBar(
    selection: Selection,
    dialog: RwSignal<PolicyDialog>,
    may_configure: bool,
    may_remove: bool,
) -> impl IntoView {
    let count = move || selection.with(|s| s.len());
    let none = move || count() == 0;
    view! {
        <div class="selection-bar" role="toolbar" aria-label="Selected assets">
            <span data-testid="selected-count">{move || format!("{} selected", count())}</span>
            {may_configure.then(|| view! {
                <button type="button" class="primary" disabled=none on:click=move |_| dialog.set(PolicyDialog::Set)>"Set backup policy"</button>
                <button type="button" disabled=none on:click=move |_| dialog.set(PolicyDialog::Remove)>"Remove backup policy"</button>
            })}
            <button type="button" disabled=none on:click=move |_| dialog.set(PolicyDialog::Retention)>"Change retention"</button>
            {may_remove.then(|| view! {
                <button type="button" class="danger" disabled=none on:click=move |_| dialog.set(PolicyDialog::RemoveAssets)>"Remove assets"</button>
            })}
            <button type="button" class="link" disabled=none on:click=move |_| selection.set(BTreeMap::new())>"Clear selection"</button>
        </div>
    }
}

/// What the last bulk action did: `sent` says it for the number of assets queued, then each
/// refusal follows.
#[component]
pub(super) fn Outcome(outcome: RwSignal<Option<BulkOutcome>>, sent: fn(u32) -> String) -> impl IntoView {
    move || {
        let outcome = outcome.get()?;
        Some(view! {
            <div class="command-feedback" role="status">
                <p>{sent(outcome.queued)}</p>
                {(!outcome.refused.is_empty()).then(|| view! {
                    <ul class="error">{outcome.refused.iter().map(|r| view! { <li>{r.clone()}</li> }).collect_view()}</ul>
                })}
            </div>
        })
    }
}

/// The list's order when the URL names none: by organization, appliance and name.
const DEFAULT_SORT: DefaultSort = DefaultSort {
    key: "organization",
    descending: false,
};

#[component]
fn AssetTable(
    assets: Vec<AssetView>,
    selection: Selection,
    selectable: bool,
    drawer: RwSignal<Option<i64>>,
) -> impl IntoView {
    let query = use_query_map().get_untracked();
    let header =
        |sort: AssetSort, label| sort_header("/protect/assets", &query, DEFAULT_SORT, sort.as_str(), label);
    view! {
        <div class="table-wrap">
            <table class="list assets">
                <thead><tr>
                    {selectable.then(|| view! { <th><span class="visually-hidden">"Select"</span></th> })}
                    {header(AssetSort::Name, "Name")}{header(AssetSort::Path, "Path")}
                    {header(AssetSort::Appliance, "Appliance")}{header(AssetSort::Organization, "Organization")}
                    <th>"Backup policy"</th><th>"Retention"</th>
                    {header(AssetSort::LastBackup, "Last backup")}{header(AssetSort::RecentBackups, "Recent backups")}
                    {header(AssetSort::RecoveryPoints, "Recovery points")}
                    {header(AssetSort::LastRecoveryPoint, "Last recovery point")}{header(AssetSort::LastSize, "Last size")}
                    {header(AssetSort::LastCopy, "Last backup copy")}{header(AssetSort::LastVerified, "Last verified")}
                </tr></thead>
                <tbody>
                    {assets.into_iter().map(|asset| view! { <AssetRow asset selection selectable drawer /> }).collect_view()}
                </tbody>
            </table>
        </div>
        <HealthLegend />
    }
}

#[component]
fn AssetRow(
    asset: AssetView,
    selection: Selection,
    selectable: bool,
    drawer: RwSignal<Option<i64>>,
) -> impl IntoView {
    let live = use_live();
    let id = asset.id;
    let fetched_change = asset.policy_change.clone();
    // The change as pushed since the list was fetched.
    let change = Signal::derive(move || {
        let fetched = fetched_change.clone()?;
        let pushed = live.commands.with(|m| m.get(&fetched.command_id).cloned());
        Some(match pushed {
            Some(command) => PolicyChange {
                status: command.status,
                message: command.message,
                ..fetched
            },
            None => fetched,
        })
    });
    let pending = move || change.with(|c| c.as_ref().is_some_and(|c| !c.status.is_finished()));
    let checked = move || selection.with(|s| s.contains_key(&id));
    let entry = (asset.name.clone(), asset.time_zone.clone());
    let toggle = move |on: bool| {
        selection.update(|s| {
            if on {
                s.insert(id, entry.clone());
            } else {
                s.remove(&id);
            }
        })
    };
    let policy = asset.policy.clone();
    let shown_policy = asset.policy.clone();
    let retention = asset
        .policy
        .as_ref()
        .map(|p| p.retention.describe())
        .unwrap_or_default();
    let zone = asset.time_zone.clone();
    view! {
        <tr data-asset=asset.name.clone() data-recent-failures=asset.recent_failures.to_string()
            data-policy-state=move || policy_state(pending(), change.get().as_ref(), policy.as_ref())>
            {selectable.then(|| view! {
                <td>
                    <input type="checkbox" aria-label=format!("Select {}", asset.name)
                        prop:checked=checked disabled=pending
                        title=move || pending().then_some("A policy change is on its way to the appliance.")
                        on:change=move |ev| toggle(event_target_checked(&ev)) />
                </td>
            })}
            <td>
                <button type="button" class="link" title="Details, jobs and recovery points"
                    on:click=move |_| drawer.set(Some(id))>{asset.name.clone()}</button>
            </td>
            <td><code>{asset.path.clone()}</code></td>
            <td><a href=format!("/protect/appliances/{}", asset.appliance_id)>{asset.appliance_name.clone()}</a></td>
            <td>{asset.organization_name.clone()}</td>
            <td>{move || policy_cell(change.get(), shown_policy.clone(), &zone)}</td>
            <td>{retention}</td>
            <td class="last-backup">{last_backup_cell(asset.last_backup)}</td>
            <td><RecentBackups days=asset.recent_backups.clone() /></td>
            <td class="num">{asset.recovery_points}</td>
            <td>{match asset.last_recovery_point_at {
                Some(at) => view! { <RelativeTime unix_ms=at /> }.into_any(),
                None => view! { <span class="muted">"Never"</span> }.into_any(),
            }}</td>
            <td class="num">{asset.last_point_bytes.map(format_bytes).unwrap_or_else(|| "–".into())}</td>
            <td class="last-copy">{last_copy_cell(asset.last_copy_at)}</td>
            <td>{last_verified_cell(asset.last_verified)}</td>
        </tr>
    }
}

fn policy_state(pending: bool, change: Option<&PolicyChange>, policy: Option<&Policy>) -> &'static str {
    match (pending, change, policy) {
        (true, _, _) => "pending",
        (_, Some(c), _) if c.status == CommandStatus::Error => "error",
        (_, _, Some(p)) if !p.enabled => "disabled",
        (_, _, Some(_)) => "active",
        _ => "none",
    }
}

/// The policy as the appliance runs it; a spinner while a change is on its way; the
/// appliance's reason when the last change failed.
fn policy_cell(change: Option<PolicyChange>, policy: Option<Policy>, zone: &str) -> impl IntoView + use<> {
    let current = policy.map(|p| {
        let title = format!("{} ({zone})", p.schedule.describe());
        let label = if p.enabled {
            p.schedule.frequency.label().to_owned()
        } else {
            format!("{} (disabled)", p.schedule.frequency.label())
        };
        view! { <span title=title>{label}</span> }
    });
    let change = change.map(|c| match c.status {
        CommandStatus::Error => view! {
            <span class="badge failed" title=c.message.clone().unwrap_or_default()>"Error"</span>
            <span class="error small">{c.message.unwrap_or_default()}</span>
        }
        .into_any(),
        _ => view! {
            <span class="pending-change" role="status">
                <span class="spinner" aria-hidden="true"></span>" "{c.description}
            </span>
        }
        .into_any(),
    });
    view! { {current}" "{change} }
}

/// Scope, organization, "name contains" (asset name, path or appliance), "appliance contains"
/// and Recent failures;
/// kept in the URL with the sort order.
#[component]
fn Filters() -> impl IntoView {
    let query = use_query_map().get_untracked();
    let name = query.get("name").unwrap_or_default();
    let appliance_name = query.get("appliance_name").unwrap_or_default();
    let appliance = query.get("appliance");
    let failures = query.get("failures").is_some_and(|v| v == "1");
    let kept = ["sort", "desc"].map(|key| {
        query
            .get(key)
            .map(|value| view! { <input type="hidden" name=key value=value /> })
    });
    view! {
        <FilterForm action="/protect/assets">
            <ScopeAndOrganizationSelects />
            {appliance.map(|id| view! { <input type="hidden" name="appliance" value=id /> })}
            {kept}
            <label>"Name" <input type="search" name="name" value=name placeholder="asset, path or appliance…" /></label>
            {contains_filter("Appliance", "appliance_name", appliance_name)}
            <label class="check" title="A backup failed or was missed in the last 7 days">
                <input type="checkbox" name="failures" value="1" checked=failures />" Recent failures"
            </label>
        </FilterForm>
    }
}

/// The selected ids as the forms send them.
fn selected_ids(selection: Selection) -> impl Fn() -> String + Copy {
    move || selection.with(|s| s.keys().map(|id| id.to_string()).collect::<Vec<_>>().join(","))
}

/// "Europe/Berlin (2 assets), UTC (1 asset)": the zones the start time is read in.
fn selected_zones(selection: Selection) -> String {
    let mut zones: BTreeMap<String, usize> = BTreeMap::new();
    selection.with(|s| {
        for (_, zone) in s.values() {
            *zones.entry(zone.clone()).or_default() += 1;
        }
    });
    zones
        .into_iter()
        .map(|(zone, n)| format!("{zone} ({n} asset{})", if n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

fn follow_outcome<A>(action: ServerAction<A>, done: Callback<BulkOutcome>)
where
    A: leptos::server_fn::ServerFn<Output = BulkOutcome, Error = model::AppError>
        + Clone
        + Send
        + Sync
        + 'static,
{
    Effect::new(move || {
        if let Some(Ok(outcome)) = action.value().get() {
            done.run(outcome);
        }
    });
}

/// The five "keep" fields (restic's forget rules); empty keeps everything.
/// The five "keep" fields (`keep[last]` … `keep[yearly]`), filled with `current`.
#[component]
pub(super) fn RetentionFields(
    #[prop(optional)] current: Retention,
    #[prop(default = "Applied after each backup, then unused data is pruned.")] applied: &'static str,
) -> impl IntoView {
    let field = |name: &'static str, label: &'static str, value: Option<u32>| {
        let value = value.map(|n| n.to_string()).unwrap_or_default();
        view! { <label>{label} <input type="number" min="1" max="10000" name=name inputmode="numeric" value=value /></label> }
    };
    view! {
        <fieldset class="retention">
            <legend>"Keep recovery points"</legend>
            <p class="muted small">"A recovery point is kept if any rule keeps it; with no rule, all are kept. "{applied}</p>
            {field("keep[last]", "Last", current.keep_last)}
            {field("keep[daily]", "Daily", current.keep_daily)}
            {field("keep[weekly]", "Weekly", current.keep_weekly)}
            {field("keep[monthly]", "Monthly", current.keep_monthly)}
            {field("keep[yearly]", "Yearly", current.keep_yearly)}
        </fieldset>
    }
}

#[component]
fn SetPolicyForm(
    selection: Selection,
    dialog: RwSignal<PolicyDialog>,
    done: Callback<BulkOutcome>,
) -> impl IntoView {
    let set = ServerAction::<SetPolicy>::new();
    follow_outcome(set, done);
    let count = selection.with_untracked(|s| s.len());
    view! {
        <Modal label="Set backup policy" on_close=move || dialog.set(PolicyDialog::Closed)>
            <h2>{format!("Set backup policy on {count} asset{}", if count == 1 { "" } else { "s" })}</h2>
            <ActionForm action=set>
                <input type="hidden" name="asset_ids" value=selected_ids(selection) />
                <label>"Backup schedule"
                    <select name="frequency" required>
                        {Frequency::ALL.into_iter().map(|f| view! { <option value=f.as_str()>{f.label()}</option> }).collect_view()}
                    </select>
                </label>
                <label class="check"><input type="checkbox" name="exclude_weekends" value="on" />" Exclude weekends"</label>
                <label>"Start date" <input type="date" name="start_date" required /></label>
                <label>"Start time" <input type="time" name="start_time" required /></label>
                <p class="muted small">{format!("Date and time are in each appliance's time zone: {}.", selected_zones(selection))}</p>
                <RetentionFields />
                <label>"Test a restore every (days; 0 for never)"
                    <input type="number" name="restore_test_days" min="0" max=MAX_RESTORE_TEST_DAYS
                        value=DEFAULT_RESTORE_TEST_DAYS required />
                </label>
                <p class="muted small">"The first backup is a full backup and takes longer than the incremental backups that follow."</p>
                {action_error(set.value())}
                <SubmitOrCancel on_cancel=move || dialog.set(PolicyDialog::Closed) />
            </ActionForm>
        </Modal>
    }
}

#[component]
fn RetentionForm(
    selection: Selection,
    dialog: RwSignal<PolicyDialog>,
    done: Callback<BulkOutcome>,
) -> impl IntoView {
    let retain = ServerAction::<SetRetention>::new();
    follow_outcome(retain, done);
    view! {
        <Modal label="Change retention" on_close=move || dialog.set(PolicyDialog::Closed)>
            <h2>"Change retention"</h2>
            <ActionForm action=retain>
                <input type="hidden" name="asset_ids" value=selected_ids(selection) />
                <RetentionFields />
                {action_error(retain.value())}
                <SubmitOrCancel on_cancel=move || dialog.set(PolicyDialog::Closed) />
            </ActionForm>
        </Modal>
    }
}

#[component]
fn RemovePolicyForm(
    selection: Selection,
    dialog: RwSignal<PolicyDialog>,
    done: Callback<BulkOutcome>,
) -> impl IntoView {
    let remove = ServerAction::<RemovePolicy>::new();
    follow_outcome(remove, done);
    let count = selection.with_untracked(|s| s.len());
    view! {
        <Modal label="Remove backup policy" on_close=move || dialog.set(PolicyDialog::Closed)>
            <h2>"Remove backup policy"</h2>
            <p>{format!("Scheduled backups of {count} asset{} stop; their recovery points stay.", if count == 1 { "" } else { "s" })}</p>
            <ActionForm action=remove>
                <input type="hidden" name="asset_ids" value=selected_ids(selection) />
                {action_error(remove.value())}
                <SubmitOrCancel submit="Remove" danger=true on_cancel=move || dialog.set(PolicyDialog::Closed) />
            </ActionForm>
        </Modal>
    }
}

/// Removes the selected assets, across appliances, after a typed DELETE (spec portal-a §2.44).
#[component]
fn RemoveAssetsForm(
    selection: Selection,
    dialog: RwSignal<PolicyDialog>,
    done: Callback<BulkOutcome>,
) -> impl IntoView {
    let remove = ServerAction::<RemoveAssets>::new();
    follow_outcome(remove, done);
    let count = selection.with_untracked(|s| s.len());
    view! {
        <Modal label="Remove assets" on_close=move || dialog.set(PolicyDialog::Closed)>
            <h2>{format!("Remove {count} asset{}", if count == 1 { "" } else { "s" })}</h2>
            <p class="warning">"Their appliances stop protecting them. An asset with a backup policy is refused: remove its policy first. Recovery points stay in the appliances' repositories."</p>
            <ActionForm action=remove>
                <input type="hidden" name="asset_ids" value=selected_ids(selection) />
                <TypeDeleteToConfirm />
                {action_error(remove.value())}
                <SubmitOrCancel submit="Remove" danger=true on_cancel=move || dialog.set(PolicyDialog::Closed) />
            </ActionForm>
        </Modal>
    }
}

/// "s" unless there is one.
pub(super) fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}
