use leptos::prelude::*;
use leptos_meta::Title;
use model::auth::SessionView;
use model::lists::{UserSort, UsersQuery};
use model::tenancy::{Scope, UserState, UserSummary};
use model::{Action, Role};

use super::api::{
    InviteUser, ResendActivation, ResetUser2fa, SetUserEnabled, SetUserPassword, UpdateUserAccess, list_users,
};
use crate::components::{
    DefaultSort, ListText, Loading, Modal, NewPasswordFields, SubmitOrCancel, action_error, format_time,
    paged_list, sort_header,
};
use crate::organizations::api::list_scopes;

#[derive(Clone, PartialEq)]
enum Dialog {
    Closed,
    Invite,
    Edit(UserSummary),
    Password(UserSummary),
}

/// The actions of the page, shared by rows and dialogs; any success reloads the list.
#[derive(Clone, Copy)]
struct UserActions {
    invite: ServerAction<InviteUser>,
    access: ServerAction<UpdateUserAccess>,
    enabled: ServerAction<SetUserEnabled>,
    reset: ServerAction<ResetUser2fa>,
    password: ServerAction<SetUserPassword>,
    resend: ServerAction<ResendActivation>,
}

impl UserActions {
    fn new() -> Self {
        Self {
            invite: ServerAction::new(),
            access: ServerAction::new(),
            enabled: ServerAction::new(),
            reset: ServerAction::new(),
            password: ServerAction::new(),
            resend: ServerAction::new(),
        }
    }

    fn version(&self) -> (usize, usize, usize, usize, usize, usize) {
        (
            self.invite.version().get(),
            self.access.version().get(),
            self.enabled.version().get(),
            self.reset.version().get(),
            self.password.version().get(),
            self.resend.version().get(),
        )
    }
}

