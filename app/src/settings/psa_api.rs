//! Server functions of Settings → Integrations → a PSA's card (Superusers): the same for
//! every PSA, which the `psa` argument names.

use leptos::prelude::*;
use model::AppError;
use model::psa::{
    OrganizationTicketSettings, PickValue, PsaCompanyPage, PsaKind, PsaMappings, PsaSettings, TestTicket,
    TicketChoices, TicketDefaults,
};
#[cfg(feature = "ssr")]
use {crate::server::*, integrations::psa::service, model::Action};

/// Signed in (ManageIntegrations): the PSA integration, if any (never its secret).
#[server(prefix = "/api", endpoint = "psa/settings")]
pub async fn psa_integration(psa: PsaKind) -> Result<Option<PsaSettings>, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::settings(&mut *conn().await?, &viewer, psa)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): test the API credentials and store them (an empty secret
/// keeps the stored one).
#[server(prefix = "/api", endpoint = "psa/integrate")]
pub async fn integrate_psa(
    psa: PsaKind,
    lookup_url: String,
    username: String,
    secret: String,
    account: String,
) -> Result<PsaSettings, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    let form = service::CredentialsForm {
        lookup_url: &lookup_url,
        username: &username,
        secret: &secret,
        account: &account,
    };
    service::integrate(&portal(), &viewer, psa, form, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): remove the integration and its mappings (typed DELETE).
#[server(prefix = "/api", endpoint = "psa/remove")]
pub async fn remove_psa(psa: PsaKind, confirmation: String) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    if confirmation.trim() != "DELETE" {
        return Err(AppError::invalid(
            "confirmation",
            "Type DELETE to remove the integration.",
        ));
    }
    service::remove(&portal(), &viewer, psa, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): the PSA's queues (boards), statuses and priorities.
#[server(prefix = "/api", endpoint = "psa/choices")]
pub async fn psa_choices(psa: PsaKind) -> Result<TicketChoices, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::choices(&portal(), &viewer, psa)
        .await
        .map_err(to_app_error)
}

/// The ticket settings as the form sends them: picklist values and a company id; names are
/// filled in from the PSA when they are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DefaultsForm {
    pub company_id: Option<i64>,
    pub queue: Option<String>,
    pub new_status: Option<String>,
    pub close_status: Option<String>,
    pub critical_priority: Option<String>,
    pub warning_priority: Option<String>,
    #[serde(default)]
    pub ticket_type: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    /// Alert kinds (`AlertKind::as_str`) that make tickets.
    #[serde(default)]
    pub kinds: Vec<String>,
}

impl DefaultsForm {
    pub fn from_defaults(defaults: &TicketDefaults) -> DefaultsForm {
        let value = |v: &Option<model::psa::PickValue>| v.as_ref().map(|v| v.value.clone());
        DefaultsForm {
            company_id: defaults.company.as_ref().map(|c| c.id),
            queue: value(&defaults.queue),
            new_status: value(&defaults.new_status),
            close_status: value(&defaults.close_status),
            critical_priority: value(&defaults.critical_priority),
            warning_priority: value(&defaults.warning_priority),
            ticket_type: value(&defaults.ticket_type),
            source: value(&defaults.source),
            location: value(&defaults.location),
            kinds: defaults.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        }
    }

