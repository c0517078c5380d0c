//! The portal's IT Glue integration (spec portal-c §1.9): a Superuser stores the API key (tested
//! first, sealed with the instance key, never shown again), imports IT Glue organizations as
//! portal organizations and links organizations to them (by exact name on request, never
//! replacing a link someone set); every hour and on demand, each linked organization's
//! appliances are written to IT Glue as configurations named after them, their notes carrying
//! the backup facts (upsert by name).

use domain::access::Viewer;
use domain::appliances::assets::AssetQuery;
use domain::audit::{self, Entry};
use domain::{ClientInfo, DomainError, DomainResult, Portal, organizations};
use model::appliance::views::{ApplianceFilter, AssetView};
use model::itglue::{
    ItGlueOrganization, ItGlueOrganizationPage, ItGlueSettings, LinkedOrganization, SyncReport,
};
use model::lists::AssetSort;
use model::{Action, AppError, Role};
use sqlx::AnyConnection;

use super::{ConfigurationFacts, ItGlueClient, ItGlueError};

/// Organizations per page of the Import list (spec: 100).
pub const IMPORT_PAGE_SIZE: u32 = 100;
/// How often the background pass writes every instance's facts.
pub const SYNC_EVERY_MS: i64 = 60 * 60 * 1000;

fn refused(error: ItGlueError) -> DomainError {
    let field = match error {
        ItGlueError::BadKey => "api_key",
        ItGlueError::Unreachable(_) => "base_url",
        _ => "itglue",
    };
    AppError::invalid(field, error.to_string()).into()
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    base_url: String,
    api_key: String,
    updated_at: i64,
    updated_by: String,
    last_sync_at: Option<i64>,
    last_sync_result: Option<String>,
    last_sync_ok: i64,
}

async fn stored(conn: &mut AnyConnection, instance_id: i64) -> DomainResult<Option<SettingsRow>> {
    Ok(sqlx::query_as(
        "SELECT base_url, api_key, updated_at, updated_by, last_sync_at, last_sync_result, last_sync_ok
         FROM itglue_integrations WHERE instance_id = $1",
    )
    .bind(instance_id)
    .fetch_optional(conn)
    .await?)
}

