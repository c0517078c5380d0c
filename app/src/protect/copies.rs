//! Offsite backup copies on an appliance's page: where its recovery points are copied (an
//! S3-compatible bucket or another volume), with the target's bandwidth limit and retention.
//! Secrets go in, never out: the form leaves the secret key empty to keep the stored one.

use leptos::prelude::*;
use model::AppError;
use model::appliance::views::CommandView;
use model::appliance::{CopyLocation, CopyTargetView};
use model::policy::{Frequency, Retention, Schedule};
#[cfg(feature = "ssr")]
use {
    crate::server::*,
    domain::appliances::{copies, org_copies},
    model::Action,
    model::appliance::CopyTargetRequest,
};

use super::assets::{RetentionFields, plural};
use super::policy_api::KeepFields;
use crate::components::{ErrorBox, Loading, Modal, RelativeTime, SubmitOrCancel, action_error};
use crate::live::use_live;

/// Signed in (View): the appliance's copy target, without its secrets.
#[server(prefix = "/api", endpoint = "appliances/copy-target")]
pub async fn get_copy_target(appliance_id: i64) -> Result<Option<CopyTargetView>, AppError> {
    let viewer = viewer(Action::View)?;
    copies::copy_target(&mut *conn().await?, &viewer, appliance_id)
        .await
        .map_err(to_app_error)
}

/// The copy target form's fields; those of the other kind of location are ignored.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LocationFields {
    pub kind: String,
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub path: Option<String>,
}

impl LocationFields {
    pub fn location(self) -> Result<CopyLocation, AppError> {
        let text = |field: Option<String>| field.unwrap_or_default().trim().to_owned();
        match self.kind.as_str() {
            "s3" => Ok(CopyLocation::S3 {
                endpoint: text(self.endpoint).trim_end_matches('/').to_owned(),
                bucket: text(self.bucket),
                prefix: text(self.prefix),
                region: text(self.region),
                access_key_id: text(self.access_key_id),
                secret_access_key: self.secret_access_key.unwrap_or_default(),
            }),
            "path" => Ok(CopyLocation::Path {
                path: text(self.path),
            }),
            _ => Err(AppError::invalid(
                "kind",
                "Choose where to copy: an S3-compatible bucket or a directory.",
            )),
        }
    }
}

/// The form's "When" fields: after each backup, or on a schedule of the copies' own.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CopyWhenFields {
    /// `after_backup` (also when empty) or `schedule`.
    pub when: String,
    pub frequency: String,
    pub exclude_weekends: Option<String>,
    pub start_date: String,
    pub start_time: String,
}

impl CopyWhenFields {
    pub fn schedule(self) -> Result<Option<Schedule>, AppError> {
        match self.when.as_str() {
            "" | "after_backup" => Ok(None),
            "schedule" => Ok(Some(Schedule {
                frequency: Frequency::parse(&self.frequency)
                    .ok_or_else(|| AppError::invalid("copy_schedule", "Choose how often to copy."))?,
                exclude_weekends: self.exclude_weekends.is_some(),
                start_date: self.start_date.trim().to_owned(),
                start_time: self.start_time.trim().to_owned(),
            })),
            _ => Err(AppError::invalid(
                "copy_schedule",
                "Choose when to copy: after each backup or on a schedule.",
            )),
        }
    }
}

/// A bandwidth limit from a form field: empty is "no limit".
#[cfg(feature = "ssr")]
fn bandwidth(text: Option<&str>) -> Result<Option<u32>, AppError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|_| {
            AppError::invalid("bandwidth_kib", format!("{t:?} is not a whole number of KiB/s."))
        }),
    }
}

/// Signed in (ManageAppliances): set where the appliance copies its recovery points.
#[server(prefix = "/api", endpoint = "appliances/copy-target/set")]
pub async fn set_copy_target(
    appliance_id: i64,
    #[server(default)] location: LocationFields,
    bandwidth_kib: Option<String>,
    #[server(default)] keep: KeepFields,
    #[server(default)] copy: CopyWhenFields,
) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::ManageAppliances)?;
    let (portal, client) = (portal(), client_info());
    let request = request(location, bandwidth_kib, keep, copy)?;
    copies::set_copy_target(&portal, &viewer, appliance_id, request, &client)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageAppliances): stop copying (the copies made stay where they are).
#[server(prefix = "/api", endpoint = "appliances/copy-target/remove")]
pub async fn remove_copy_target(appliance_id: i64) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::ManageAppliances)?;
    let (portal, client) = (portal(), client_info());
    copies::remove_copy_target(&portal, &viewer, appliance_id, &client)
        .await
        .map_err(to_app_error)
}