    pub fn into_defaults(self) -> Result<TicketDefaults, AppError> {
        let pick = |v: Option<String>| {
            v.filter(|v| !v.is_empty()).map(|value| model::psa::PickValue {
                value,
                label: String::new(),
            })
        };
        let kinds = self
            .kinds
            .iter()
            .map(|k| {
                model::alerts::AlertKind::parse(k)
                    .filter(|k| k.makes_tickets())
                    .ok_or_else(|| {
                        AppError::invalid("kinds", format!("{k:?} is not an alert kind that makes tickets."))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(TicketDefaults {
            company: self.company_id.map(|id| model::psa::PsaCompany {
                id,
                name: String::new(),
            }),
            queue: pick(self.queue),
            new_status: pick(self.new_status),
            close_status: pick(self.close_status),
            critical_priority: pick(self.critical_priority),
            warning_priority: pick(self.warning_priority),
            ticket_type: pick(self.ticket_type),
            source: pick(self.source),
            location: pick(self.location),
            kinds,
        })
    }
}

/// Signed in (ManageIntegrations): store the ticket defaults, checked against the PSA.
#[server(prefix = "/api", endpoint = "psa/defaults")]
pub async fn save_psa_defaults(psa: PsaKind, form: DefaultsForm) -> Result<TicketDefaults, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::save_defaults(&portal(), &viewer, psa, form.into_defaults()?, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): one test ticket with the settings as chosen (saved or not).
#[server(prefix = "/api", endpoint = "psa/test-ticket")]
pub async fn psa_test_ticket(psa: PsaKind, form: DefaultsForm) -> Result<TestTicket, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::test_ticket(&portal(), &viewer, psa, form.into_defaults()?)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): the locations of one of the PSA's companies (BMS, Vorex;
/// none elsewhere or without a company), the main one first.
#[server(prefix = "/api", endpoint = "psa/locations")]
pub async fn psa_locations(psa: PsaKind, company_id: Option<i64>) -> Result<Vec<PickValue>, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    let Some(company_id) = company_id else {
        return Ok(Vec::new());
    };
    service::locations(&portal(), &viewer, psa, company_id)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): a page of the PSA's active companies, optionally searched.
#[server(prefix = "/api", endpoint = "psa/companies")]
pub async fn psa_companies(
    psa: PsaKind,
    page: u32,
    search: Option<String>,
) -> Result<PsaCompanyPage, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::companies_page(&portal(), &viewer, psa, (page, search.as_deref()))
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): import companies as organizations in a scope.
#[server(prefix = "/api", endpoint = "psa/import")]
pub async fn import_psa_companies(
    psa: PsaKind,
    company_ids: Option<Vec<i64>>,
    scope_id: Option<i64>,
) -> Result<u32, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    let ids = company_ids.unwrap_or_default();
    service::import(&portal(), &viewer, psa, &ids, scope_id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): map an organization to a company (none: unmap it).
#[server(prefix = "/api", endpoint = "psa/map")]
pub async fn map_psa(psa: PsaKind, organization_id: i64, company_id: Option<i64>) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::map(
        &portal(),
        &viewer,
        psa,
        organization_id,
        company_id,
        &client_info(),
    )
    .await
    .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): map unmapped organizations to companies of the same name.
#[server(prefix = "/api", endpoint = "psa/map-by-name")]
pub async fn map_psa_by_name(psa: PsaKind) -> Result<u32, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::map_by_name(&portal(), &viewer, psa, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): the ticket settings that apply to one organization.
#[server(prefix = "/api", endpoint = "psa/organization")]
pub async fn psa_organization(
    psa: PsaKind,
    organization_id: i64,
) -> Result<OrganizationTicketSettings, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::organization_settings(&portal(), &viewer, psa, organization_id)
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): "Overwrite Settings" for one organization.
#[server(prefix = "/api", endpoint = "psa/overwrite")]
pub async fn overwrite_psa(psa: PsaKind, organization_id: i64, form: DefaultsForm) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::overwrite(
        &portal(),
        &viewer,
        psa,
        organization_id,
        form.into_defaults()?,
        &client_info(),
    )
    .await
    .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): "Use Default Settings" for one organization.
#[server(prefix = "/api", endpoint = "psa/use-defaults")]
pub async fn psa_use_defaults(psa: PsaKind, organization_id: i64) -> Result<(), AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::use_defaults(&portal(), &viewer, psa, organization_id, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (ManageIntegrations): "Reset For All Organizations".
#[server(prefix = "/api", endpoint = "psa/reset-all")]
pub async fn reset_psa_organizations(psa: PsaKind) -> Result<u64, AppError> {
    let viewer = viewer(Action::ManageIntegrations)?;
    service::reset_all(&portal(), &viewer, psa, &client_info())
        .await
        .map_err(to_app_error)
}

/// Signed in (View): the companies each integrated PSA has mapped to the organizations of one
/// page of the Organizations list (the same query), for its columns.
#[server(prefix = "/api", endpoint = "psa/mappings")]
pub async fn mapped_psa_companies(
    #[server(default)] query: model::tenancy::OrgQuery,
) -> Result<Vec<PsaMappings>, AppError> {
    let viewer = viewer(Action::View)?;
    let mut conn = conn().await?;
    let page = domain::organizations::list(&mut conn, &viewer, &query)
        .await
        .map_err(to_app_error)?;
    let ids: Vec<i64> = page.items.iter().map(|o| o.id).collect();
    service::mapped_companies(&mut conn, &viewer, &ids)
        .await
        .map_err(to_app_error)
}
