//! The Dashboard, the Alert Center and the alert settings pages.

pub mod api;
mod center;
mod dashboard;
mod settings;

use leptos::prelude::RwSignal;

pub use center::AlertBell;
pub use dashboard::{CompletedChart, DashboardPage};
pub use settings::{AlarmSettingsPage, AlertSettingsPage};

/// Whether the Notifications panel is open; the bell and the Dashboard's Alerts tile open it.
#[derive(Clone, Copy)]
pub struct AlertPanelOpen(pub RwSignal<bool>);