/// The form's fields as a request.
#[cfg(feature = "ssr")]
fn request(
    location: LocationFields,
    bandwidth_kib: Option<String>,
    keep: KeepFields,
    copy: CopyWhenFields,
) -> Result<CopyTargetRequest, AppError> {
    Ok(CopyTargetRequest {
        location: location.location()?,
        bandwidth_kib: bandwidth(bandwidth_kib.as_deref())?,
        retention: keep.retention()?,
        schedule: copy.schedule()?,
    })
}

/// Signed in (View): the organization's copy target, without its secrets.
#[server(prefix = "/api", endpoint = "orgs/copy-target")]
pub async fn get_organization_copy_target(organization_id: i64) -> Result<Option<CopyTargetView>, AppError> {
    let viewer = viewer(Action::View)?;
    org_copies::organization_copy_target(&mut *conn().await?, &viewer, organization_id)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageAppliances): set the organization's copy target; answers how many of its
/// appliances (those without a target of their own) were sent it.
#[server(prefix = "/api", endpoint = "orgs/copy-target/set")]
pub async fn set_organization_copy_target(
    organization_id: i64,
    #[server(default)] location: LocationFields,
    bandwidth_kib: Option<String>,
    #[server(default)] keep: KeepFields,
    #[server(default)] copy: CopyWhenFields,
) -> Result<u32, AppError> {
    let viewer = viewer(Action::ManageAppliances)?;
    let (portal, client) = (portal(), client_info());
    let request = request(location, bandwidth_kib, keep, copy)?;
    org_copies::set_organization_copy_target(&portal, &viewer, organization_id, request, &client)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageAppliances): remove the organization's copy target; answers how many
/// appliances stopped copying.
#[server(prefix = "/api", endpoint = "orgs/copy-target/remove")]
pub async fn remove_organization_copy_target(organization_id: i64) -> Result<u32, AppError> {
    let viewer = viewer(Action::ManageAppliances)?;
    let (portal, client) = (portal(), client_info());
    org_copies::remove_organization_copy_target(&portal, &viewer, organization_id, &client)
        .await
        .map_err(to_app_error)
}

/// Signed in (StartBackup): copy the asset's recovery points the target lacks, now.
#[server(prefix = "/api", endpoint = "assets/copy-now")]
pub async fn copy_now(asset_id: i64) -> Result<CommandView, AppError> {
    let viewer = viewer(Action::StartBackup)?;
    let (portal, client) = (portal(), client_info());
    copies::copy_now(&portal, &viewer, asset_id, &client)
        .await
        .map_err(to_app_error)
}

