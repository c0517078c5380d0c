//! The portal's side of a PSA integration (spec portal-c §1.4–1.7, §1.10), the same for every
//! PSA: a Superuser stores the API credentials (tested first, sealed with the instance key, the
//! secret never shown again), chooses the ticket defaults from the PSA's own picklists, imports
//! the PSA's companies as organizations and maps organizations to companies. Alerts then become
//! tickets through `domain::psa`'s queue, sent by `super::deliver`.

use domain::access::Viewer;
use domain::alerts::psa_failing;
use domain::audit::{self, Entry};
use domain::{ClientInfo, DomainError, DomainResult, Portal, organizations};
use model::alerts::AlertKind;
use model::itglue::LinkedOrganization;
use model::psa::{
    OrganizationMapping, OrganizationTicketSettings, PickValue, PsaCompany, PsaCompanyPage, PsaCompanyRow,
    PsaKind, PsaMappings, PsaSettings, QueueFailure, TestTicket, TicketChoices, TicketDefaults, TicketQueue,
};
use model::{Action, AppError};
use sqlx::AnyConnection;

use super::{NewTicket, PsaClient, PsaCredentials, PsaError};

/// Companies per page of the Import list (spec: 100).
pub const COMPANY_PAGE_SIZE: usize = 100;

fn refused(error: PsaError) -> DomainError {
    match error {
        PsaError::NotFound(message) => AppError::invalid("psa", message).into(),
        PsaError::Credentials { field, message } | PsaError::Failed { field, message } => {
            AppError::invalid(field, message).into()
        }
    }
}

/// A company id the PSA does not know (or no longer), or the call's own failure.
fn company_refused(kind: PsaKind, company_id: i64) -> impl FnOnce(PsaError) -> DomainError {
    move |error| match error {
        PsaError::NotFound(_) => AppError::not_found(format!("{} company {company_id}", kind.label())).into(),
        other => refused(other),
    }
}

/// What the credential dialog sends; an empty secret keeps the stored one.
#[derive(Debug, Clone)]
pub struct CredentialsForm<'a> {
    pub lookup_url: &'a str,
    pub username: &'a str,
    pub secret: &'a str,
    pub account: &'a str,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    kind: String,
    credentials: String,
    account: String,
    lookup_url: String,
    api_url: String,
    defaults: String,
    updated_at: i64,
    updated_by: String,
    failing_since: Option<i64>,
    last_error: Option<String>,
    paused_since: Option<i64>,
}

const COLUMNS: &str = "id, kind, credentials, account, lookup_url, api_url, defaults, updated_at, updated_by, failing_since, last_error,
     paused_since";

async fn stored(conn: &mut AnyConnection, instance_id: i64, kind: PsaKind) -> DomainResult<Option<Row>> {
    let sql = format!("SELECT {COLUMNS} FROM psa_integrations WHERE instance_id = $1 AND kind = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(instance_id)
        .bind(kind.as_str())
        .fetch_optional(conn)
        .await?)
}

/// The stored integration, or "not integrated yet".
async fn integrated(conn: &mut AnyConnection, instance_id: i64, kind: PsaKind) -> DomainResult<Row> {
    stored(conn, instance_id, kind)
        .await?
        .ok_or_else(|| AppError::conflict(format!("{} is not integrated yet.", kind.label())).into())
}

fn defaults_of(row: &Row) -> DomainResult<TicketDefaults> {
    serde_json::from_str(&row.defaults)
        .map_err(|e| DomainError::internal(format!("PSA integration {}'s defaults: {e}", row.id)))
}

fn credentials_of(portal: &Portal, row: &Row) -> DomainResult<PsaCredentials> {
    let json = portal.vault.open(&row.credentials)?;
    serde_json::from_str(&json)
        .map_err(|e| DomainError::internal(format!("PSA integration {}'s credentials: {e}", row.id)))
}

fn client_from(portal: &Portal, row: &Row) -> DomainResult<PsaClient> {
    let kind = PsaKind::parse(&row.kind)
        .ok_or_else(|| DomainError::internal(format!("unknown PSA kind {:?}", row.kind)))?;
    let client_id = portal.connectwise_client_id.as_deref();
    PsaClient::at(kind, &row.api_url, credentials_of(portal, row)?, client_id).map_err(refused)
}