/// Settings → Users: the users of the viewer's scopes, with invite, edit, disable/enable,
/// reset 2FA, set password and resend activation.
#[component]
pub fn UsersPage() -> impl IntoView {
    let me = use_context::<SessionView>();
    let may_manage_superusers = me.as_ref().is_some_and(|s| s.role.can(Action::ManageSuperusers));
    let actions = UserActions::new();
    let dialog = RwSignal::new(Dialog::Closed);
    let query = leptos_router::hooks::use_query_map();
    let users = Resource::new(
        move || (actions.version(), query.get()),
        |(_, q)| list_users(UsersQuery::from_url(&|key: &str| q.get(key))),
    );
    let scopes = Resource::new(|| (), |_| list_scopes());
    let header = move |sort: UserSort, label| {
        let by_email = DefaultSort {
            key: UserSort::Email.as_str(),
            descending: false,
        };
        sort_header(
            "/settings/users",
            &query.get_untracked(),
            by_email,
            sort.as_str(),
            label,
        )
    };
    Effect::new(move || {
        let saved = matches!(actions.invite.value().get(), Some(Ok(())))
            || matches!(actions.access.value().get(), Some(Ok(())))
            || matches!(actions.password.value().get(), Some(Ok(())));
        if saved {
            dialog.set(Dialog::Closed);
        }
    });
    view! {
        <Title text="Users · Backplane" />
        <div class="page-head">
            <h1>"Users"</h1>
            <button type="button" class="primary" on:click=move |_| dialog.set(Dialog::Invite)>"+ New"</button>
        </div>
        {action_error(actions.enabled.value())}
        {action_error(actions.reset.value())}
        {action_error(actions.resend.value())}
        <Suspense fallback=Loading>
            {move || scopes.get().map(|scopes| {
                let scopes = scopes.unwrap_or_default();
                move || match dialog.get() {
                    Dialog::Closed => None,
                    Dialog::Invite => Some(view! { <AccessForm user=None scopes=scopes.clone() may_manage_superusers actions dialog /> }.into_any()),
                    Dialog::Edit(user) => Some(view! { <AccessForm user=Some(user) scopes=scopes.clone() may_manage_superusers actions dialog /> }.into_any()),
                    Dialog::Password(user) => Some(view! { <PasswordForm user actions dialog /> }.into_any()),
                }
            })}
        </Suspense>
        <Transition fallback=Loading>
            {move || users.get().map(|result| {
                let text = ListText { path: "/settings/users".into(), empty: "No users match.", capped_at: None };
                paged_list(result, text, |users| view! {
                    <div class="table-wrap">
                        <table class="list">
                            <thead><tr>
                                {header(UserSort::Email, "Email")}{header(UserSort::Role, "Role")}<th>"Scopes"</th>
                                {header(UserSort::Status, "Status")}{header(UserSort::LastSeen, "Last seen")}
                                <th><span class="sr-only">"Actions"</span></th>
                            </tr></thead>
                            <tbody>
                                {users.into_iter().map(|user| view! { <UserRow user may_manage_superusers actions dialog /> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })
            })}
        </Transition>
    }
}

fn confirmed(question: &str) -> bool {
    window().confirm_with_message(question).unwrap_or(false)
}

#[component]
fn UserRow(
    user: UserSummary,
    may_manage_superusers: bool,
    actions: UserActions,
    dialog: RwSignal<Dialog>,
) -> impl IntoView {
    let id = user.id;
    let scopes = if user.role == Role::Superuser || user.global_scope {
        "Global Scope".to_owned()
    } else {
        user.scopes
            .iter()
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let read_only = user.role == Role::Superuser && !may_manage_superusers;
    let (edit, password) = (user.clone(), user.clone());
    let buttons = match (read_only, user.status) {
        (true, _) => view! { <span class="muted">"Read only"</span> }.into_any(),
        (false, UserState::Active) => view! {
            <button type="button" on:click=move |_| dialog.set(Dialog::Edit(edit.clone()))>"Edit"</button>
            <button type="button" on:click=move |_| dialog.set(Dialog::Password(password.clone()))>"Set password"</button>
            <button type="button" on:click=move |_| if confirmed("Reset this user's two-factor authentication? They enrol again at next login.") {
                actions.reset.dispatch(ResetUser2fa { id });
            }>"Reset 2FA"</button>
            <button type="button" class="danger" on:click=move |_| if confirmed("Disable this user? Their sessions end at once.") {
                actions.enabled.dispatch(SetUserEnabled { id, enabled: false });
            }>"Disable"</button>
        }.into_any(),
        (false, UserState::Disabled) => view! {
            <button type="button" on:click=move |_| if confirmed("Enable this user?") {
                actions.enabled.dispatch(SetUserEnabled { id, enabled: true });
            }>"Enable"</button>
        }.into_any(),
        (false, UserState::PendingActivation) => view! {
            <button type="button" on:click=move |_| { actions.resend.dispatch(ResendActivation { id }); }>"Resend activation"</button>
            <button type="button" on:click=move |_| dialog.set(Dialog::Edit(edit.clone()))>"Edit"</button>
        }.into_any(),
    };
    let last_seen = user
        .last_seen_at
        .map(format_time)
        .unwrap_or_else(|| "Never".into());
    let status = if user.second_factor_locked {
        format!("{} · 2FA locked", user.status.label())
    } else {
        user.status.label().to_owned()
    };
    view! {
        <tr data-email=user.email.clone()>
            <td>{user.email.clone()}</td>
            <td>{user.role.label()}</td>
            <td>{scopes}</td>
            <td>{status}</td>
            <td>{last_seen}</td>
            <td class="row-actions">{buttons}</td>
        </tr>
    }
}

/// Invite (no user) or edit role and scopes. The scope choices are hidden for Superusers.
#[component]
fn AccessForm(
    user: Option<UserSummary>,
    scopes: Vec<Scope>,
    may_manage_superusers: bool,
    actions: UserActions,
    dialog: RwSignal<Dialog>,
) -> impl IntoView {
    let role = RwSignal::new(user.as_ref().map_or(Role::Monitor, |u| u.role));
    let held: Vec<i64> = user
        .as_ref()
        .map(|u| u.scopes.iter().map(|(id, _)| *id).collect())
        .unwrap_or_default();
    let global = user.as_ref().is_some_and(|u| u.global_scope);
    let roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| *r != Role::Superuser || may_manage_superusers)
        .collect();
    let fields = view! {
        <label>"Role"
            <select name="role" on:change=move |ev| role.set(Role::parse(&event_target_value(&ev).to_lowercase()).unwrap_or(Role::Monitor))>
                {roles.into_iter().map(|r| view! { <option value=format!("{r:?}") selected=role.get_untracked() == r>{r.label()}</option> }).collect_view()}
            </select>
        </label>
        <p class="hint">{move || role_description(role.get())}</p>
        <fieldset class="scopes" hidden=move || role.get() == Role::Superuser>
            <legend>"Scopes"</legend>
            <label class="switch"><input type="checkbox" name="global_scope" value="true" checked=global />"Global Scope (every scope, also future ones)"</label>
            {scopes.into_iter().enumerate().map(|(i, s)| view! {
                <label class="switch"><input type="checkbox" name=format!("scope_ids[{i}]") value=s.id checked=held.contains(&s.id) />{s.name}</label>
            }).collect_view()}
        </fieldset>
    };
    match user {
        None => view! {
            <Modal label="New user" on_close=move || dialog.set(Dialog::Closed)>
                <h2>"New user"</h2>
                <p class="muted">"They get an e-mail with an activation link valid for 48 hours."</p>
                <ActionForm action=actions.invite>
                    <label>"Email" <input type="email" name="email" required /></label>
                    {fields}
                    {action_error(actions.invite.value())}
                    <SubmitOrCancel on_cancel=move || dialog.set(Dialog::Closed) />
                </ActionForm>
            </Modal>
        }
        .into_any(),
        Some(user) => view! {
            <Modal label="Edit user" on_close=move || dialog.set(Dialog::Closed)>
                <h2>{format!("Edit {}", user.email)}</h2>
                <ActionForm action=actions.access>
                    <input type="hidden" name="id" value=user.id />
                    {fields}
                    {action_error(actions.access.value())}
                    <SubmitOrCancel on_cancel=move || dialog.set(Dialog::Closed) />
                </ActionForm>
            </Modal>
        }
        .into_any(),
    }
}

fn role_description(role: Role) -> &'static str {
    match role {
        Role::Superuser => "Everything, in every scope, including integrations, scopes and other Superusers.",
        Role::Admin => {
            "Most operations inside their scopes, including users other than Superusers; no scopes or integrations."
        }
        Role::Manage => "Everything Monitor can do, plus starting backups and changing retention.",
        Role::Monitor => "Read-only access inside their scopes.",
    }
}

#[component]
fn PasswordForm(user: UserSummary, actions: UserActions, dialog: RwSignal<Dialog>) -> impl IntoView {
    view! {
        <Modal label="Set password" on_close=move || dialog.set(Dialog::Closed)>
            <h2>{format!("Set a password for {}", user.email)}</h2>
            <ActionForm action=actions.password>
                <input type="hidden" name="id" value=user.id />
                <NewPasswordFields />
                {action_error(actions.password.value())}
                <SubmitOrCancel on_cancel=move || dialog.set(Dialog::Closed) />
            </ActionForm>
        </Modal>
    }
}
