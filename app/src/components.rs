//! Small pieces shared by every area.

use leptos::prelude::*;
use model::AppError;

/// The message of a failed request, announced to screen readers.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let field = error.field().map(str::to_owned);
    view! {
        <p class="error" role="alert" data-field=field>
            {error.to_string()}
        </p>
    }
}

/// The error of an action's last run, if it failed.
pub fn action_error<T, S>(value: S) -> impl IntoView
where
    T: Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    move || match value.get() {
        Some(Err(error)) => Some(view! { <ErrorBox error /> }),
        _ => None,
    }
}

/// Full page load to `path` (after sign-in and sign-out, so every page renders afresh).
pub fn load_page(path: &str) {
    let _ = window().location().assign(path);
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="muted">"Loading…"</p> }
}
