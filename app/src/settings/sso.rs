//! Settings → Integrations → KaseyaOne and → OpenID Connect (Superusers): a card per provider
//! kind with its issuer and client, the login mode and its exceptions, automatic user creation,
//! whether the provider's login counts as the second factor, the addresses to register at the
//! provider, and Reset.

use leptos::prelude::*;
use model::sso::{SecondFactorSource, SsoForm, SsoKind, SsoMode, SsoSettings};
use model::tenancy::Scope;
use model::{AppError, Role};

use super::api::{ResetSso, SaveSso, sso_settings};
use crate::components::{ErrorBox, Loading, Modal, TypeDeleteToConfirm, action_error, format_time};

fn title(kind: SsoKind) -> &'static str {
    match kind {
        SsoKind::KaseyaOne => "KaseyaOne",
        SsoKind::OpenIdConnect => "OpenID Connect",
    }
}

fn about(kind: SsoKind) -> &'static str {
    match kind {
        SsoKind::KaseyaOne => {
            "Log in with KaseyaOne (Unified Login): technicians sign in with their KaseyaOne username, company, password and 2FA. Use the client ID and secret Kaseya issued for this portal."
        }
        SsoKind::OpenIdConnect => {
            "Any OpenID Connect provider — Microsoft Entra ID, Okta, Google, Keycloak: register this portal as a web application there with the redirect URI below."
        }
    }
}

/// `scopes` is the page's list of scopes (one resource for every card that needs it).
#[component]
pub fn SsoCard(kind: SsoKind, scopes: Resource<Result<Vec<Scope>, AppError>>) -> impl IntoView {
    let save = ServerAction::<SaveSso>::new();
    let reset = ServerAction::<ResetSso>::new();
    // Reloaded only after a save went through: a refused one keeps what the user typed.
    let saved = RwSignal::new(0u32);
    Effect::new(move || {
        if let Some(Ok(_)) = save.value().get() {
            saved.update(|n| *n += 1);
        }
    });
    let current = Resource::new(
        move || (saved.get(), reset.version().get()),
        move |_| sso_settings(kind),
    );
    let heading = format!("sso-{}-title", kind.as_str());
    let labelled_by = heading.clone();
    view! {
        <section class="card" aria-labelledby=labelled_by data-testid=format!("sso-{}", kind.as_str())>
            <h2 id=heading>{title(kind)}</h2>
            <p class="muted">{about(kind)}</p>
            <Transition fallback=Loading>
                {move || match (current.get(), scopes.get()) {
                    (Some(Ok(found)), Some(scopes)) => {
                        let scopes = scopes.unwrap_or_default();
                        view! { <SsoForm kind found scopes save reset /> }.into_any()
                    }
                    (Some(Err(error)), _) => view! { <ErrorBox error /> }.into_any(),
                    _ => view! { <Loading /> }.into_any(),
                }}
            </Transition>
        </section>
    }
}