/// The instance's integration, if it has one (Superusers).
pub async fn settings(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Option<ItGlueSettings>> {
    viewer.require(Action::ManageIntegrations)?;
    let Some(row) = stored(&mut *conn, viewer.instance_id).await? else {
        return Ok(None);
    };
    let linked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM itglue_links WHERE instance_id = $1")
        .bind(viewer.instance_id)
        .fetch_one(conn)
        .await?;
    Ok(Some(ItGlueSettings {
        base_url: row.base_url,
        updated_at: row.updated_at,
        updated_by: row.updated_by,
        last_sync_at: row.last_sync_at,
        last_sync_result: row.last_sync_result,
        last_sync_ok: row.last_sync_ok != 0,
        linked,
    }))
}

/// The stored client of the instance, or "not integrated".
async fn client_of(portal: &Portal, instance_id: i64) -> DomainResult<ItGlueClient> {
    let mut conn = portal.db.pool.acquire().await?;
    let row = stored(&mut conn, instance_id)
        .await?
        .ok_or_else(|| AppError::conflict("IT Glue is not integrated yet."))?;
    let key = portal.vault.open(&row.api_key)?;
    ItGlueClient::new(&row.base_url, &key).map_err(refused)
}

/// Tests the key against IT Glue and stores it (an empty key keeps the stored one).
pub async fn integrate(
    portal: &Portal,
    viewer: &Viewer,
    (base_url, api_key): (&str, &str),
    client: &ClientInfo,
) -> DomainResult<ItGlueSettings> {
    viewer.require(Action::ManageIntegrations)?;
    let base_url = checked_base_url(base_url)?;
    let mut conn = portal.db.pool.acquire().await?;
    let before = stored(&mut conn, viewer.instance_id).await?;
    drop(conn);
    let key = match (api_key.trim(), &before) {
        ("", Some(row)) => portal.vault.open(&row.api_key)?,
        ("", None) => {
            return Err(
                AppError::invalid("api_key", "Enter the API key from IT Glue (Account → API Keys).").into(),
            );
        }
        (key, _) => key.to_owned(),
    };
    ItGlueClient::new(&base_url, &key)
        .map_err(refused)?
        .test()
        .await
        .map_err(refused)?;
    let mut tx = portal.db.begin().await?;
    sqlx::query(
        "INSERT INTO itglue_integrations (instance_id, base_url, api_key, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (instance_id) DO UPDATE SET base_url = excluded.base_url, api_key = excluded.api_key,
                                                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(viewer.instance_id)
    .bind(&base_url)
    .bind(portal.vault.seal(&key))
    .bind(portal.now())
    .bind(&viewer.email)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "itglue.integrate", &base_url),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    let mut conn = portal.db.pool.acquire().await?;
    settings(&mut conn, viewer)
        .await?
        .ok_or_else(|| DomainError::internal("the integration just stored is missing"))
}

/// IT Glue's API hosts, or a URL given for a private relay (https) or a local emulator.
fn checked_base_url(text: &str) -> Result<String, AppError> {
    let url = text.trim().trim_end_matches('/');
    let url = if url.is_empty() { super::US } else { url };
    model::webhooks::check_webhook_url(url).map_err(|_| {
        AppError::invalid(
            "base_url",
            "Enter IT Glue's API address, e.g. https://api.itglue.com (EU: https://api.eu.itglue.com).",
        )
    })
}

/// Removes the integration and every link (the organizations stay).
pub async fn remove(portal: &Portal, viewer: &Viewer, client: &ClientInfo) -> DomainResult<()> {
    viewer.require(Action::ManageIntegrations)?;
    let mut tx = portal.db.begin().await?;
    let removed = sqlx::query("DELETE FROM itglue_integrations WHERE instance_id = $1")
        .bind(viewer.instance_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(AppError::conflict("IT Glue is not integrated.").into());
    }
    sqlx::query("DELETE FROM itglue_links WHERE instance_id = $1")
        .bind(viewer.instance_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Entry::by(viewer, client, "itglue.remove", "IT Glue"),
        portal.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A page of IT Glue's organizations by name, each with its linked portal organization.
pub async fn organizations_page(
    portal: &Portal,
    viewer: &Viewer,
    page: u32,
) -> DomainResult<ItGlueOrganizationPage> {
    viewer.require(Action::ManageIntegrations)?;
    let client = client_of(portal, viewer.instance_id).await?;
    let found = client
        .organizations(page, IMPORT_PAGE_SIZE, None)
        .await
        .map_err(refused)?;
    let links: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT l.itglue_id, o.id, o.name FROM itglue_links l JOIN organizations o ON o.id = l.organization_id
         WHERE l.instance_id = $1",
    )
    .bind(viewer.instance_id)
    .fetch_all(&portal.db.pool)
    .await?;
    let items = found
        .items
        .into_iter()
        .map(|o| ItGlueOrganization {
            linked_to: links
                .iter()
                .find(|(itglue_id, ..)| *itglue_id == o.id)
                .map(|(_, id, name)| LinkedOrganization {
                    id: *id,
                    name: name.clone(),
                }),
            id: o.id,
            name: o.name,
        })
        .collect();
    Ok(ItGlueOrganizationPage {
        items,
        page: found.page,
        total_pages: found.total_pages,
        total: found.total_count,
    })
}

/// Imports IT Glue organizations as portal organizations (named as in IT Glue) in `scope_id`,
/// each linked to its IT Glue organization; an IT Glue organization already linked is skipped.
/// Returns how many were imported.
pub async fn import(
    portal: &Portal,
    viewer: &Viewer,
    itglue_ids: &[i64],
    scope_id: Option<i64>,
    client: &ClientInfo,
) -> DomainResult<u32> {
    viewer.require(Action::ManageIntegrations)?;
    if itglue_ids.is_empty() {
        return Err(AppError::invalid("itglue_ids", "Choose the organizations to import.").into());
    }
    let itglue = client_of(portal, viewer.instance_id).await?;
    let mut imported = 0;
    for &itglue_id in itglue_ids {
        if linked_portal_organization(portal, viewer.instance_id, itglue_id)
            .await?
            .is_some()
        {
            continue;
        }
        let name = itglue_name(&itglue, itglue_id).await?;
        let organization_id = organizations::create(portal, viewer, &name, scope_id, client).await?;
        let mut tx = portal.db.begin().await?;
        store_link(&mut tx, viewer, (organization_id, itglue_id, &name), portal.now()).await?;
        tx.commit().await?;
        imported += 1;
    }
    Ok(imported)
}

/// The name of an IT Glue organization, found by paging (IT Glue filters by name, not by id).
async fn itglue_name(client: &ItGlueClient, itglue_id: i64) -> DomainResult<String> {
    let mut page = 1;
    loop {
        let found = client
            .organizations(page, super::MAX_PAGE_SIZE, None)
            .await
            .map_err(refused)?;
        if let Some(o) = found.items.into_iter().find(|o| o.id == itglue_id) {
            return Ok(o.name);
        }
        if page >= found.total_pages {
            return Err(AppError::not_found(format!("IT Glue organization {itglue_id}")).into());
        }
        page += 1;
    }
}

async fn linked_portal_organization(
    portal: &Portal,
    instance_id: i64,
    itglue_id: i64,
) -> DomainResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT organization_id FROM itglue_links WHERE instance_id = $1 AND itglue_id = $2",
    )
    .bind(instance_id)
    .bind(itglue_id)
    .fetch_optional(&portal.db.pool)
    .await?)
}

