use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use model::auth::{LinkPurpose, LoginStep};

use super::api::{ForgotPassword, SetPasswordFromLink, link_status, login_state, whoami};
use super::login::AuthCard;
use crate::components::{ErrorBox, Loading, NewPasswordFields, action_error};

/// "Forgot password": homerealm and e-mail; a neutral answer either way.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    // Pre-fills what is known: the signed-in user's homerealm and e-mail (from the user menu),
    // or the homerealm when the server hosts one instance.
    let known = Resource::new(
        || (),
        |_| async {
            if let Ok(Some(me)) = whoami().await {
                return (me.homerealm, me.email);
            }
            match login_state(None, None).await {
                Ok(LoginStep::Credentials { homerealm, .. }) => (homerealm, String::new()),
                _ => Default::default(),
            }
        },
    );
    let action = ServerAction::<ForgotPassword>::new();
    view! {
        <AuthCard title="Forgot password">
            <h1>"Reset your password"</h1>
            {move || match action.value().get() {
                Some(Ok(())) => view! {
                    <p role="status">"If that e-mail address has an account on that homerealm, a reset link is on its way. It works once, for one hour."</p>
                    <p><a href="/login">"Back to Login"</a></p>
                }.into_any(),
                _ => view! {
                    <ActionForm action>
                        <Suspense fallback=Loading>
                            {move || known.get().map(|(homerealm, email)| view! {
                                <label>"Homerealm" <input name="homerealm" required value=homerealm /></label>
                                <label>"E-mail"
                                    <input type="email" name="email" required autocomplete="username" value=email />
                                </label>
                            })}
                        </Suspense>
                        {action_error(action.value())}
                        <button type="submit" class="primary" disabled=action.pending()>"Reset"</button>
                    </ActionForm>
                    <p><a href="/login">"Back to Login"</a></p>
                }.into_any(),
            }}
        </AuthCard>
    }
}

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    view! { <SetPasswordPage purpose=LinkPurpose::PasswordReset /> }
}

#[component]
pub fn ActivatePage() -> impl IntoView {
    view! { <SetPasswordPage purpose=LinkPurpose::Activation /> }
}

/// The form behind an e-mailed link: new password twice.
#[component]
fn SetPasswordPage(purpose: LinkPurpose) -> impl IntoView {
    let query = use_query_map();
    let token = move || query.get().get("token").unwrap_or_default();
    let status = Resource::new(token, move |token| link_status(purpose, token));
    let action = ServerAction::<SetPasswordFromLink>::new();
    let title = match purpose {
        LinkPurpose::Activation => "Activate your account",
        LinkPurpose::PasswordReset => "Set a new password",
    };
    view! {
        <AuthCard title>
            <h1>{title}</h1>
            <Suspense fallback=Loading>
                {move || status.get().map(|status| match (status, action.value().get()) {
                    (_, Some(Ok(()))) => view! {
                        <p role="status">"Your password is set."</p>
                        <p><a class="button primary" href="/login">"Back to Login"</a></p>
                    }.into_any(),
                    (Err(error), _) => view! { <ErrorBox error /> }.into_any(),
                    (Ok(()), _) => view! {
                        <ActionForm action>
                            <input type="hidden" name="token" value=token() />
                            <input type="hidden" name="purpose" value=format!("{purpose:?}") />
                            <NewPasswordFields />
                            {action_error(action.value())}
                            <button type="submit" class="primary" disabled=action.pending()>"Set password"</button>
                        </ActionForm>
                    }.into_any(),
                })}
            </Suspense>
        </AuthCard>
    }
}
