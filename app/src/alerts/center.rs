//! The Alert Center: the bell in the top bar with the unresolved count, and the Notifications
//! panel it opens: groups by kind and organization, their members, and dismissal by role.

use leptos::prelude::*;
use model::Action;
use model::alerts::{AlertGroup, AlertKind, AlertView};
use model::auth::SessionView;

use super::AlertPanelOpen;
use super::api::{
    DismissAlert, DismissAll, DismissGroup, DismissMatching, alert_count, alert_groups, alert_members,
};
use crate::components::{ErrorBox, Icon, LocalTime, Modal, action_error, href_with, icon};
use crate::live::use_live;
use crate::organizations::api::list_scopes;
use crate::organizations::{OrgChoice, OrganizationPicker, initial_choice};
use crate::protect::AssetDrawer;

/// The bell: the number of unresolved alerts the user may see; opens and closes the panel.
///
/// The count is read only inside the bell's own `Transition`: a read directly under the
/// layout's `Suspense` would tie that boundary to a resource its every re-check creates anew,
/// and server rendering would loop.
#[component]
pub fn AlertBell() -> impl IntoView {
    let live = use_live();
    let AlertPanelOpen(open) = expect_context::<AlertPanelOpen>();
    let count = Resource::new(move || live.alerts.get(), |_| alert_count());
    let drawer = RwSignal::new(None::<i64>);
    provide_context(AssetOfAlert(drawer));
    view! {
        <Transition fallback=move || view! { <BellButton number=None open /> }>
            {move || count.get().map(|result| view! { <BellButton number=result.ok() open /> })}
        </Transition>
        <Show when=move || open.get()>
            <AlertPanel />
        </Show>
        {move || drawer.get().map(|asset_id| view! { <AssetDrawer asset_id on_close=move || drawer.set(None) /> })}
    }
}

/// The asset whose drawer an alert opened (the panel closes for it).
#[derive(Clone, Copy)]
struct AssetOfAlert(RwSignal<Option<i64>>);

#[component]
fn BellButton(number: Option<i64>, open: RwSignal<bool>) -> impl IntoView {
    let count = number.unwrap_or(0);
    view! {
        <button type="button" class="bell" class:alarm={count > 0}
            data-alert-count=number
            aria-label=format!("Alert Center: {count} unresolved")
            aria-expanded=move || open.get().to_string()
            on:click=move |_| open.update(|o| *o = !*o)>
            {icon(Icon::Bell)}
            <span class="count">{number}</span>
        </button>
    }
}

/// Who may do what in the panel.
#[derive(Clone, Copy)]
struct Powers {
    dismiss_one: bool,
    dismiss_groups: bool,
    bulk: bool,
    settings: bool,
}

impl Powers {
    fn of(session: Option<SessionView>) -> Powers {
        let can = |action| session.as_ref().is_some_and(|s| s.role.can(action));
        Powers {
            dismiss_one: can(Action::DismissAlert),
            dismiss_groups: can(Action::DismissAlertGroups),
            bulk: can(Action::BulkDismissAlerts),
            settings: can(Action::ManageAlertSettings),
        }
    }
}

#[derive(Clone, Copy)]
struct Dismissals {
    one: ServerAction<DismissAlert>,
    group: ServerAction<DismissGroup>,
    all: ServerAction<DismissAll>,
    matching: ServerAction<DismissMatching>,
}

