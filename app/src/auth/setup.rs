use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::api::{SetupComplete, setup_status};
use super::enrol::Enrolment;
use super::login::AuthCard;
use crate::components::{ErrorBox, Loading, NewPasswordFields, action_error};

/// First run: the only page a fresh install shows. With the console's token it creates the
/// instance and its Superuser, then enrols their authenticator.
#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.get().get("token").unwrap_or_default();
    let status = Resource::new(token, |token| async move {
        if token.is_empty() {
            None
        } else {
            Some(setup_status(token).await)
        }
    });
    view! {
        <AuthCard title="Setup">
            <Suspense fallback=Loading>
                {move || status.get().map(|status| match status {
                    None => view! {
                        <h1>"Setup required"</h1>
                        <p>"This Backplane server has not been set up yet. Open the one-time setup URL that the server printed on its console when it started."</p>
                    }.into_any(),
                    Some(Err(error)) => view! { <h1>"Setup"</h1> <ErrorBox error /> }.into_any(),
                    Some(Ok(())) => view! { <SetupForm token=token() /> }.into_any(),
                })}
            </Suspense>
        </AuthCard>
    }
}

#[component]
fn SetupForm(token: String) -> impl IntoView {
    let action = ServerAction::<SetupComplete>::new();
    let token = StoredValue::new(token);
    view! {
        {move || match action.value().get() {
            Some(Ok(_)) => {
                let email = action.input().get().map(|i| i.email).unwrap_or_default();
                view! { <Enrolment email /> }.into_any()
            }
            _ => view! {
                <h1>"Set up Backplane"</h1>
                <p>"Create your instance and its first Superuser. The homerealm is the name everyone types when they log in."</p>
                <ActionForm action>
                    <input type="hidden" name="token" value=token.get_value() />
                    <label>"Homerealm" <input name="homerealm" required placeholder="acme-it" autocomplete="off" /></label>
                    <label>"Company name" <input name="display_name" required autocomplete="organization" /></label>
                    <label>"Your e-mail" <input type="email" name="email" required autocomplete="username" /></label>
                    <NewPasswordFields />
                    {action_error(action.value())}
                    <button type="submit" class="primary" disabled=action.pending()>"Create instance"</button>
                </ActionForm>
            }.into_any(),
        }}
    }
}
