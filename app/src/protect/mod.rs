//! Protect: the appliances that report to this instance, their assets, jobs and commands.

pub mod api;
mod appliances;
mod assets;
mod detail;
pub mod policy_api;

pub use appliances::ProtectPage;
pub use assets::AssetsPage;
pub use detail::ApplianceDetailPage;

use leptos::prelude::*;

/// Appliances | Assets.
#[component]
fn ProtectTabs(current: &'static str) -> impl IntoView {
    let tab = move |href: &'static str, label: &'static str| {
        let here = href == current;
        view! { <a href=href class:active=here aria-current=here.then_some("page")>{label}</a> }
    };
    view! {
        <nav class="tabs" aria-label="Protect">
            {tab("/protect", "Appliances")}
            {tab("/protect/assets", "Assets")}
        </nav>
    }
}
