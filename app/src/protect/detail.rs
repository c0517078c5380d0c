//! An appliance's page (spec portal-a §2.28): status, the alert and job tiles with its alerts,
//! its assets (50 per page, filtered by name, removed in bulk) with their recovery points, its
//! jobs as Active / Scheduled / Recent tabs, its storage, and the commands sent to it with how
//! they ended.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use model::Action;
use model::appliance::views::{ApplianceSummary, AssetView, CommandStatus, CommandView, LOW_SPACE_PERCENT};
use model::auth::SessionView;
use model::jobs::BulkOutcome;
use model::lists::AssetsQuery;
use model::policy::describe_restore_tests;

use super::api::{
    AddAsset, DeleteAppliance, RemoveAsset, RemoveAssets, Restore, VerifyNow, get_appliance, list_assets,
    list_commands, list_recovery_points,
};
use super::appliance_panels::{ApplianceJobs, ApplianceOverview, StorageDevices};
use super::asset_drawer::AssetDrawer;
use super::assets::{Outcome, plural};
use super::copies::{CopyNow, CopyTargetSection};
use super::health::{RecentBackups, last_backup_cell, last_copy_cell, last_verified_cell};
use crate::components::{
    ErrorBox, FilterForm, ListText, Loading, Modal, RelativeTime, SubmitOrCancel, TypeDeleteToConfirm,
    action_error, contains_filter, current_params, format_bytes, format_time, load_page, paged_list,
};
use crate::jobs::api::BackupNow;
use crate::live::use_live;

#[derive(Clone, PartialEq)]
enum Dialog {
    Closed,
    AddAsset,
    Restore(AssetView),
    RemoveAsset(AssetView),
    RemoveSelected,
    DeleteAppliance,
}

/// The assets ticked on this page: id → name.
type Selection = RwSignal<BTreeMap<i64, String>>;