/// The stored integration's id and client, or "not integrated".
async fn client_of(portal: &Portal, instance_id: i64, kind: PsaKind) -> DomainResult<(i64, PsaClient)> {
    let mut conn = portal.db.pool.acquire().await?;
    let row = integrated(&mut conn, instance_id, kind).await?;
    Ok((row.id, client_from(portal, &row)?))
}

/// The integration's client by its id (the ticket worker's way in).
pub(crate) async fn client_by_id(portal: &Portal, integration_id: i64) -> DomainResult<PsaClient> {
    let sql = format!("SELECT {COLUMNS} FROM psa_integrations WHERE id = $1");
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(integration_id)
        .fetch_one(&portal.db.pool)
        .await?;
    client_from(portal, &row)
}

/// The instance's integration with `kind`, if it has one (Superusers).
pub async fn settings(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    kind: PsaKind,
) -> DomainResult<Option<PsaSettings>> {
    viewer.require(Action::ManageIntegrations)?;
    let Some(row) = stored(&mut *conn, viewer.instance_id, kind).await? else {
        return Ok(None);
    };
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT
           (SELECT COUNT(*) FROM psa_tickets WHERE integration_id = $1 AND state = 'open'),
           (SELECT COUNT(*) FROM psa_ticket_ops o JOIN psa_tickets t ON t.id = o.ticket_id
             WHERE t.integration_id = $1 AND o.state = 'pending'),
           (SELECT COUNT(*) FROM psa_ticket_ops o JOIN psa_tickets t ON t.id = o.ticket_id
             WHERE t.integration_id = $1 AND o.state = 'failed')",
    )
    .bind(row.id)
    .fetch_one(&mut *conn)
    .await?;
    // The user name and the account are shown; only the secret stays sealed away.
    let (username, account) = split_account(&row.account);
    Ok(Some(PsaSettings {
        kind,
        username,
        account,
        lookup_url: row.lookup_url.clone(),
        api_url: row.api_url.clone(),
        defaults: defaults_of(&row)?,
        updated_at: row.updated_at,
        updated_by: row.updated_by,
        queue: TicketQueue {
            open_tickets: counts.0,
            pending: counts.1,
            failed: counts.2,
            failing: row.failing_since.map(|since| QueueFailure {
                since,
                error: row.last_error.unwrap_or_default(),
            }),
            paused_since: row.paused_since,
        },
    }))
}

/// The clear part of the credentials, kept beside the sealed ones.
fn account_of(credentials: &PsaCredentials) -> String {
    format!("{}\n{}", credentials.username, credentials.account)
}

fn split_account(account: &str) -> (String, String) {
    let (username, code) = account.split_once('\n').unwrap_or((account, ""));
    (username.to_owned(), code.to_owned())
}

