//! Protect: the appliances that report to this instance, their assets, jobs and commands.

pub mod api;
mod appliance_panels;
mod appliances;
mod asset_drawer;
mod assets;
pub mod copies;
mod detail;
mod health;
mod organization;
pub mod policy_api;

pub use appliances::ProtectPage;
pub use asset_drawer::AssetDrawer;
pub use assets::AssetsPage;
pub use detail::ApplianceDetailPage;
pub use organization::OrganizationPage;

use leptos::prelude::*;

/// Appliances | Assets.
#[component]
fn ProtectTabs(current: &'static str) -> impl IntoView {
    const TABS: &[(&str, &str)] = &[("/protect", "Appliances"), ("/protect/assets", "Assets")];
    view! { <crate::components::Tabs label="Protect" tabs=TABS current /> }
}