#[component]
pub fn ApplianceDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    // Fetched once per appliance: live events keep it current, and refetching would rebuild the
    // page under an open dialog.
    let appliance = Resource::new(id, get_appliance);
    view! {
        <Transition fallback=Loading>
            {move || appliance.get().map(|result| match result {
                Ok(fetched) => view! { <Detail fetched /> }.into_any(),
                Err(error) => view! { <p><a href="/protect">"← Protect"</a></p><ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Detail(fetched: ApplianceSummary) -> impl IntoView {
    let live = use_live();
    let role = use_context::<SessionView>().map(|s| s.role);
    let may_manage = role.is_some_and(|r| r.can(Action::ManageAppliances));
    let may_back_up = role.is_some_and(|r| r.can(Action::StartBackup));
    let appliance_id = fetched.id;
    let appliance = Signal::derive(move || live.appliance(&fetched));
    let dialog = RwSignal::new(Dialog::Closed);
    let last_command = RwSignal::new(None::<CommandView>);
    let selection: Selection = RwSignal::new(BTreeMap::new());
    let outcome = RwSignal::new(None::<BulkOutcome>);
    let drawer = RwSignal::new(None::<i64>);
    let open_asset = Callback::new(move |asset_id| drawer.set(Some(asset_id)));
    view! {
        <Title text=move || format!("{} · Protect · Backplane", appliance.with(|a| a.name.clone())) />
        <p><a href="/protect">"← Protect"</a></p>
        <div class="page-head">
            <h1>{move || appliance.with(|a| a.name.clone())}" "{move || status_badge(appliance.with(|a| a.online))}</h1>
            <div class="actions">
                {may_manage.then(|| view! {
                    <button type="button" on:click=move |_| dialog.set(Dialog::AddAsset)>"+ Add asset"</button>
                    <button type="button" class="danger" on:click=move |_| dialog.set(Dialog::DeleteAppliance)>"Delete appliance"</button>
                })}
            </div>
        </div>
        <Facts appliance />
        <ApplianceOverview appliance_id open_asset />
        <CommandFeedback last_command />
        <Outcome outcome sent=|n| format!("Asked the appliance to remove {n} asset{}; the list follows its answer.", plural(n)) />
        {move || match dialog.get() {
            Dialog::Closed => None,
            Dialog::AddAsset => Some(view! { <AddAssetForm appliance_id dialog last_command /> }.into_any()),
            Dialog::Restore(asset) => Some(view! { <RestoreForm asset dialog last_command /> }.into_any()),
            Dialog::RemoveAsset(asset) => Some(view! { <RemoveAssetForm asset dialog last_command /> }.into_any()),
            Dialog::RemoveSelected => Some(view! { <RemoveSelectedForm selection dialog outcome /> }.into_any()),
            Dialog::DeleteAppliance => Some(view! { <DeleteApplianceForm appliance_id dialog /> }.into_any()),
        }}
        <Assets appliance_id may_back_up may_manage dialog last_command selection open_asset />
        <ApplianceJobs appliance_id />
        <CopyTargetSection appliance_id may_manage last_command />
        <StorageDevices appliance />
        <Commands appliance_id />
        {move || drawer.get().map(|asset_id| view! { <AssetDrawer asset_id on_close=move || drawer.set(None) /> })}
    }
}

fn status_badge(online: bool) -> impl IntoView {
    view! {
        <span class=if online { "badge sent" } else { "badge failed" } data-testid="appliance-status">
            {if online { "Online" } else { "Offline" }}
        </span>
    }
}

#[component]
fn Facts(appliance: Signal<ApplianceSummary>) -> impl IntoView {
    move || {
        let a = appliance.get();
        let free = a.storage.free_percent();
        view! {
            <dl class="facts">
                <div><dt>"Organization"</dt><dd>{a.organization_name}</dd></div>
                <div><dt>"Model"</dt><dd>{a.model}</dd></div>
                <div><dt>"Version"</dt><dd>{a.version}</dd></div>
                <div><dt>"Last seen"</dt><dd>{a.last_seen_at.map(format_time).unwrap_or_else(|| "Never".into())}</dd></div>
                <div><dt>"Storage used"</dt><dd>{format!("{} of {}", format_bytes(a.storage.used_bytes), format_bytes(a.storage.total_bytes))}</dd></div>
                <div><dt>"Free"</dt><dd class:low-space=free <= LOW_SPACE_PERCENT>{format!("{free:.2}% ({})", format_bytes(a.storage.free_bytes))}</dd></div>
            </dl>
        }
    }
}

/// How the command the user just sent is doing: pending, then done or error, pushed live.
#[component]
fn CommandFeedback(last_command: RwSignal<Option<CommandView>>) -> impl IntoView {
    let live = use_live();
    move || {
        let sent = last_command.get()?;
        let command = live.commands.with(|m| m.get(&sent.id).cloned()).unwrap_or(sent);
        Some(view! {
            <p class="command-feedback" role="status" data-status=command.status.as_str()>
                {command_badge(command.status)}" "{command.description.clone()}
                {command.message.clone().map(|m| format!(" — {m}"))}
            </p>
        })
    }
}

fn command_badge(status: CommandStatus) -> impl IntoView {
    let class = match status {
        CommandStatus::Done => "badge sent",
        CommandStatus::Error => "badge failed",
        CommandStatus::Pending | CommandStatus::Sent => "badge pending",
    };
    view! { <span class=class>{status.label()}</span> }
}

#[component]
fn Assets(
    appliance_id: i64,
    may_back_up: bool,
    may_manage: bool,
    dialog: RwSignal<Dialog>,
    last_command: RwSignal<Option<CommandView>>,
    selection: Selection,
    open_asset: Callback<i64>,
) -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let assets = Resource::new(
        move || (query.get(), live.refetch.get()),
        move |(q, _)| {
            let mut query = AssetsQuery::from_url(&|key: &str| q.get(key));
            query.appliance_id = Some(appliance_id);
            list_assets(query)
        },
    );
    let backup = ServerAction::<BackupNow>::new();
    let copy = ServerAction::<CopyNow>::new();
    let test = ServerAction::<VerifyNow>::new();
    Effect::new(move || {
        if let Some(Ok(command)) = backup.value().get() {
            last_command.set(Some(command));
        }
    });
    Effect::new(move || {
        if let Some(Ok(command)) = copy.value().get() {
            last_command.set(Some(command));
        }
    });
    Effect::new(move || {
        if let Some(Ok(command)) = test.value().get() {
            last_command.set(Some(command));
        }
    });
    let expanded = RwSignal::new(None::<i64>);
    let path = format!("/protect/appliances/{appliance_id}");
    view! {
        <div class="page-head">
            <h2>"Assets"</h2>
            <a href=format!("/protect/assets?appliance={appliance_id}")>"Backup policies of these assets →"</a>
        </div>
        <AssetNameFilter path=path.clone() />
        {may_manage.then(|| view! { <AssetSelectionBar selection dialog /> })}
        {action_error(backup.value())}
        {action_error(copy.value())}
        {action_error(test.value())}
        <Transition fallback=Loading>
            {move || assets.get().map(|result| {
                let text = ListText {
                    path: path.clone(),
                    empty: "Nothing protected yet. Add a directory of this appliance with + Add asset.",
                    capped_at: None,
                };
                paged_list(result, text, |assets| view! {
                        <div class="table-wrap">
                            <table class="list">
                                <thead><tr>{may_manage.then(|| view! { <th><span class="visually-hidden">"Select"</span></th> })}<th>"Name"</th><th>"Path"</th><th>"Backup policy"</th><th>"Last backup"</th><th>"Recent backups"</th><th>"Recovery points"</th><th>"Last recovery point"</th><th>"Last backup copy"</th><th>"Last verified"</th><th></th></tr></thead>
                                <tbody>
                                    {assets.into_iter().map(|asset| {
                                        let id = asset.id;
                                        let for_restore = asset.clone();
                                        let for_remove = asset.clone();
                                        let name = asset.name.clone();
                                        view! {
                                            <tr data-asset=asset.name.clone()>
                                                {may_manage.then(|| view! { <td>{select_box(selection, id, name.clone())}</td> })}
                                                <td>
                                                    <button type="button" class="link" title="Details, jobs and recovery points"
                                                        on:click=move |_| open_asset.run(id)>{asset.name.clone()}</button>
                                                </td>
                                                <td><code>{asset.path.clone()}</code></td>
                                                <td>{policy_summary(&asset)}</td>
                                                <td class="last-backup">{last_backup_cell(asset.last_backup)}</td>
                                                <td><RecentBackups days=asset.recent_backups.clone() /></td>
                                                <td class="num">
                                                    <button type="button" class="link" on:click=move |_| expanded.update(|e| *e = if *e == Some(id) { None } else { Some(id) })>
                                                        {asset.recovery_points}
                                                    </button>
                                                </td>
                                                <td>{match asset.last_recovery_point_at {
                                                    Some(at) => view! { <RelativeTime unix_ms=at /> }.into_any(),
                                                    None => view! { <span class="muted">"Never"</span> }.into_any(),
                                                }}</td>
                                                <td class="last-copy">{last_copy_cell(asset.last_copy_at)}</td>
                                                <td>{last_verified_cell(asset.last_verified)}</td>
                                                <td class="row-actions">
                                                    {may_back_up.then(|| view! {
                                                        <button type="button" on:click=move |_| { backup.dispatch(BackupNow { asset_id: id }); }>"Back up now"</button>
                                                        <button type="button" disabled=asset.recovery_points == 0
                                                            on:click=move |_| dialog.set(Dialog::Restore(for_restore.clone()))>"Restore"</button>
                                                        <button type="button" disabled=asset.recovery_points == 0
                                                            on:click=move |_| { copy.dispatch(CopyNow { asset_id: id }); }>"Copy now"</button>
                                                        <button type="button" disabled=asset.recovery_points == 0
                                                            on:click=move |_| { test.dispatch(VerifyNow { asset_id: id }); }>"Test restore"</button>
                                                    })}
                                                    {may_manage.then(|| view! {
                                                        <button type="button" class="danger" on:click=move |_| dialog.set(Dialog::RemoveAsset(for_remove.clone()))>"Remove"</button>
                                                    })}
                                                </td>
                                            </tr>
                                            {move || (expanded.get() == Some(id)).then(|| view! {
                                                <tr class="expanded"><td colspan="11"><RecoveryPoints asset_id=id /></td></tr>
                                            })}
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                })
            })}
        </Transition>
    }
}

/// The Asset name filter, kept in the URL.
#[component]
fn AssetNameFilter(path: String) -> impl IntoView {
    let current = current_params();
    view! {
        <FilterForm action=path>
            {contains_filter("Asset name", "name", current("name"))}
        </FilterForm>
    }
}

/// "N selected" and Remove.
#[component]
fn AssetSelectionBar(selection: Selection, dialog: RwSignal<Dialog>) -> impl IntoView {
    let count = move || selection.with(BTreeMap::len);
    view! {
        <div class="selection-bar" role="toolbar" aria-label="Selected assets">
            <span data-testid="selected-count">{move || format!("{} selected", count())}</span>
            <button type="button" class="danger" disabled=move || count() == 0
                on:click=move |_| dialog.set(Dialog::RemoveSelected)>"Remove"</button>
            <button type="button" class="link" disabled=move || count() == 0
                on:click=move |_| selection.set(BTreeMap::new())>"Clear selection"</button>
        </div>
    }
}

fn select_box(selection: Selection, id: i64, name: String) -> impl IntoView {
    let label = format!("Select {name}");
    view! {
        <input type="checkbox" aria-label=label prop:checked=move || selection.with(|s| s.contains_key(&id))
            on:change=move |ev| {
                let on = event_target_checked(&ev);
                selection.update(|s| {
                    if on {
                        s.insert(id, name.clone());
                    } else {
                        s.remove(&id);
                    }
                });
            } />
    }
}

/// "Daily (keep last 7)", "Applying…" while a change is on its way, or blank.
fn policy_summary(asset: &AssetView) -> String {
    if asset.policy_pending() {
        return "Applying…".into();
    }
    asset
        .policy
        .as_ref()
        .map(|p| {
            let paused = if p.enabled { "" } else { ", disabled" };
            format!(
                "{} ({}, {}{paused})",
                p.schedule.frequency.label(),
                p.retention.describe(),
                describe_restore_tests(p.restore_test_days).to_lowercase()
            )
        })
        .unwrap_or_default()
}

#[component]
fn RecoveryPoints(asset_id: i64) -> impl IntoView {
    let live = use_live();
    let points = Resource::new(
        move || live.refetch.get(),
        move |_| list_recovery_points(asset_id),
    );
    view! {
        <Transition fallback=Loading>
            {move || points.get().map(|result| match result {
                Ok(points) if points.is_empty() => view! { <p class="muted">"No recovery points yet."</p> }.into_any(),
                Ok(points) => view! {
                    <table class="list compact" aria-label="Recovery points">
                        <thead><tr><th>"Taken"</th><th>"Size"</th><th>"Files"</th><th>"Id"</th></tr></thead>
                        <tbody>
                            {points.into_iter().map(|p| view! {
                                <tr data-recovery-point=p.id.clone()>
                                    <td>{format_time(p.taken_at)}</td>
                                    <td class="num">{format_bytes(p.size_bytes)}</td>
                                    <td class="num">{p.files}</td>
                                    <td><code>{p.id.chars().take(8).collect::<String>()}</code></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

/// Closes the dialog and shows the command's progress once the server has queued it.
fn follow_command<A>(
    action: ServerAction<A>,
    dialog: RwSignal<Dialog>,
    last_command: RwSignal<Option<CommandView>>,
) where
    A: leptos::server_fn::ServerFn<Output = CommandView, Error = model::AppError>
        + Clone
        + Send
        + Sync
        + 'static,
{
    Effect::new(move || {
        if let Some(Ok(command)) = action.value().get() {
            last_command.set(Some(command));
            dialog.set(Dialog::Closed);
        }
    });
}

#[component]
fn AddAssetForm(
    appliance_id: i64,
    dialog: RwSignal<Dialog>,
    last_command: RwSignal<Option<CommandView>>,
) -> impl IntoView {
    let add = ServerAction::<AddAsset>::new();
    follow_command(add, dialog, last_command);
    view! {
        <Modal label="Add asset" on_close=move || dialog.set(Dialog::Closed)>
            <h2>"Add asset"</h2>
            <ActionForm action=add>
                <input type="hidden" name="appliance_id" value=appliance_id />
                <label>"Directory on the appliance" <input name="path" required placeholder="/srv/data" /></label>
                {action_error(add.value())}
                <SubmitOrCancel submit="Add" on_cancel=move || dialog.set(Dialog::Closed) />
            </ActionForm>
        </Modal>
    }
}

/// Where the appliance accepts restores, in words.
fn restore_places(asset: &AssetView) -> String {
    let mut places = asset.restore_roots.join(", ");
    if !places.is_empty() {
        places.push_str(", or ");
    }
    places.push_str(&format!("over the asset itself ({})", asset.path));
    format!("The appliance restores into: {places}.")
}

#[component]
fn RestoreForm(
    asset: AssetView,
    dialog: RwSignal<Dialog>,
    last_command: RwSignal<Option<CommandView>>,
) -> impl IntoView {
    let restore = ServerAction::<Restore>::new();
    follow_command(restore, dialog, last_command);
    let points = Resource::new(|| (), move |_| list_recovery_points(asset.id));
    let placeholder = asset
        .restore_roots
        .first()
        .cloned()
        .unwrap_or_else(|| asset.path.clone());
    view! {
        <Modal label="Restore" on_close=move || dialog.set(Dialog::Closed)>
            <h2>{format!("Restore {}", asset.name)}</h2>
            <ActionForm action=restore>
                <input type="hidden" name="asset_id" value=asset.id />
                <label>"Recovery point"
                    <Suspense fallback=Loading>
                        {move || points.get().map(|r| view! {
                            <select name="recovery_point_id">
                                {r.unwrap_or_default().into_iter().map(|p| {
                                    let label = format!("{} · {} · {} files", format_time(p.taken_at), format_bytes(p.size_bytes), p.files);
                                    view! { <option value=p.id>{label}</option> }
                                }).collect_view()}
                            </select>
                        })}
                    </Suspense>
                </label>
                <label>{format!("Only these paths inside {} (one per line; empty restores everything)", asset.path)}
                    <textarea name="paths" rows="3" placeholder="reports/q3.pdf"></textarea>
                </label>
                <p data-testid="restore-roots">{restore_places(&asset)}</p>
                <label>"Restore into (a directory on the appliance)" <input name="target_dir" required placeholder=placeholder /></label>
                <label class="switch"><input type="checkbox" name="overwrite" value="1" />"Overwrite files that exist there"</label>
                {action_error(restore.value())}
                <SubmitOrCancel submit="Restore" on_cancel=move || dialog.set(Dialog::Closed) />
            </ActionForm>
        </Modal>
    }
}

#[component]
fn RemoveAssetForm(
    asset: AssetView,
    dialog: RwSignal<Dialog>,
    last_command: RwSignal<Option<CommandView>>,
) -> impl IntoView {
    let remove = ServerAction::<RemoveAsset>::new();
    follow_command(remove, dialog, last_command);
    view! {
        <Modal label="Remove asset" on_close=move || dialog.set(Dialog::Closed)>
            <h2>{format!("Remove {}", asset.name)}</h2>
            <p>"The appliance stops protecting this directory. Its recovery points stay in the appliance's repository."</p>
            <ActionForm action=remove>
                <input type="hidden" name="asset_id" value=asset.id />
                <TypeDeleteToConfirm />
                {action_error(remove.value())}
                <SubmitOrCancel submit="Remove" danger=true on_cancel=move || dialog.set(Dialog::Closed) />
            </ActionForm>
        </Modal>
    }
}

#[component]
fn RemoveSelectedForm(
    selection: Selection,
    dialog: RwSignal<Dialog>,
    outcome: RwSignal<Option<BulkOutcome>>,
) -> impl IntoView {
    let remove = ServerAction::<RemoveAssets>::new();
    Effect::new(move || {
        if let Some(Ok(result)) = remove.value().get() {
            outcome.set(Some(result));
            selection.set(BTreeMap::new());
            dialog.set(Dialog::Closed);
        }
    });
    let (ids, names) = selection.with_untracked(|s| {
        let ids = s.keys().map(i64::to_string).collect::<Vec<_>>().join(",");
        (ids, s.values().cloned().collect::<Vec<_>>().join(", "))
    });
    view! {
        <Modal label="Remove assets" on_close=move || dialog.set(Dialog::Closed)>
            <h2>"Remove assets"</h2>
            <p>{format!("The appliance stops protecting: {names}. An asset with a backup policy is refused: remove its policy first. Recovery points stay in the appliance's repository.")}</p>
            <ActionForm action=remove>
                <input type="hidden" name="asset_ids" value=ids />
                <TypeDeleteToConfirm />
                {action_error(remove.value())}
                <SubmitOrCancel submit="Remove" danger=true on_cancel=move || dialog.set(Dialog::Closed) />
            </ActionForm>
        </Modal>
    }
}

#[component]
fn DeleteApplianceForm(appliance_id: i64, dialog: RwSignal<Dialog>) -> impl IntoView {
    let delete = ServerAction::<DeleteAppliance>::new();
    Effect::new(move || {
        if let Some(Ok(())) = delete.value().get() {
            load_page("/protect");
        }
    });
    view! {
        <Modal label="Delete appliance" on_close=move || dialog.set(Dialog::Closed)>
            <h2>"Delete appliance"</h2>
            <p>"Its credential stops working at once and, if it is connected, it is told to unregister. Its job history stays in the audit trail."</p>
            <ActionForm action=delete>
                <input type="hidden" name="appliance_id" value=appliance_id />
                <TypeDeleteToConfirm />
                {action_error(delete.value())}
                <SubmitOrCancel submit="Delete" danger=true on_cancel=move || dialog.set(Dialog::Closed) />
            </ActionForm>
        </Modal>
    }
}

#[component]
fn Commands(appliance_id: i64) -> impl IntoView {
    let live = use_live();
    let fetched = Resource::new(move || live.refetch.get(), move |_| list_commands(appliance_id));
    let commands = move || {
        let mut commands = fetched.get().and_then(Result::ok).unwrap_or_default();
        live.commands.with(|m| {
            for command in m.values().filter(|c| c.appliance_id == appliance_id) {
                match commands.iter_mut().find(|c| c.id == command.id) {
                    Some(known) => *known = command.clone(),
                    None => commands.push(command.clone()),
                }
            }
        });
        commands.sort_by_key(|c| std::cmp::Reverse(c.id));
        commands.truncate(20);
        commands
    };
    view! {
        <h2>"Commands"</h2>
        <div class="table-wrap">
            <table class="list compact" aria-label="Commands">
                <thead><tr><th>"Requested"</th><th>"Command"</th><th>"By"</th><th>"Status"</th><th>"Result"</th></tr></thead>
                <tbody>
                    {move || commands().into_iter().map(|c| view! {
                        <tr data-command=c.id data-status=c.status.as_str()>
                            <td>{format_time(c.created_at)}</td>
                            <td>{c.description}</td>
                            <td>{c.requested_by}</td>
                            <td>{command_badge(c.status)}</td>
                            <td>{c.message.unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
