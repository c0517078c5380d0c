//! What the integration tests share: an emulator served on a local port, a refusal's error, a
//! picklist value by its label, and an appliance reporting its storage to the alert engine.

// Each test binary uses some of these.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use domain::appliances::{ApplianceIdentity, gateway};
use domain::{DomainError, Portal};
use model::AppError;
use model::appliance::Storage;
use model::psa::PickValue;

const GB: u64 = 1 << 30;

/// Serves an emulator's router on a free local port; answers its root address.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// The refusal a call was expected to end in.
pub fn refusal<T: std::fmt::Debug>(result: Result<T, DomainError>) -> AppError {
    match result {
        Err(DomainError::Rejected(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The value of a PSA picklist with this label.
pub fn pick(choices: &[PickValue], label: &str) -> PickValue {
    choices
        .iter()
        .find(|c| c.label == label)
        .cloned()
        .unwrap_or_else(|| panic!("{label} in {choices:?}"))
}

/// The appliance reports `free_gb` GB free of 100, and the alert engine runs.
pub async fn report_storage(portal: &Portal, appliance: &ApplianceIdentity, free_gb: u64) {
    let storage = Storage {
        total_bytes: 100 * GB,
        free_bytes: free_gb * GB,
        used_bytes: (100 - free_gb) * GB,
    };
    gateway::heartbeat(portal, appliance, &storage).await.unwrap();
    domain::alerts::engine::run_due(portal).await.unwrap();
}