async fn store_link(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    (organization_id, itglue_id, itglue_name): (i64, i64, &str),
    now: i64,
) -> DomainResult<()> {
    sqlx::query(
        "INSERT INTO itglue_links (organization_id, instance_id, itglue_id, itglue_name, linked_at, linked_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(organization_id)
    .bind(viewer.instance_id)
    .bind(itglue_id)
    .bind(itglue_name)
    .bind(now)
    .bind(&viewer.email)
    .execute(conn)
    .await?;
    Ok(())
}

/// Links a portal organization to an IT Glue organization (`None` unlinks it).
pub async fn link(
    portal: &Portal,
    viewer: &Viewer,
    organization_id: i64,
    itglue_id: Option<i64>,
    client: &ClientInfo,
) -> DomainResult<()> {
    viewer.require(Action::ManageIntegrations)?;
    let mut conn = portal.db.pool.acquire().await?;
    let organization = organizations::get(&mut conn, viewer, organization_id).await?;
    drop(conn);
    let name = match itglue_id {
        Some(id) => {
            if linked_portal_organization(portal, viewer.instance_id, id)
                .await?
                .is_some_and(|o| o != organization.id)
            {
                return Err(AppError::conflict(
                    "That IT Glue organization is linked to another organization.",
                )
                .into());
            }
            Some(itglue_name(&client_of(portal, viewer.instance_id).await?, id).await?)
        }
        None => None,
    };
    let mut tx = portal.db.begin().await?;
    sqlx::query("DELETE FROM itglue_links WHERE organization_id = $1")
        .bind(organization.id)
        .execute(&mut *tx)
        .await?;
    if let (Some(id), Some(name)) = (itglue_id, &name) {
        store_link(&mut tx, viewer, (organization.id, id, name), portal.now()).await?;
    }
    let after = name.unwrap_or_else(|| "unlinked".into());
    let entry = Entry::by(viewer, client, "itglue.link", &organization.name).after(after);
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Links each unlinked portal organization to the IT Glue organization of exactly its name (case
/// aside), where that one is not linked yet; a link someone set is never replaced. Returns how
/// many were linked.
pub async fn link_by_name(portal: &Portal, viewer: &Viewer, client: &ClientInfo) -> DomainResult<u32> {
    viewer.require(Action::ManageIntegrations)?;
    let itglue = client_of(portal, viewer.instance_id).await?;
    let mut candidates = Vec::new();
    let mut page = 1;
    loop {
        let found = itglue
            .organizations(page, super::MAX_PAGE_SIZE, None)
            .await
            .map_err(refused)?;
        candidates.extend(found.items);
        if page >= found.total_pages {
            break;
        }
        page += 1;
    }
    let unlinked: Vec<(i64, String)> = sqlx::query_as(
        "SELECT o.id, o.name FROM organizations o
         WHERE o.instance_id = $1 AND NOT EXISTS (SELECT 1 FROM itglue_links l WHERE l.organization_id = o.id)",
    )
    .bind(viewer.instance_id)
    .fetch_all(&portal.db.pool)
    .await?;
    let mut linked = 0;
    let mut tx = portal.db.begin().await?;
    for (organization_id, name) in unlinked {
        let Some(match_) = candidates
            .iter()
            .find(|c| c.name.to_lowercase() == name.to_lowercase())
        else {
            continue;
        };
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT organization_id FROM itglue_links WHERE instance_id = $1 AND itglue_id = $2",
        )
        .bind(viewer.instance_id)
        .bind(match_.id)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_none() {
            store_link(
                &mut tx,
                viewer,
                (organization_id, match_.id, &match_.name),
                portal.now(),
            )
            .await?;
            linked += 1;
        }
    }
    let entry = Entry::by(viewer, client, "itglue.link_by_name", "IT Glue").after(format!("{linked} linked"));
    audit::record(&mut tx, entry, portal.now()).await?;
    tx.commit().await?;
    Ok(linked)
}

/// Writes every linked organization's appliances to IT Glue now (Superusers, "Sync now").
pub async fn sync_now(portal: &Portal, viewer: &Viewer) -> DomainResult<SyncReport> {
    viewer.require(Action::ManageIntegrations)?;
    sync_instance(portal, viewer.instance_id).await
}

/// Each instance whose last pass is an hour old (or never ran) is synced; returns how many.
pub async fn sync_due(portal: &Portal) -> DomainResult<usize> {
    let due: Vec<i64> = sqlx::query_scalar(
        "SELECT instance_id FROM itglue_integrations WHERE last_sync_at IS NULL OR last_sync_at <= $1",
    )
    .bind(portal.now() - SYNC_EVERY_MS)
    .fetch_all(&portal.db.pool)
    .await?;
    for instance_id in &due {
        if let Err(error) = sync_instance(portal, *instance_id).await {
            tracing::warn!(instance_id, %error, "IT Glue sync failed");
        }
    }
    Ok(due.len())
}

/// One pass for an instance: records its outcome on the integration either way.
async fn sync_instance(portal: &Portal, instance_id: i64) -> DomainResult<SyncReport> {
    let outcome = write_facts(portal, instance_id).await;
    let (ok, text) = match &outcome {
        Ok(report) if report.problems.is_empty() => {
            (true, format!("{} configuration(s) written", report.written))
        }
        Ok(report) => (
            false,
            format!("{} written; {}", report.written, report.problems.join("; ")),
        ),
        Err(DomainError::Rejected(error)) => (false, error.to_string()),
        Err(error) => (false, error.to_string()),
    };
    sqlx::query(
        "UPDATE itglue_integrations SET last_sync_at = $1, last_sync_result = $2, last_sync_ok = $3 WHERE instance_id = $4",
    )
    .bind(portal.now())
    .bind(text)
    .bind(i64::from(ok))
    .bind(instance_id)
    .execute(&portal.db.pool)
    .await?;
    outcome
}

async fn write_facts(portal: &Portal, instance_id: i64) -> DomainResult<SyncReport> {
    let itglue = client_of(portal, instance_id).await?;
    // The pass reads as the instance sees itself: every organization, no user behind it.
    let system = Viewer {
        instance_id,
        user_id: 0,
        email: "IT Glue sync".into(),
        role: Role::Superuser,
        global_scope: true,
    };
    let links: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT l.organization_id, l.itglue_id, o.name FROM itglue_links l JOIN organizations o ON o.id = l.organization_id
         WHERE l.instance_id = $1 ORDER BY o.name_key",
    )
    .bind(instance_id)
    .fetch_all(&portal.db.pool)
    .await?;
    let mut report = SyncReport::default();
    for (organization_id, itglue_id, name) in links {
        let mut conn = portal.db.pool.acquire().await?;
        let filter = ApplianceFilter {
            organization_id: Some(organization_id),
            ..ApplianceFilter::default()
        };
        let appliances = domain::appliances::views::list(&mut conn, &system, &filter).await?;
        for appliance in appliances {
            let query = AssetQuery {
                scope_id: None,
                appliance_id: Some(appliance.id),
                organization_id: None,
                name_contains: None,
                appliance_contains: None,
                recent_failures: false,
                sort: AssetSort::Name,
                descending: false,
                page: 1,
                per_page: 250,
            };
            let assets = domain::appliances::assets::list(&mut conn, &system, &query, portal.now()).await?;
            let facts = ConfigurationFacts {
                organization_id: itglue_id,
                name: appliance.name.clone(),
                notes: notes(&appliance, &assets.items),
            };
            match itglue.upsert_configuration(&facts).await {
                Ok(_) => report.written += 1,
                Err(ItGlueError::Refused(why)) => report.problems.push(format!("{name}: {why}")),
                // Key, reachability and rate limits end the pass; the next one continues.
                Err(error) => return Err(refused(error)),
            }
        }
    }
    Ok(report)
}

/// The backup facts of an appliance and its assets, as a configuration's notes.
fn notes(appliance: &model::appliance::views::ApplianceSummary, assets: &[AssetView]) -> String {
    let when = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "never".into())
    };
    let gib = |bytes: u64| format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64);
    let mut lines = vec![
        "Backup status from Backplane".to_owned(),
        format!(
            "Appliance: {} ({}), last seen {}",
            appliance.name,
            if appliance.online { "online" } else { "offline" },
            when(appliance.last_seen_at)
        ),
        format!(
            "Storage used: {} of {}",
            gib(appliance.storage.used_bytes),
            gib(appliance.storage.total_bytes)
        ),
    ];
    for asset in assets {
        let last = asset
            .last_backup
            .as_ref()
            .map(|b| format!("{} {}", b.state.as_str(), when(Some(b.started_at))))
            .unwrap_or_else(|| "none".into());
        lines.push(format!(
            "- {}: last backup {last}; last copy {}; last verified {}",
            asset.name,
            when(asset.last_copy_at),
            asset
                .last_verified
                .as_ref()
                .map(|v| format!("{} {}", v.state.as_str(), when(Some(v.started_at))))
                .unwrap_or_else(|| "never".into())
        ));
    }
    lines.join("\n")
}
