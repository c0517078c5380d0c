//! Kaseya VSA 9 (spec portal-c §1.1): the REST client (`client`), the stored integration and
//! the users' e-mail actions (`service`), the module package VSA installs (`manifest`), and the
//! worker that sends the queued alarm writes of `domain::vsa` (`deliver`).
//!
//! VSA 9's REST API lists, reads and closes alarms but documents no way to create one. The
//! portal raises them through the system-alert trigger (`POST /automation/systemalerts/{id}`
//! with `CreateAlarm`, and `SendEmail` + `UsersToEmail` for the e-mail actions), finds them
//! again by the marker in their message, and closes them with `PUT /assetmgmt/alarms/{id}/close`.
//! Delivery only knows [`AlarmSink`], so the transport can change without touching the queue.

mod client;
mod deliver;
pub mod manifest;
pub mod service;

use std::future::Future;

pub use client::{NewAlarm, VsaAlarm, VsaClient, VsaError, auth_header};
pub use deliver::{deliver_due, send};

/// Where alarms go: raise one, find one by the text of its message, close one.
pub trait AlarmSink {
    /// Raises the alarm; VSA's id for it when VSA tells it.
    fn raise(&self, alarm: &NewAlarm<'_>) -> impl Future<Output = Result<Option<String>, VsaError>> + Send;
    /// The alarm whose message carries `marker`, open or closed.
    fn find(&self, marker: &str) -> impl Future<Output = Result<Option<VsaAlarm>, VsaError>> + Send;
    fn close(&self, alarm_id: &str, note: &str) -> impl Future<Output = Result<(), VsaError>> + Send;
}

impl AlarmSink for VsaClient {
    async fn raise(&self, alarm: &NewAlarm<'_>) -> Result<Option<String>, VsaError> {
        self.trigger_alarm(alarm).await
    }

    async fn find(&self, marker: &str) -> Result<Option<VsaAlarm>, VsaError> {
        Ok(self.alarms_containing(marker).await?.into_iter().next())
    }

    async fn close(&self, alarm_id: &str, note: &str) -> Result<(), VsaError> {
        self.close_alarm(alarm_id, note).await
    }
}