#[component]
fn AlertPanel() -> impl IntoView {
    let live = use_live();
    let AlertPanelOpen(open) = expect_context::<AlertPanelOpen>();
    let powers = Powers::of(use_context::<SessionView>());
    let dismissals = Dismissals {
        one: ServerAction::new(),
        group: ServerAction::new(),
        all: ServerAction::new(),
        matching: ServerAction::new(),
    };
    let organization = RwSignal::new(None::<i64>);
    let scope = RwSignal::new(None::<i64>);
    let filtering = RwSignal::new(false);
    let groups = Resource::new(
        move || (live.alerts.get(), organization.get(), scope.get()),
        |(_, organization, scope)| alert_groups(organization, scope),
    );
    let clear_all = move |_| {
        if window()
            .confirm_with_message(
                "Dismiss every alert you can see? Alerts whose condition still holds come back.",
            )
            .unwrap_or(false)
        {
            dismissals.all.dispatch(DismissAll {});
        }
    };
    view! {
        <Modal label="Notifications" class="drawer alert-panel" on_close=move || open.set(false)>
            <header>
                <h2>"Notifications"</h2>
                <button type="button" aria-label="Filter" aria-pressed=move || filtering.get().to_string()
                    on:click=move |_| filtering.update(|f| *f = !*f)>"Filter"</button>
                {powers.settings.then(|| view! {
                    <a href="/settings/alarms" aria-label="Conditional alarm settings" on:click=move |_| open.set(false)>{icon(Icon::Settings)}</a>
                })}
                {powers.dismiss_groups.then(|| view! {
                    <button type="button" class="danger" on:click=clear_all>"Clear all"</button>
                })}
                <button type="button" aria-label="Close" on:click=move |_| open.set(false)>{icon(Icon::Close)}</button>
            </header>
            <Show when=move || filtering.get()>
                <FilterPanel organization scope bulk=powers.bulk matching=dismissals.matching close=filtering />
            </Show>
            {action_error(dismissals.one.value())}
            {action_error(dismissals.group.value())}
            {action_error(dismissals.all.value())}
            {action_error(dismissals.matching.value())}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || groups.get().map(|result| match result {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No unresolved alerts."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="alert-groups">
                            {list.into_iter().map(|group| view! { <Group group powers dismissals /> }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                })}
            </Transition>
        </Modal>
    }
}

/// Organization and Scope; "All" in both clears. Superusers dismiss what matches.
#[component]
fn FilterPanel(
    organization: RwSignal<Option<i64>>,
    scope: RwSignal<Option<i64>>,
    bulk: bool,
    matching: ServerAction<DismissMatching>,
    close: RwSignal<bool>,
) -> impl IntoView {
    let scopes = Resource::new(|| (), |_| list_scopes());
    let initial = initial_choice(organization.get_untracked());
    let on_pick = Callback::new(move |choice: Option<OrgChoice>| organization.set(choice.map(|c| c.id)));
    let parse = |value: String| value.parse::<i64>().ok();
    let dismiss = move |_| {
        if window()
            .confirm_with_message("Dismiss every alert of this organization and scope?")
            .unwrap_or(false)
        {
            matching.dispatch(DismissMatching {
                organization: organization.get_untracked(),
                scope: scope.get_untracked(),
            });
        }
    };
    view! {
        <div class="alert-filter">
            <Suspense fallback=|| ()>
                {move || {
                    let scopes = scopes.get().and_then(Result::ok).unwrap_or_default();
                    view! {
                        <label class="picker-label">"Organization"
                            {initial.get().map(|initial| view! {
                                <OrganizationPicker label="Organization" on_pick placeholder="All — type to search" initial />
                            })}
                        </label>
                        <label>"Scope"
                            <select on:change=move |ev| scope.set(parse(event_target_value(&ev)))>
                                <option value="">"All"</option>
                                {scopes.into_iter().map(|s| view! {
                                    <option value=s.id selected=scope.get_untracked() == Some(s.id)>{s.name}</option>
                                }).collect_view()}
                            </select>
                        </label>
                    }
                }}
            </Suspense>
            {bulk.then(|| view! {
                <button type="button" class="danger"
                    disabled=move || organization.get().is_none() && scope.get().is_none()
                    on:click=dismiss>"Dismiss"</button>
            })}
            <button type="button" aria-label="Close filter" on:click=move |_| close.set(false)>{icon(Icon::Close)}</button>
        </div>
    }
}

#[component]
fn Group(group: AlertGroup, powers: Powers, dismissals: Dismissals) -> impl IntoView {
    let expanded = RwSignal::new(false);
    let kind = group.kind;
    let organization_id = group.organization_id;
    if let Some(alert) = group.single.clone() {
        return view! {
            <li class="alert-group single" data-kind=kind.as_str() data-organization=organization_id>
                <Alert alert powers dismissals />
            </li>
        }
        .into_any();
    }
    let dismiss_group = move |_| {
        if window()
            .confirm_with_message("Dismiss every alert of this group?")
            .unwrap_or(false)
        {
            dismissals.group.dispatch(DismissGroup {
                kind,
                organization_id,
            });
        }
    };
    view! {
        <li class="alert-group" data-kind=kind.as_str() data-organization=organization_id>
            <div class="group-head">
                <button type="button" class="link" aria-expanded=move || expanded.get().to_string()
                    on:click=move |_| expanded.update(|e| *e = !*e)>
                    <strong>{group.title.clone()}</strong>
                </button>
                <span class="muted">{format!("{} grouped · {}", group.count, group.organization_name)}</span>
                <LocalTime unix_ms=group.latest_at />
                {powers.dismiss_groups.then(|| view! {
                    <button type="button" class="dismiss" aria-label="Dismiss group" on:click=dismiss_group>{icon(Icon::Close)}</button>
                })}
            </div>
            <Show when=move || expanded.get()>
                <Members kind organization_id powers dismissals />
            </Show>
        </li>
    }
    .into_any()
}

#[component]
fn Members(kind: AlertKind, organization_id: i64, powers: Powers, dismissals: Dismissals) -> impl IntoView {
    let live = use_live();
    let members = Resource::new(
        move || live.alerts.get(),
        move |_| alert_members(kind, organization_id),
    );
    view! {
        <Transition fallback=|| ()>
            {move || members.get().map(|result| match result {
                Ok(list) => view! {
                    <ul class="alert-members">
                        {list.into_iter().map(|alert| view! { <li><Alert alert powers dismissals /></li> }).collect_view()}
                    </ul>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Alert(alert: AlertView, powers: Powers, dismissals: Dismissals) -> impl IntoView {
    let id = alert.id;
    let AlertPanelOpen(panel) = expect_context::<AlertPanelOpen>();
    let drawer = use_context::<AssetOfAlert>();
    let open_drawer = move |asset_id: i64| {
        if let Some(AssetOfAlert(drawer)) = drawer {
            panel.set(false);
            drawer.set(Some(asset_id));
        }
    };
    let appliance_link = alert.appliance_id.map(|a| format!("/protect/appliances/{a}"));
    view! {
        <div class="alert" data-alert=id data-severity=format!("{:?}", alert.severity).to_lowercase()>
            <p class="message">{alert.message.clone()}</p>
            <p class="context">
                <LocalTime unix_ms=alert.raised_at />
                " · "
                <a href=href_with("/organizations", &Default::default(), &[("name", Some(alert.organization_name.clone()))])>
                    {alert.organization_name.clone()}
                </a>
                {alert.appliance_name.clone().zip(appliance_link.clone()).map(|(name, href)| view! {
                    " · Appliance " <a href=href>{name}</a>
                })}
                {alert.asset_name.clone().zip(alert.asset_id).map(|(name, asset_id)| view! {
                    " · Asset " <button type="button" class="link" on:click=move |_| open_drawer(asset_id)>{name}</button>
                })}
            </p>
            {powers.dismiss_one.then(|| view! {
                <button type="button" class="dismiss" aria-label="Dismiss"
                    on:click=move |_| { dismissals.one.dispatch(DismissAlert { id }); }>{icon(Icon::Close)}</button>
            })}
        </div>
    }
}