/// Tests the credentials (the PSA's API lookup, then an authenticated call) and stores them;
/// the first time, ticket defaults start from the PSA's own picklists.
pub async fn integrate(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    form: CredentialsForm<'_>,
    client: &ClientInfo,
) -> DomainResult<PsaSettings> {
    viewer.require(Action::ManageIntegrations)?;
    let lookup_url = checked_lookup_url(kind, form.lookup_url)?;
    let mut conn = portal.db.pool.acquire().await?;
    let before = stored(&mut conn, viewer.instance_id, kind).await?;
    drop(conn);
    let credentials = credentials_from(portal, kind, &form, before.as_ref())?;
    let client_id = portal.connectwise_client_id.as_deref();
    let psa = PsaClient::discover(kind, &lookup_url, credentials.clone(), client_id)
        .await
        .map_err(refused)?;
    psa.test().await.map_err(refused)?;
    let defaults = match &before {
        Some(row) => defaults_of(row)?,
        None => first_defaults(psa.ticket_choices().await.map_err(refused)?),
    };
    let sealed = portal
        .vault
        .seal(&serde_json::to_string(&credentials).map_err(|e| DomainError::internal(e.to_string()))?);
    let mut tx = portal.db.begin().await?;
    sqlx::query(
        "INSERT INTO psa_integrations (instance_id, kind, credentials, account, lookup_url, api_url, defaults, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (instance_id, kind) DO UPDATE SET credentials = excluded.credentials, account = excluded.account,
           lookup_url = excluded.lookup_url, api_url = excluded.api_url, updated_at = excluded.updated_at,
           updated_by = excluded.updated_by, failing_since = NULL, last_error = NULL, paused_since = NULL",
    )
    .bind(viewer.instance_id)
    .bind(kind.as_str())
    .bind(sealed)
    .bind(account_of(&credentials))
    .bind(&lookup_url)
    .bind(psa.api_url())
    .bind(json_of(&defaults)?)
    .bind(portal.now())
    .bind(&viewer.email)
    .execute(&mut *tx)
    .await?;
    let audit_action = action(kind, "integrate");
    let entry = Entry::by(viewer, client, &audit_action, &credentials.username);
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    let mut conn = portal.db.pool.acquire().await?;
    settings(&mut conn, viewer, kind)
        .await?
        .ok_or_else(|| DomainError::internal("the integration just stored is missing"))
}

/// The audit action of `verb` on a PSA, e.g. `autotask.map`.
fn action(kind: PsaKind, verb: &str) -> String {
    format!("{}.{verb}", kind.as_str())
}

fn credentials_from(
    portal: &Portal,
    kind: PsaKind,
    form: &CredentialsForm<'_>,
    before: Option<&Row>,
) -> DomainResult<PsaCredentials> {
    let labels = kind.fields();
    let username = form.username.trim();
    let account = form.account.trim();
    if username.is_empty() {
        return Err(AppError::invalid("username", format!("Enter the {}.", labels.username)).into());
    }
    if account.is_empty() {
        return Err(AppError::invalid("account", format!("Enter the {}.", labels.account)).into());
    }
    let secret = match (form.secret.trim(), before) {
        ("", Some(row)) => credentials_of(portal, row)?.secret,
        ("", None) => {
            return Err(AppError::invalid("secret", format!("Enter the {}.", labels.secret)).into());
        }
        (secret, _) => secret.to_owned(),
    };
    Ok(PsaCredentials {
        username: username.to_owned(),
        secret,
        account: account.to_owned(),
    })
}

/// The PSA's lookup address, or an address given for a relay (https) or a local emulator.
fn checked_lookup_url(kind: PsaKind, text: &str) -> Result<String, AppError> {
    let default = kind.fields().default_lookup;
    let url = text.trim().trim_end_matches('/');
    let url = if url.is_empty() { default } else { url };
    model::webhooks::check_webhook_url(url).map_err(|_| {
        AppError::invalid(
            "lookup_url",
            format!(
                "Enter {}'s {} address, e.g. {default}.",
                kind.label(),
                kind.fields().lookup.to_lowercase()
            ),
        )
    })
}

fn json_of(defaults: &TicketDefaults) -> DomainResult<String> {
    serde_json::to_string(defaults).map_err(|e| DomainError::internal(e.to_string()))
}

/// Defaults for a new integration: High for critical alerts, Medium for warnings, status New,
/// closed as Complete(d) (or Resolved, Closed), every alert kind; where statuses belong to a
/// queue (ConnectWise's boards), the first board. No default company until one is chosen.
fn first_defaults(choices: TicketChoices) -> TicketDefaults {
    let named = |list: &[PickValue], labels: &[&str]| {
        labels
            .iter()
            .find_map(|label| list.iter().find(|v| v.label.eq_ignore_ascii_case(label)))
            .cloned()
    };
    let queue = if choices.queue_statuses.is_empty() {
        None
    } else {
        choices.queues.first().cloned()
    };
    let statuses = choices.statuses_for(queue.as_ref().map(|q| q.value.as_str()));
    let priorities = &choices.priorities;
    TicketDefaults {
        company: None,
        new_status: named(&statuses, &["New"]),
        close_status: named(&statuses, &["Complete", "Completed", "Resolved", "Closed"]),
        critical_priority: named(priorities, &["High"]).or_else(|| priorities.first().cloned()),
        warning_priority: named(priorities, &["Medium"]).or_else(|| priorities.last().cloned()),
        queue,
        kinds: AlertKind::ALL.into_iter().filter(|k| k.makes_tickets()).collect(),
        ticket_type: named(&choices.types, &["Alert", "Incident"]).or_else(|| choices.types.first().cloned()),
        source: named(&choices.sources, &["Monitoring", "Alert"])
            .or_else(|| choices.sources.first().cloned()),
        location: None,
    }
}

