//! The Dashboard (its content arrives with the dashboard issue) and the not-found page.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
fn Section(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <Title text=format!("{title} · Backplane") />
        <h1>{title}</h1>
        {children()}
    }
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    view! {
        <Section title="Dashboard">
            <p class="empty">"No appliances report to this instance yet. Add one under Protect to see its backups here."</p>
        </Section>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="page">
            <h1>"Page not found"</h1>
            <p><a href="/">"Go to the Dashboard"</a></p>
        </main>
    }
}