/// Appliance page → Backup copies.
#[component]
pub fn CopyTargetSection(
    appliance_id: i64,
    may_manage: bool,
    last_command: RwSignal<Option<CommandView>>,
) -> impl IntoView {
    let live = use_live();
    let editing = RwSignal::new(false);
    let target = Resource::new(
        move || (live.refetch.get(), last_command.get().map(|c| c.id)),
        move |_| get_copy_target(appliance_id),
    );
    let remove = ServerAction::<RemoveCopyTarget>::new();
    Effect::new(move || {
        if let Some(Ok(command)) = remove.value().get() {
            last_command.set(Some(command));
        }
    });
    view! {
        <section class="copy-target" aria-labelledby="copy-target-title">
            <div class="page-head">
                <h2 id="copy-target-title">"Backup copies"</h2>
            </div>
            {action_error(remove.value())}
            <Transition fallback=Loading>
                {move || target.get().map(|result| match result {
                    Ok(current) => {
                                        let for_form = current.clone();
                        let own = current.as_ref().is_some_and(|c| !c.from_organization);
                        let label = match &current {
                            None => "Set copy target",
                            Some(c) if c.from_organization => "Set a target of its own",
                            Some(_) => "Edit copy target",
                        };
                        view! {
                            <CopyTargetSummary current=current.clone() />
                            {may_manage.then(|| view! {
                                <div class="actions">
                                    <button type="button" on:click=move |_| editing.set(true)>{label}</button>
                                    {own.then(|| view! {
                                        <button type="button" class="danger"
                                            on:click=move |_| { remove.dispatch(RemoveCopyTarget { appliance_id }); }>"Stop copies"</button>
                                    })}
                                </div>
                            })}
                            {move || editing.get().then(|| view! {
                                <CopyTargetForm appliance_id current=for_form.clone() editing last_command />
                            })}
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn CopyTargetSummary(current: Option<CopyTargetView>) -> impl IntoView {
    let Some(target) = current else {
        return view! {
            <p class="muted" data-testid="copy-target">"No copy target: recovery points are kept on this appliance only."</p>
        }
        .into_any();
    };
    view! {
        <dl class="facts" data-testid="copy-target">
            <div><dt>"Copies to"</dt><dd>{target.location.describe()}
                {target.from_organization.then_some(" (its organization's target)")}</dd></div>
            <div><dt>"When"</dt><dd>{match &target.schedule {
                Some(schedule) => format!("{} (the appliance's time zone)", schedule.describe()),
                None => "After each good backup".to_owned(),
            }}</dd></div>
            <div><dt>"Bandwidth"</dt><dd>{target.bandwidth_kib.map(|k| format!("{k} KiB/s")).unwrap_or_else(|| "Unlimited".into())}</dd></div>
            <div><dt>"Keeps"</dt><dd>{target.retention.describe()}</dd></div>
            <div><dt>"Changed"</dt><dd><RelativeTime unix_ms=target.updated_at />" by "{target.updated_by}</dd></div>
        </dl>
    }
    .into_any()
}

#[component]
fn CopyTargetForm(
    appliance_id: i64,
    current: Option<CopyTargetView>,
    editing: RwSignal<bool>,
    last_command: RwSignal<Option<CommandView>>,
) -> impl IntoView {
    let set = ServerAction::<SetCopyTarget>::new();
    Effect::new(move || {
        if let Some(Ok(command)) = set.value().get() {
            last_command.set(Some(command));
            editing.set(false);
        }
    });
    // A target that follows the organization's becomes the appliance's own when saved here.
    let current = current.filter(|c| !c.from_organization);
    view! {
        <Modal label="Copy target" on_close=move || editing.set(false)>
            <h2>"Copy recovery points offsite"</h2>
            <p class="muted small">"The target is a restic-format repository: the stock restic restores from it with its own password, without this appliance."</p>
            <ActionForm action=set>
                <input type="hidden" name="appliance_id" value=appliance_id />
                <CopyTargetFields current />
                {action_error(set.value())}
                <SubmitOrCancel submit="Save" on_cancel=move || editing.set(false) />
            </ActionForm>
        </Modal>
    }
}

/// Where, how fast, when and how long: the fields both copy target forms share.
#[component]
fn CopyTargetFields(current: Option<CopyTargetView>) -> impl IntoView {
    let (location, bandwidth_kib, retention, schedule) = match current {
        Some(c) => (Some(c.location), c.bandwidth_kib, c.retention, c.schedule),
        None => (None, None, Retention::default(), None),
    };
    let kind = RwSignal::new(match location {
        Some(CopyLocation::Path { .. }) => "path",
        _ => "s3",
    });
    let had_secret = matches!(location, Some(CopyLocation::S3 { .. }));
    let s3 = |pick: fn(&CopyLocation) -> Option<String>| location.as_ref().and_then(pick).unwrap_or_default();
    let endpoint = s3(|l| match l {
        CopyLocation::S3 { endpoint, .. } => Some(endpoint.clone()),
        _ => None,
    });
    let bucket = s3(|l| match l {
        CopyLocation::S3 { bucket, .. } => Some(bucket.clone()),
        _ => None,
    });
    let prefix = s3(|l| match l {
        CopyLocation::S3 { prefix, .. } => Some(prefix.clone()),
        _ => None,
    });
    let region = s3(|l| match l {
        CopyLocation::S3 { region, .. } => Some(region.clone()),
        _ => None,
    });
    let access_key_id = s3(|l| match l {
        CopyLocation::S3 { access_key_id, .. } => Some(access_key_id.clone()),
        _ => None,
    });
    let path = s3(|l| match l {
        CopyLocation::Path { path } => Some(path.clone()),
        _ => None,
    });
    view! {
        <label>"Copy to"
            <select name="location[kind]" on:change=move |ev| kind.set(if event_target_value(&ev) == "path" { "path" } else { "s3" })>
                <option value="s3" selected=move || kind.get() == "s3">"An S3-compatible bucket"</option>
                <option value="path" selected=move || kind.get() == "path">"A directory on another volume"</option>
            </select>
        </label>
        <div hidden=move || kind.get() != "s3">
            <label>"Endpoint" <input name="location[endpoint]" value=endpoint placeholder="https://s3.eu-central-1.amazonaws.com" /></label>
            <label>"Bucket" <input name="location[bucket]" value=bucket /></label>
            <label>"Prefix (optional)" <input name="location[prefix]" value=prefix placeholder="backplane/appliance-1" /></label>
            <label>"Region (optional)" <input name="location[region]" value=region placeholder="us-east-1" /></label>
            <label>"Access key ID" <input name="location[access_key_id]" value=access_key_id autocomplete="off" /></label>
            <label>{if had_secret { "Secret access key (leave empty to keep the stored one)" } else { "Secret access key" }}
                <input type="password" name="location[secret_access_key]" autocomplete="new-password" />
            </label>
            <label>"Bandwidth limit in KiB/s (empty: unlimited)"
                <input type="number" min="64" name="bandwidth_kib" inputmode="numeric" value=bandwidth_kib.map(|k| k.to_string()).unwrap_or_default() />
            </label>
        </div>
        <div hidden=move || kind.get() != "path">
            <label>"Directory on the appliance" <input name="location[path]" value=path placeholder="/mnt/offsite" /></label>
        </div>
        <CopyWhen schedule />
        <RetentionFields current=retention applied="Applied to the copies on the target after each copy." />
    }
}

/// Organization page → Backup copies: the target of its appliances that have none of their
/// own (each in a repository of its own under it), and of appliances registered later.
#[component]
pub fn OrganizationCopyTargetSection(organization_id: i64, may_manage: bool) -> impl IntoView {
    let editing = RwSignal::new(false);
    let set = ServerAction::<SetOrganizationCopyTarget>::new();
    let remove = ServerAction::<RemoveOrganizationCopyTarget>::new();
    let target = Resource::new(
        move || (set.version().get(), remove.version().get()),
        move |_| get_organization_copy_target(organization_id),
    );
    Effect::new(move || {
        if let Some(Ok(_)) = set.value().get() {
            editing.set(false);
        }
    });
    let feedback = move || {
        let sent = set
            .value()
            .get()
            .and_then(Result::ok)
            .map(|n| format!("Sent to {n} appliance{}.", plural(n)));
        let stopped = remove
            .value()
            .get()
            .and_then(Result::ok)
            .map(|n| format!("{n} appliance{} stopped copying.", plural(n)));
        sent.or(stopped)
            .map(|text| view! { <p class="command-feedback" role="status">{text}</p> })
    };
    view! {
        <section class="copy-target" aria-labelledby="org-copy-target-title">
            <h2 id="org-copy-target-title">"Backup copies"</h2>
            <p class="muted small">"For each appliance of this organization without a copy target of its own, and each one registered later: every appliance copies into a repository of its own under this location (appliance-<id>)."</p>
            {feedback}
            {action_error(remove.value())}
            <Transition fallback=Loading>
                {move || target.get().map(|result| match result {
                    Ok(current) => {
                        let for_form = current.clone();
                        view! {
                            <CopyTargetSummary current=current.clone() />
                            {may_manage.then(|| view! {
                                <div class="actions">
                                    <button type="button" on:click=move |_| editing.set(true)>
                                        {if current.is_some() { "Edit copy target" } else { "Set copy target" }}
                                    </button>
                                    {current.is_some().then(|| view! {
                                        <button type="button" class="danger"
                                            on:click=move |_| { remove.dispatch(RemoveOrganizationCopyTarget { organization_id }); }>"Stop copies"</button>
                                    })}
                                </div>
                            })}
                            {move || editing.get().then(|| {
                                let current = for_form.clone();
                                view! {
                                    <Modal label="Copy target" on_close=move || editing.set(false)>
                                        <h2>"Copy this organization's recovery points offsite"</h2>
                                        <ActionForm action=set>
                                            <input type="hidden" name="organization_id" value=organization_id />
                                            <CopyTargetFields current />
                                            {action_error(set.value())}
                                            <SubmitOrCancel submit="Save" on_cancel=move || editing.set(false) />
                                        </ActionForm>
                                    </Modal>
                                }
                            })}
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// When to copy: after each good backup, or on a schedule of the copies' own.
#[component]
fn CopyWhen(schedule: Option<Schedule>) -> impl IntoView {
    let scheduled = RwSignal::new(schedule.is_some());
    let current = schedule.unwrap_or(Schedule {
        frequency: Frequency::Daily,
        exclude_weekends: false,
        start_date: String::new(),
        start_time: String::new(),
    });
    let frequency = current.frequency;
    view! {
        <label>"When"
            <select name="copy[when]" on:change=move |ev| scheduled.set(event_target_value(&ev) == "schedule")>
                <option value="after_backup" selected=move || !scheduled.get()>"After each good backup"</option>
                <option value="schedule" selected=move || scheduled.get()>"On a schedule of its own"</option>
            </select>
        </label>
        <div hidden=move || !scheduled.get()>
            <label>"Copy schedule"
                <select name="copy[frequency]">
                    {Frequency::ALL.into_iter().map(|f| view! { <option value=f.as_str() selected=f == frequency>{f.label()}</option> }).collect_view()}
                </select>
            </label>
            <label class="check"><input type="checkbox" name="copy[exclude_weekends]" value="on" checked=current.exclude_weekends />" Exclude weekends"</label>
            <label>"Start date" <input type="date" name="copy[start_date]" value=current.start_date required=move || scheduled.get() /></label>
            <label>"Start time" <input type="time" name="copy[start_time]" value=current.start_time required=move || scheduled.get() /></label>
            <p class="muted small">"In the appliance's time zone. Each scheduled copy copies everything the target lacks."</p>
        </div>
    }
}