/// Removes the integration with its mappings, own settings, tickets and queue (the tickets in
/// the PSA stay).
pub async fn remove(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageIntegrations)?;
    let mut tx = portal.db.begin().await?;
    let row = integrated(&mut tx, viewer.instance_id, kind).await?;
    let changed = psa_failing::resolve_all(&mut tx, portal, row.id, portal.now()).await?;
    for table in [
        "psa_ticket_ops WHERE ticket_id IN (SELECT id FROM psa_tickets WHERE integration_id = $1)",
        "psa_tickets WHERE integration_id = $1",
        "psa_mappings WHERE integration_id = $1",
        "psa_overrides WHERE integration_id = $1",
        "psa_integrations WHERE id = $1",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
    }
    let audit_action = action(kind, "remove");
    audit::record(
        &mut tx,
        Entry::by(viewer, client, &audit_action, kind.label()),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    portal.publish_alerts_changed(changed).await;
    Ok(())
}

/// The PSA's queues (boards), statuses and priorities, read now.
pub async fn choices(portal: &Portal, viewer: &Viewer, kind: PsaKind) -> DomainResult<TicketChoices> {
    viewer.require(Action::ManageIntegrations)?;
    let (_, psa) = client_of(portal, viewer.instance_id, kind).await?;
    psa.ticket_choices().await.map_err(refused)
}

/// Checks every value against the PSA (picklists, the company; a status against the chosen
/// queue's statuses where they differ per queue) before anything is stored.
async fn checked_defaults(
    (kind, psa): (PsaKind, &PsaClient),
    defaults: TicketDefaults,
) -> DomainResult<TicketDefaults> {
    let choices = psa.ticket_choices().await.map_err(refused)?;
    let known = |field: &'static str,
                 list: &[PickValue],
                 value: &Option<PickValue>|
     -> DomainResult<Option<PickValue>> {
        match value {
            None => Ok(None),
            Some(v) => list
                .iter()
                .find(|c| c.value == v.value)
                .cloned()
                .map(Some)
                .ok_or_else(|| {
                    let label = kind.label();
                    AppError::invalid(field, format!("{label} has no such value ({}) here.", v.value)).into()
                }),
        }
    };
    let company = match &defaults.company {
        None => None,
        Some(c) => Some(psa.company(c.id).await.map_err(|e| match e {
            PsaError::NotFound(_) => {
                let label = kind.label();
                AppError::invalid("company", format!("{label} has no active company with that id.")).into()
            }
            other => refused(other),
        })?),
    };
    if defaults.kinds.is_empty()
        && (defaults.critical_priority.is_some() || defaults.warning_priority.is_some())
    {
        return Err(AppError::invalid(
            "kinds",
            "Choose the alert kinds that make tickets (or Do not sync).",
        )
        .into());
    }
    if kind.needs_type_and_source()
        && (defaults.critical_priority.is_some() || defaults.warning_priority.is_some())
    {
        let label = kind.label();
        for (field, value, what) in [
            ("new_status", &defaults.new_status, "the status of new tickets"),
            ("ticket_type", &defaults.ticket_type, "the ticket type"),
            ("source", &defaults.source, "the ticket source"),
        ] {
            if value.is_none() {
                let message = format!("{label} needs {what} of every ticket: choose one.");
                return Err(AppError::invalid(field, message).into());
            }
        }
    }
    let location = match (&company, &defaults.location) {
        (_, None) => None,
        (None, Some(_)) => {
            let message = "Choose the default company the location belongs to.";
            return Err(AppError::invalid("location", message).into());
        }
        (Some(company), Some(_)) => {
            let locations = psa.locations(company.id).await.map_err(refused)?;
            known("location", &locations, &defaults.location)?
        }
    };
    let statuses = choices.statuses_for(defaults.queue.as_ref().map(|q| q.value.as_str()));
    Ok(TicketDefaults {
        company,
        queue: known("queue", &choices.queues, &defaults.queue)?,
        new_status: known("new_status", &statuses, &defaults.new_status)?,
        close_status: known("close_status", &statuses, &defaults.close_status)?,
        critical_priority: known(
            "critical_priority",
            &choices.priorities,
            &defaults.critical_priority,
        )?,
        warning_priority: known(
            "warning_priority",
            &choices.priorities,
            &defaults.warning_priority,
        )?,
        ticket_type: known("ticket_type", &choices.types, &defaults.ticket_type)?,
        source: known("source", &choices.sources, &defaults.source)?,
        location,
        kinds: defaults.kinds,
    })
}

