use leptos::prelude::*;
use model::auth::RecoveryCodes;

use super::api::{EnrolConfirm, enrol_begin};
use crate::components::{ErrorBox, Loading, action_error, load_page};

/// First-time authenticator set-up: scan (or type) the secret, confirm with a code, then keep
/// the recovery codes.
#[component]
pub fn Enrolment(email: String) -> impl IntoView {
    let enrolment = Resource::new(|| (), |_| enrol_begin());
    let confirm = ServerAction::<EnrolConfirm>::new();
    let show_secret = RwSignal::new(false);
    view! {
        {move || match confirm.value().get() {
            Some(Ok(codes)) => view! { <RecoveryCodesView codes email=email.clone() /> }.into_any(),
            _ => view! {
                <h1>"Set up two-factor authentication"</h1>
                <p>"Scan this QR code with an authenticator app, then enter the 6-digit code it shows."</p>
                <Suspense fallback=Loading>
                    {move || enrolment.get().map(|result| match result {
                        Ok(e) => view! {
                            <div class="qr" inner_html=e.qr_svg.clone()></div>
                            <button type="button" class="link" on:click=move |_| show_secret.set(true)>"Can't scan?"</button>
                            <Show when=move || show_secret.get()>
                                <p>"Enter this secret in your app (time-based, 6 digits, 30 seconds):"</p>
                                <code class="secret" data-testid="totp-secret">{e.secret.clone()}</code>
                            </Show>
                        }.into_any(),
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    })}
                </Suspense>
                <ActionForm action=confirm>
                    <label>"Code" <input name="code" required inputmode="numeric" autocomplete="one-time-code" /></label>
                    {action_error(confirm.value())}
                    <button type="submit" class="primary" disabled=confirm.pending()>"Next"</button>
                </ActionForm>
            }.into_any(),
        }}
    }
}

/// The recovery codes, shown once, with copy and download.
#[component]
fn RecoveryCodesView(codes: RecoveryCodes, email: String) -> impl IntoView {
    let text = codes.as_text(&email);
    let download = format!("data:text/plain;charset=utf-8,{}", percent_encode(&text));
    let copied = RwSignal::new(false);
    let copy = move |_| {
        let clipboard = window().navigator().clipboard();
        let _ = clipboard.write_text(&text);
        copied.set(true);
    };
    view! {
        <h1>"Recovery codes"</h1>
        <p>"Keep these codes somewhere safe. Each one signs you in once if you lose your authenticator. They are shown only now."</p>
        <ol class="recovery-codes" data-testid="recovery-codes">
            {codes.codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
        </ol>
        <div class="actions">
            <button type="button" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
            <a class="button" href=download download="backplane-recovery-codes.txt">"Download"</a>
            <button type="button" class="primary" on:click=|_| load_page("/")>"Save & Done"</button>
        </div>
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
