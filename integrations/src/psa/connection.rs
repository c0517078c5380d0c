//! One client type over every PSA the portal writes tickets to, so the service and the ticket
//! worker are written once: each call goes to the PSA's own client, and its errors come back as
//! a `PsaError` that says whether the record is missing and which credential field is at fault.

use model::psa::{PickValue, PsaCompany, PsaKind, TicketChoices};
use serde::{Deserialize, Serialize};

use crate::autotask::{AutotaskClient, AutotaskCredentials, AutotaskError};
use crate::bms::{BmsClient, BmsCredentials, BmsError};
use crate::connectwise::{ConnectWiseClient, ConnectWiseCredentials, ConnectWiseError};

/// What authenticates the portal to a PSA, sealed at rest: Autotask's API user, Secret and
/// tracking identifier; ConnectWise's public key, private key and company id; BMS's user name,
/// password and tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsaCredentials {
    pub username: String,
    pub secret: String,
    #[serde(alias = "integration_code")]
    pub account: String,
}

/// A new ticket, as the portal opens it for an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub company_id: i64,
    pub title: String,
    pub description: String,
    pub queue: Option<String>,
    pub status: Option<String>,
    pub priority: String,
    pub due_at_ms: i64,
    /// The ticket type and source, where the PSA requires them (BMS, Vorex).
    pub ticket_type: Option<String>,
    pub source: Option<String>,
    /// The account's location (BMS, Vorex); none: its main location.
    pub location: Option<String>,
    /// The alert's marker, kept where the PSA can search it (ConnectWise's `externalXRef`;
    /// Autotask finds it in the description).
    pub reference: String,
}

/// A ticket as far as the portal reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: i64,
    pub number: String,
    pub status: String,
}