/// Stores the ticket defaults (after checking them against the PSA).
pub async fn save_defaults(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    defaults: TicketDefaults,
    client: &ClientInfo,
) -> DomainResult<TicketDefaults> {
    viewer.require(Action::ManageIntegrations)?;
    let (id, psa) = client_of(portal, viewer.instance_id, kind).await?;
    let defaults = checked_defaults((kind, &psa), defaults).await?;
    let mut tx = portal.db.begin().await?;
    sqlx::query("UPDATE psa_integrations SET defaults = $1, updated_at = $2, updated_by = $3 WHERE id = $4")
        .bind(json_of(&defaults)?)
        .bind(portal.now())
        .bind(&viewer.email)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let summary = defaults
        .company
        .as_ref()
        .map_or("no default company".to_owned(), |c| c.name.clone());
    let audit_action = action(kind, "defaults");
    let entry = Entry::by(viewer, client, &audit_action, kind.label()).after(summary);
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(defaults)
}

/// The locations of one of the PSA's companies, for the default company's tickets (BMS, Vorex).
pub async fn locations(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    company_id: i64,
) -> DomainResult<Vec<PickValue>> {
    viewer.require(Action::ManageIntegrations)?;
    let (_, psa) = client_of(portal, viewer.instance_id, kind).await?;
    psa.locations(company_id).await.map_err(refused)
}

/// "Create test ticket": one ticket with the settings as chosen (saved or not) in the default
/// company; returns its number, or the PSA's refusal.
pub async fn test_ticket(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    defaults: TicketDefaults,
) -> DomainResult<TestTicket> {
    viewer.require(Action::ManageIntegrations)?;
    let (_, psa) = client_of(portal, viewer.instance_id, kind).await?;
    let defaults = checked_defaults((kind, &psa), defaults).await?;
    let company = defaults
        .company
        .ok_or_else(|| AppError::invalid("company", "Choose the default company the test ticket goes to."))?;
    let priority = defaults
        .critical_priority
        .or(defaults.warning_priority)
        .ok_or_else(|| {
            AppError::invalid(
                "critical_priority",
                "Choose a priority (not Do not sync) for the test ticket.",
            )
        })?;
    let instance: String = sqlx::query_scalar("SELECT display_name FROM instances WHERE id = $1")
        .bind(viewer.instance_id)
        .fetch_one(&portal.db.pool)
        .await?;
    let ticket = NewTicket {
        company_id: company.id,
        title: format!("Test - {instance} - Backplane"),
        description: format!(
            "A test ticket from Backplane ({}), created by {}: alerts of this instance will open tickets like this one.",
            portal.public_url, viewer.email
        ),
        queue: defaults.queue.map(|q| q.value),
        status: defaults.new_status.map(|s| s.value),
        priority: priority.value,
        due_at_ms: portal.now() + domain::psa::DUE_AFTER_MS,
        ticket_type: defaults.ticket_type.map(|t| t.value),
        source: defaults.source.map(|s| s.value),
        location: defaults.location.map(|l| l.value),
        reference: format!("[Backplane test {}]", portal.now()),
    };
    let created = psa.create_ticket(&ticket).await.map_err(refused)?;
    Ok(TestTicket {
        id: created.id,
        number: created.number,
    })
}

