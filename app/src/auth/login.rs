use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use model::auth::LoginStep;
use model::sso::{SsoButton, SsoFailure};

use super::api::{LoginHomerealm, LoginPassword, LoginVerify, login_state};
use super::enrol::Enrolment;
use crate::components::{ErrorBox, Loading, action_error, load_page};

/// Homerealm → e-mail and password (or a single sign-on provider) → TOTP or recovery code (or
/// enrolment) → Dashboard. `?homerealm=` skips the first step (consoles link and frame it so),
/// `?bypass=1` keeps the local form while sign-on is required, `?sso_error=` says why a
/// sign-on came back.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let (homerealm, bypass, failure) = query.with_untracked(|q| {
        (
            q.get("homerealm"),
            q.get("bypass").is_some_and(|b| b == "1"),
            q.get("sso_error").and_then(|code| SsoFailure::parse(&code)),
        )
    });
    let state = Resource::new(
        move || (homerealm.clone(), bypass),
        |(homerealm, bypass)| login_state(homerealm, Some(bypass)),
    );
    view! {
        <AuthCard title="Log in">
            {failure.map(|f| view! { <p class="error" role="alert" data-testid="sso-error">{f.message()}</p> })}
            <Suspense fallback=Loading>
                {move || state.get().map(|result| match result {
                    Ok(step) => view! { <LoginFlow initial=step /> }.into_any(),
                    Err(error) => view! { <ErrorBox error /> }.into_any(),
                })}
            </Suspense>
        </AuthCard>
    }
}

/// The centred card of the pages before sign-in.
#[component]
pub fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <main class="auth-page">
            <section class="auth-card" aria-label=title>
                <p class="brand">"Backplane"</p>
                {children()}
            </section>
        </main>
    }
}

#[component]
fn LoginFlow(initial: LoginStep) -> impl IntoView {
    let step = RwSignal::new(initial);
    move || match step.get() {
        LoginStep::Homerealm => view! { <HomerealmForm step /> }.into_any(),
        LoginStep::Credentials {
            homerealm,
            providers,
            required,
        } => match required {
            Some(provider) => view! { <GoToProvider provider /> }.into_any(),
            None => view! { <CredentialsForm homerealm providers step /> }.into_any(),
        },
        LoginStep::SecondFactor { email } => view! { <SecondFactorForm email /> }.into_any(),
        LoginStep::EnrolTotp { email } => view! { <Enrolment email /> }.into_any(),
        LoginStep::Done => {
            Effect::new(|| load_page("/"));
            view! { <p>"Signed in."</p> }.into_any()
        }
    }
}

#[component]
fn HomerealmForm(step: RwSignal<LoginStep>) -> impl IntoView {
    let action = ServerAction::<LoginHomerealm>::new();
    Effect::new(move || {
        if let Some(Ok(next)) = action.value().get() {
            step.set(next);
        }
    });
    view! {
        <h1>"Log in"</h1>
        <ActionForm action>
            <label>"Homerealm" <input name="homerealm" required autofocus autocomplete="organization" /></label>
            {action_error(action.value())}
            <button type="submit" class="primary" disabled=action.pending()>"Next"</button>
        </ActionForm>
    }
}

/// Sign-on is required: straight on to the provider (the link stays for browsers without scripts).
#[component]
fn GoToProvider(provider: SsoButton) -> impl IntoView {
    let url = provider.start_url.clone();
    Effect::new(move || load_page(&url));
    view! {
        <h1>"Log in"</h1>
        <p>"This instance signs in with its identity provider."</p>
        <a class="button primary" rel="external" href=provider.start_url.clone()>{provider.label.clone()}</a>
    }
}

#[component]
fn CredentialsForm(homerealm: String, providers: Vec<SsoButton>, step: RwSignal<LoginStep>) -> impl IntoView {
    let action = ServerAction::<LoginPassword>::new();
    Effect::new(move || {
        if let Some(Ok(next)) = action.value().get() {
            step.set(next);
        }
    });
    view! {
        <h1>"Log in"</h1>
        <p class="muted">"Homerealm " <strong>{homerealm.clone()}</strong></p>
        {(!providers.is_empty()).then(|| view! {
            <div class="sso-buttons">
                {providers.into_iter().map(|p| view! {
                    <a class="button primary" rel="external" href=p.start_url>{p.label}</a>
                }).collect_view()}
            </div>
            <p class="muted divider">"or with your portal credentials"</p>
        })}
        <ActionForm action>
            <input type="hidden" name="homerealm" value=homerealm />
            <label>"E-mail" <input type="email" name="email" required autofocus autocomplete="username" /></label>
            <label>"Password" <input type="password" name="password" required autocomplete="current-password" /></label>
            {action_error(action.value())}
            <button type="submit" class="primary" disabled=action.pending()>"Log In"</button>
        </ActionForm>
        <p><a href="/forgot-password">"Forgot your password?"</a></p>
    }
}

#[component]
fn SecondFactorForm(email: String) -> impl IntoView {
    let action = ServerAction::<LoginVerify>::new();
    Effect::new(move || {
        if let Some(Ok(())) = action.value().get() {
            load_page("/");
        }
    });
    view! {
        <h1>"Two-factor authentication"</h1>
        <p class="muted">{format!("Signing in as {email}.")}</p>
        <ActionForm action>
            <label>
                "Code from your authenticator app, or a recovery code"
                <input name="code" required autofocus autocomplete="one-time-code" inputmode="text" />
            </label>
            {action_error(action.value())}
            <button type="submit" class="primary" disabled=action.pending()>"Verify"</button>
        </ActionForm>
    }
}