/// Why a PSA call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsaError {
    /// The record asked for does not exist (or no longer does).
    #[error("{0}")]
    NotFound(String),
    /// The PSA refused the credentials or a permission (401/403): retrying cannot help until a
    /// Superuser saves working ones. `field` is the credential it points at.
    #[error("{message}")]
    Credentials { field: &'static str, message: String },
    /// Anything else, with the form field it points at.
    #[error("{message}")]
    Failed { field: &'static str, message: String },
}

impl PsaError {
    fn credentials(field: &'static str, error: impl ToString) -> PsaError {
        PsaError::Credentials {
            field,
            message: error.to_string(),
        }
    }
}

impl From<AutotaskError> for PsaError {
    fn from(error: AutotaskError) -> PsaError {
        let field = match error {
            AutotaskError::NotFound => return PsaError::NotFound(error.to_string()),
            AutotaskError::UnknownUser(_) | AutotaskError::BadCredentials(_) => {
                return PsaError::credentials("username", error);
            }
            AutotaskError::BadSecret => return PsaError::credentials("secret", error),
            AutotaskError::Unreachable(_) => "lookup_url",
            _ => "autotask",
        };
        PsaError::Failed {
            field,
            message: error.to_string(),
        }
    }
}

impl From<ConnectWiseError> for PsaError {
    fn from(error: ConnectWiseError) -> PsaError {
        let field = match error {
            ConnectWiseError::NotFound => return PsaError::NotFound(error.to_string()),
            ConnectWiseError::UnknownCompany(_) => return PsaError::credentials("account", error),
            ConnectWiseError::BadCredentials(_) => return PsaError::credentials("secret", error),
            ConnectWiseError::MissingPermission(_) => return PsaError::credentials("username", error),
            ConnectWiseError::Unreachable(_) => "lookup_url",
            _ => "connectwise",
        };
        PsaError::Failed {
            field,
            message: error.to_string(),
        }
    }
}

impl From<BmsError> for PsaError {
    fn from(error: BmsError) -> PsaError {
        let field = match error {
            BmsError::NotFound => return PsaError::NotFound(error.to_string()),
            BmsError::UnknownTenant(_) => return PsaError::credentials("account", error),
            BmsError::BadCredentials(_) => return PsaError::credentials("secret", error),
            BmsError::Unreachable(_) => "lookup_url",
            _ => "bms",
        };
        PsaError::Failed {
            field,
            message: error.to_string(),
        }
    }
}

/// A client of one PSA integration (Vorex is BMS's API under another address).
#[derive(Debug, Clone)]
pub enum PsaClient {
    Autotask(AutotaskClient),
    ConnectWise(ConnectWiseClient),
    Bms(BmsClient),
}

/// Calls the same method on whichever PSA's client this is, with its error made a `PsaError`.
macro_rules! each_psa {
    ($self:ident, $client:ident => $call:expr) => {
        match $self {
            PsaClient::Autotask($client) => $call.await.map_err(PsaError::from),
            PsaClient::ConnectWise($client) => $call.await.map_err(PsaError::from),
            PsaClient::Bms($client) => $call.await.map_err(PsaError::from),
        }
    };
}

impl PsaClient {
    /// Finds the PSA's API for these credentials (Autotask's zone lookup, ConnectWise's company
    /// info) and returns a client of it. ConnectWise needs the product's client id.
    pub async fn discover(
        kind: PsaKind,
        lookup_url: &str,
        credentials: PsaCredentials,
        client_id: Option<&str>,
    ) -> Result<PsaClient, PsaError> {
        Ok(match kind {
            PsaKind::Autotask => PsaClient::Autotask(
                AutotaskClient::discover(lookup_url, autotask_credentials(credentials)).await?,
            ),
            PsaKind::ConnectWise => PsaClient::ConnectWise(
                ConnectWiseClient::discover(lookup_url, connectwise_credentials(credentials, client_id)?)
                    .await?,
            ),
            PsaKind::Bms | PsaKind::Vorex => {
                PsaClient::Bms(BmsClient::connect(lookup_url, bms_credentials(credentials)).await?)
            }
        })
    }

    /// A client of an API root found before.
    pub fn at(
        kind: PsaKind,
        api_url: &str,
        credentials: PsaCredentials,
        client_id: Option<&str>,
    ) -> Result<PsaClient, PsaError> {
        Ok(match kind {
            PsaKind::Autotask => PsaClient::Autotask(AutotaskClient::at_zone(
                api_url,
                autotask_credentials(credentials),
            )?),
            PsaKind::ConnectWise => PsaClient::ConnectWise(ConnectWiseClient::at(
                api_url,
                connectwise_credentials(credentials, client_id)?,
            )?),
            PsaKind::Bms | PsaKind::Vorex => {
                PsaClient::Bms(BmsClient::at(api_url, bms_credentials(credentials))?)
            }
        })
    }

    /// The API root calls go to.
    pub fn api_url(&self) -> &str {
        match self {
            PsaClient::Autotask(c) => c.zone_url(),
            PsaClient::ConnectWise(c) => c.api_url(),
            PsaClient::Bms(c) => c.api_url(),
        }
    }

    /// Checks the credentials with an authenticated call.
    pub async fn test(&self) -> Result<(), PsaError> {
        each_psa!(self, c => c.test())
    }

    pub async fn ticket_choices(&self) -> Result<TicketChoices, PsaError> {
        each_psa!(self, c => c.ticket_choices())
    }

    /// The active companies, by name; only those whose name contains `search`, if given.
    pub async fn companies(&self, search: Option<&str>) -> Result<Vec<PsaCompany>, PsaError> {
        each_psa!(self, c => c.companies(search))
    }

    pub async fn company(&self, id: i64) -> Result<PsaCompany, PsaError> {
        each_psa!(self, c => c.company(id))
    }

    /// The company's locations, where the PSA files tickets by location (BMS, Vorex); none
    /// elsewhere.
    pub async fn locations(&self, company_id: i64) -> Result<Vec<PickValue>, PsaError> {
        match self {
            PsaClient::Bms(client) => client.locations(company_id).await.map_err(PsaError::from),
            PsaClient::Autotask(_) | PsaClient::ConnectWise(_) => Ok(Vec::new()),
        }
    }

    pub async fn create_ticket(&self, ticket: &NewTicket) -> Result<Ticket, PsaError> {
        each_psa!(self, c => c.create_ticket(ticket))
    }

    /// The ticket carrying an alert's `marker`, if one does (a retry's check).
    pub async fn find_ticket(&self, marker: &str) -> Result<Option<Ticket>, PsaError> {
        each_psa!(self, c => c.find_ticket(marker))
    }

    pub async fn add_note(&self, ticket_id: i64, title: &str, text: &str) -> Result<(), PsaError> {
        each_psa!(self, c => async { c.add_note(ticket_id, title, text).await.map(|_| ()) })
    }

    /// Whether a note of the ticket carries `marker` (a retry's check).
    pub async fn has_note(&self, ticket_id: i64, marker: &str) -> Result<bool, PsaError> {
        each_psa!(self, c => c.has_note(ticket_id, marker))
    }

    pub async fn set_status(&self, ticket_id: i64, status: &str) -> Result<(), PsaError> {
        each_psa!(self, c => c.set_status(ticket_id, status))
    }
}

fn autotask_credentials(credentials: PsaCredentials) -> AutotaskCredentials {
    AutotaskCredentials {
        username: credentials.username,
        secret: credentials.secret,
        integration_code: credentials.account,
    }
}

fn bms_credentials(credentials: PsaCredentials) -> BmsCredentials {
    BmsCredentials {
        username: credentials.username,
        password: credentials.secret,
        tenant: credentials.account,
    }
}

fn connectwise_credentials(
    credentials: PsaCredentials,
    client_id: Option<&str>,
) -> Result<ConnectWiseCredentials, PsaError> {
    let client_id = client_id.filter(|id| !id.trim().is_empty()).ok_or(PsaError::Failed {
        field: "connectwise",
        message: "This server has no ConnectWise client id: set BACKPLANE_CONNECTWISE_CLIENT_ID (the id ConnectWise's developer program issues for this installation) and restart it.".into(),
    })?;
    Ok(ConnectWiseCredentials {
        company_id: credentials.account,
        public_key: credentials.username,
        private_key: credentials.secret,
        client_id: client_id.to_owned(),
    })
}