/// A page of the PSA's active companies (100 a page, by name, optionally searched), each with
/// the organization mapped to it.
pub async fn companies_page(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    (page, search): (u32, Option<&str>),
) -> DomainResult<PsaCompanyPage> {
    viewer.require(Action::ManageIntegrations)?;
    let (id, psa) = client_of(portal, viewer.instance_id, kind).await?;
    let companies = psa.companies(search).await.map_err(refused)?;
    let mappings: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT m.company_id, o.id, o.name FROM psa_mappings m JOIN organizations o ON o.id = m.organization_id
         WHERE m.integration_id = $1",
    )
    .bind(id)
    .fetch_all(&portal.db.pool)
    .await?;
    let total = companies.len();
    let total_pages = total.div_ceil(COMPANY_PAGE_SIZE).max(1) as u32;
    let page = page.clamp(1, total_pages);
    let items = companies
        .into_iter()
        .skip((page as usize - 1) * COMPANY_PAGE_SIZE)
        .take(COMPANY_PAGE_SIZE)
        .map(|c| PsaCompanyRow {
            mapped_to: mappings
                .iter()
                .find(|(company_id, ..)| *company_id == c.id)
                .map(|(_, id, name)| LinkedOrganization {
                    id: *id,
                    name: name.clone(),
                }),
            id: c.id,
            name: c.name,
        })
        .collect();
    Ok(PsaCompanyPage {
        items,
        page,
        total_pages,
        total: total as u64,
    })
}

/// Imports the PSA's companies as organizations (named as in the PSA) in `scope_id`, each mapped
/// to its company; a company already mapped is skipped. Returns how many were imported.
pub async fn import(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    company_ids: &[i64],
    scope_id: Option<i64>,
    client: &ClientInfo,
) -> DomainResult<u32> {
    viewer.require(Action::ManageIntegrations)?;
    if company_ids.is_empty() {
        return Err(AppError::invalid("company_ids", "Choose the companies to import.").into());
    }
    let (id, psa) = client_of(portal, viewer.instance_id, kind).await?;
    // Every company is read first, so an unknown one refuses the import before any is made.
    let mut companies = Vec::new();
    for &company_id in company_ids {
        if mapped_organization(portal, id, company_id).await?.is_none() {
            let company = psa
                .company(company_id)
                .await
                .map_err(company_refused(kind, company_id))?;
            companies.push(company);
        }
    }
    let mut imported = 0;
    for company in companies {
        let organization_id = organizations::create(portal, viewer, &company.name, scope_id, client).await?;
        let mut tx = portal.db.begin().await?;
        store_mapping(&mut tx, viewer, (id, organization_id), &company, portal.now()).await?;
        tx.commit().await?;
        imported += 1;
    }
    Ok(imported)
}

async fn mapped_organization(
    portal: &Portal,
    integration_id: i64,
    company_id: i64,
) -> DomainResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT organization_id FROM psa_mappings WHERE integration_id = $1 AND company_id = $2",
    )
    .bind(integration_id)
    .bind(company_id)
    .fetch_optional(&portal.db.pool)
    .await?)
}

