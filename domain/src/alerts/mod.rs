//! Alerts: the evaluation engine that raises and resolves them, the Alert Center's lists and
//! dismissals, and their settings (categories, recipients, conditional-alarm thresholds).

pub mod center;
pub mod conditions;
pub mod engine;
pub mod mail;
pub mod psa_failing;
pub mod rules;
pub mod settings;

use crate::clock::MINUTE_MS;

/// Server-wide alerting settings.
#[derive(Debug, Clone)]
pub struct Alerting {
    /// An appliance unseen for this long raises the offline alarm.
    pub offline_after_ms: i64,
}

impl Default for Alerting {
    fn default() -> Self {
        Self {
            offline_after_ms: 60 * MINUTE_MS,
        }
    }
}