#[component]
fn SsoForm(
    kind: SsoKind,
    found: Option<SsoSettings>,
    scopes: Vec<Scope>,
    save: ServerAction<SaveSso>,
    reset: ServerAction<ResetSso>,
) -> impl IntoView {
    let stored = found.clone();
    let issuer = RwSignal::new(
        found
            .as_ref()
            .map_or(kind.default_issuer().to_owned(), |f| f.issuer.clone()),
    );
    let client_id = RwSignal::new(found.as_ref().map(|f| f.client_id.clone()).unwrap_or_default());
    let client_secret = RwSignal::new(String::new());
    let mode = RwSignal::new(found.as_ref().map_or(SsoMode::Optional, |f| f.mode));
    let auto_create = RwSignal::new(found.as_ref().is_some_and(|f| f.auto_create));
    let role = RwSignal::new(found.as_ref().map_or(Role::Monitor, |f| f.default_role));
    // "all", a scope's id, or "" (the chosen scope was deleted since: none until chosen again).
    let scope = RwSignal::new(match &found {
        None => "all".to_owned(),
        Some(f) if f.all_organizations => "all".to_owned(),
        Some(f) => f.default_scope_id.map(|id| id.to_string()).unwrap_or_default(),
    });
    let second_factor = RwSignal::new(
        found
            .as_ref()
            .map_or(SecondFactorSource::ProviderWhenAsserted, |f| f.second_factor),
    );
    let exceptions = RwSignal::new(
        found
            .as_ref()
            .map(|f| {
                f.exceptions
                    .iter()
                    .map(|u| u.email.clone())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
    );
    let resetting = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let secret = client_secret.get_untracked();
        save.dispatch(SaveSso {
            provider: kind,
            form: SsoForm {
                issuer: issuer.get_untracked(),
                client_id: client_id.get_untracked(),
                client_secret: (!secret.is_empty()).then_some(secret),
                mode: mode.get_untracked(),
                auto_create: auto_create.get_untracked(),
                default_role: role.get_untracked(),
                all_organizations: scope.get_untracked() == "all",
                default_scope_id: scope.get_untracked().parse().ok(),
                second_factor: second_factor.get_untracked(),
                exceptions: exceptions.get_untracked(),
            },
        });
    };
    let has_secret = found.as_ref().is_some_and(|f| f.has_client_secret);
    view! {
        {stored.clone().map(|s| view! {
            <dl class="facts">
                <dt>"Status"</dt><dd data-testid="sso-status">{format!("{} — {} linked user(s)", s.mode.label(), s.linked_users)}</dd>
                <dt>"Redirect URI"</dt><dd><code>{s.redirect_uri.clone()}</code></dd>
                <dt>"Post-logout redirect URI"</dt><dd><code>{s.post_logout_uri.clone()}</code></dd>
                <dt>"Bypass link"</dt><dd><code data-testid="sso-bypass">{s.bypass_url.clone()}</code></dd>
                <dt>"Changed"</dt><dd>{format!("{} by {}", format_time(s.updated_at), s.updated_by)}</dd>
            </dl>
        })}
        <form on:submit=submit aria-label=format!("{} settings", title(kind))>
            <label>"Issuer URL"
                <input required prop:value=move || issuer.get() on:input=move |ev| issuer.set(event_target_value(&ev))
                    placeholder="https://login.microsoftonline.com/<tenant>/v2.0" />
            </label>
            <label>"Client ID"
                <input required prop:value=move || client_id.get() on:input=move |ev| client_id.set(event_target_value(&ev)) />
            </label>
            <label>"Client secret"
                <input type="password" autocomplete="off" prop:value=move || client_secret.get()
                    on:input=move |ev| client_secret.set(event_target_value(&ev))
                    placeholder=if has_secret { "Unchanged" } else { "None (public client, PKCE only)" } />
            </label>
            <label>"Login mode"
                <select on:change=move |ev| if let Some(m) = SsoMode::parse(&event_target_value(&ev)) { mode.set(m) }>
                    {SsoMode::ALL.into_iter().map(|m| view! {
                        <option value=m.as_str() selected=move || mode.get() == m>{m.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"User exceptions (may log in with a password while required; one e-mail per line)"
                <textarea rows="2" prop:value=move || exceptions.get() on:input=move |ev| exceptions.set(event_target_value(&ev))></textarea>
            </label>
            <label>"Second factor"
                <select on:change=move |ev| if let Some(s) = SecondFactorSource::parse(&event_target_value(&ev)) { second_factor.set(s) }>
                    {SecondFactorSource::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=move || second_factor.get() == s>{s.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label class="checkbox">
                <input type="checkbox" prop:checked=move || auto_create.get() on:change=move |ev| auto_create.set(event_target_checked(&ev)) />
                "Create users at their first sign-in"
            </label>
            <label>"Role of created users"
                <select on:change=move |ev| if let Some(r) = Role::parse(&event_target_value(&ev)) { role.set(r) }>
                    {Role::ALL.into_iter().filter(|r| *r != Role::Superuser).map(|r| view! {
                        <option value=r.as_str() selected=move || role.get() == r>{r.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Scope of created users"
                <select on:change=move |ev| scope.set(event_target_value(&ev))>
                    <option value="" disabled selected=move || scope.get().is_empty()>"Choose a scope…"</option>
                    <option value="all" selected=move || scope.get() == "all">"All organizations"</option>
                    {scopes.into_iter().map(|s| {
                        let id = s.id.to_string();
                        let value = id.clone();
                        view! { <option value=value selected=move || scope.get() == id>{s.name}</option> }
                    }).collect_view()}
                </select>
            </label>
            {move || scope.get().is_empty().then(|| view! {
                <p class="notice" role="status">"The scope chosen for created users was deleted: they get no organizations until you choose one."</p>
            })}
            {action_error(save.value())}
            {move || save.value().get().and_then(Result::ok).map(|_| view! { <p role="status">"Single sign-on saved."</p> })}
            <div class="actions">
                <button type="submit" class="primary" disabled=save.pending()>
                    {move || if save.pending().get() { "Testing…" } else { "Test & Save" }}
                </button>
                {stored.is_some().then(|| view! {
                    <button type="button" class="danger" on:click=move |_| resetting.set(true)>"Reset"</button>
                })}
            </div>
        </form>
        {move || reset.value().get().and_then(Result::ok).map(|disabled| view! {
            <p role="status">{format!("{} was reset; {disabled} user(s) without a password were disabled.", title(kind))}</p>
        })}
        <Show when=move || resetting.get()>
            <Modal label="Reset single sign-on" on_close=move || resetting.set(false)>
                <h2>{format!("Reset {}", title(kind))}</h2>
                <p>"The settings and every user's link are removed. Users who have a portal password keep it; users who could only sign in through this provider are disabled."</p>
                <ActionForm action=reset>
                    <input type="hidden" name="provider" value=format!("{kind:?}") />
                    <TypeDeleteToConfirm />
                    {action_error(reset.value())}
                    <div class="actions">
                        <button type="button" on:click=move |_| resetting.set(false)>"Cancel"</button>
                        <button type="submit" class="danger">"Reset"</button>
                    </div>
                </ActionForm>
            </Modal>
        </Show>
    }
}