async fn store_mapping(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    (integration_id, organization_id): (i64, i64),
    company: &PsaCompany,
    now: i64,
) -> DomainResult<()> {
    sqlx::query(
        "INSERT INTO psa_mappings (integration_id, organization_id, company_id, company_name, mapped_at, mapped_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(integration_id)
    .bind(organization_id)
    .bind(company.id)
    .bind(&company.name)
    .bind(now)
    .bind(&viewer.email)
    .execute(conn)
    .await?;
    Ok(())
}

/// Maps an organization to a company of the PSA (`None` removes its mapping: its alerts then go
/// to the default company).
pub async fn map(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    organization_id: i64,
    company_id: Option<i64>,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageIntegrations)?;
    let mut conn = portal.db.pool.acquire().await?;
    let organization = organizations::get(&mut conn, viewer, organization_id).await?;
    drop(conn);
    let (id, psa) = client_of(portal, viewer.instance_id, kind).await?;
    let company = match company_id {
        Some(company_id) => {
            if mapped_organization(portal, id, company_id)
                .await?
                .is_some_and(|o| o != organization.id)
            {
                let message = format!("That {} company is mapped to another organization.", kind.label());
                return Err(AppError::conflict(message).into());
            }
            Some(
                psa.company(company_id)
                    .await
                    .map_err(company_refused(kind, company_id))?,
            )
        }
        None => None,
    };
    let mut tx = portal.db.begin().await?;
    sqlx::query("DELETE FROM psa_mappings WHERE integration_id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization.id)
        .execute(&mut *tx)
        .await?;
    if let Some(company) = &company {
        store_mapping(&mut tx, viewer, (id, organization.id), company, portal.now()).await?;
    }
    let after = company.map_or_else(|| "unmapped".to_owned(), |c| c.name);
    let audit_action = action(kind, "map");
    let entry = Entry::by(viewer, client, &audit_action, &organization.name).after(after);
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Maps each unmapped organization to the PSA company of exactly its name (case aside) that is
/// not mapped yet; a mapping someone set is never replaced. Returns how many.
pub async fn map_by_name(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    client: &ClientInfo,
) -> DomainResult<u32> {
    viewer.require(Action::ManageIntegrations)?;
    let (id, psa) = client_of(portal, viewer.instance_id, kind).await?;
    let companies = psa.companies(None).await.map_err(refused)?;
    let unmapped: Vec<(i64, String)> = sqlx::query_as(
        "SELECT o.id, o.name FROM organizations o
         WHERE o.instance_id = $1
           AND NOT EXISTS (SELECT 1 FROM psa_mappings m WHERE m.integration_id = $2 AND m.organization_id = o.id)",
    )
    .bind(viewer.instance_id)
    .bind(id)
    .fetch_all(&portal.db.pool)
    .await?;
    let mut mapped = 0;
    let mut tx = portal.db.begin().await?;
    for (organization_id, name) in unmapped {
        let same_name: Vec<&PsaCompany> = companies
            .iter()
            .filter(|c| c.name.to_lowercase() == name.to_lowercase())
            .collect();
        // Two companies of the same name: a person has to choose.
        let [company] = same_name.as_slice() else {
            continue;
        };
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT organization_id FROM psa_mappings WHERE integration_id = $1 AND company_id = $2",
        )
        .bind(id)
        .bind(company.id)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_none() {
            store_mapping(&mut tx, viewer, (id, organization_id), company, portal.now()).await?;
            mapped += 1;
        }
    }
    let audit_action = action(kind, "map_by_name");
    let entry = Entry::by(viewer, client, &audit_action, kind.label()).after(format!("{mapped} mapped"));
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(mapped)
}

/// The ticket settings that apply to an organization: its own, or the integration's.
pub async fn organization_settings(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    organization_id: i64,
) -> DomainResult<OrganizationTicketSettings> {
    viewer.require(Action::ManageIntegrations)?;
    let mut conn = portal.db.pool.acquire().await?;
    let organization = organizations::get(&mut conn, viewer, organization_id).await?;
    let row = integrated(&mut conn, viewer.instance_id, kind).await?;
    let own: Option<String> = sqlx::query_scalar(
        "SELECT settings FROM psa_overrides WHERE integration_id = $1 AND organization_id = $2",
    )
    .bind(row.id)
    .bind(organization.id)
    .fetch_optional(&mut *conn)
    .await?;
    let settings = match &own {
        Some(json) => {
            serde_json::from_str(json).map_err(|e| DomainError::internal(format!("PSA override: {e}")))?
        }
        None => defaults_of(&row)?,
    };
    Ok(OrganizationTicketSettings {
        organization: LinkedOrganization {
            id: organization.id,
            name: organization.name,
        },
        own: own.is_some(),
        settings,
    })
}

/// "Overwrite Settings": the organization's alerts follow these settings (checked against
/// the PSA) instead of the integration's.
pub async fn overwrite(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    organization_id: i64,
    settings: TicketDefaults,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageIntegrations)?;
    let mut conn = portal.db.pool.acquire().await?;
    let organization = organizations::get(&mut conn, viewer, organization_id).await?;
    drop(conn);
    let (id, psa) = client_of(portal, viewer.instance_id, kind).await?;
    let settings = checked_defaults((kind, &psa), settings).await?;
    let mut tx = portal.db.begin().await?;
    sqlx::query(
        "INSERT INTO psa_overrides (integration_id, organization_id, settings, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (integration_id, organization_id) DO UPDATE SET settings = excluded.settings,
           updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(id)
    .bind(organization.id)
    .bind(json_of(&settings)?)
    .bind(portal.now())
    .bind(&viewer.email)
    .execute(&mut *tx)
    .await?;
    let audit_action = action(kind, "overwrite");
    let entry = Entry::by(viewer, client, &audit_action, &organization.name);
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// "Use Default Settings": the organization's alerts follow the integration's settings again.
pub async fn use_defaults(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    organization_id: i64,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageIntegrations)?;
    let mut tx = portal.db.begin().await?;
    let organization = organizations::get(&mut tx, viewer, organization_id).await?;
    let row = integrated(&mut tx, viewer.instance_id, kind).await?;
    sqlx::query("DELETE FROM psa_overrides WHERE integration_id = $1 AND organization_id = $2")
        .bind(row.id)
        .bind(organization.id)
        .execute(&mut *tx)
        .await?;
    let audit_action = action(kind, "use_defaults");
    let entry = Entry::by(viewer, client, &audit_action, &organization.name);
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// "Reset For All Organizations": every organization follows the integration's settings;
/// returns how many had their own.
pub async fn reset_all(
    portal: &Portal,
    viewer: &Viewer,
    kind: PsaKind,
    client: &ClientInfo,
) -> DomainResult<u64> {
    viewer.require(Action::ManageIntegrations)?;
    let mut tx = portal.db.begin().await?;
    let row = integrated(&mut tx, viewer.instance_id, kind).await?;
    let reset = sqlx::query("DELETE FROM psa_overrides WHERE integration_id = $1")
        .bind(row.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let audit_action = action(kind, "reset_all");
    let entry = Entry::by(viewer, client, &audit_action, kind.label()).after(format!("{reset} reset"));
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(reset)
}

/// Every PSA integrated with the viewer's instance, with the companies mapped to those of
/// `organization_ids` the viewer may see: the Organizations page's columns, which every role
/// reads (only Superusers change them).
pub async fn mapped_companies(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    organization_ids: &[i64],
) -> DomainResult<Vec<PsaMappings>> {
    viewer.require(Action::View)?;
    let kinds: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, kind FROM psa_integrations WHERE instance_id = $1 ORDER BY id")
            .bind(viewer.instance_id)
            .fetch_all(&mut *conn)
            .await?;
    let wanted: Vec<String> = organization_ids.iter().take(1_000).map(i64::to_string).collect();
    let mut columns = Vec::new();
    for (integration_id, kind) in kinds {
        let Some(psa) = PsaKind::parse(&kind) else {
            continue;
        };
        let mapped: Vec<(i64, i64, String)> = if wanted.is_empty() {
            Vec::new()
        } else {
            // Ids are numbers, written in; the visible-organization subquery is the viewer's.
            let sql = format!(
                "SELECT organization_id, company_id, company_name FROM psa_mappings
                 WHERE integration_id = $1 AND organization_id IN ({}) AND organization_id IN ({})
                 ORDER BY organization_id",
                wanted.join(", "),
                domain::access::visible_organization_ids(viewer, None, None)
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(integration_id)
                .fetch_all(&mut *conn)
                .await?
        };
        columns.push(PsaMappings {
            psa,
            mapped: mapped
                .into_iter()
                .map(|(organization_id, id, name)| OrganizationMapping {
                    organization_id,
                    company: PsaCompany { id, name },
                })
                .collect(),
        });
    }
    Ok(columns)
}
