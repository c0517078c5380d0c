//! The assets appliances protect, as a viewer may see them, with their recovery points and the
//! policy change each is waiting for.

use model::appliance::views::{AssetView, CommandStatus, PolicyChange, RecoveryPointView};
use model::policy::Policy;
use model::tenancy::Page;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::views::{to_u64, visible_row};
use crate::DomainResult;
use crate::access::{BindViewer, Viewer, visible_org};
use crate::db::contains_pattern;

#[derive(sqlx::FromRow)]
struct AssetRow {
    id: i64,
    external_id: String,
    name: String,
    path: String,
    appliance_id: i64,
    appliance_name: String,
    organization_id: i64,
    organization_name: String,
    recovery_points: i64,
    last_recovery_point_at: Option<i64>,
    time_zone: String,
    policy: Option<String>,
    #[sqlx(flatten)]
    policy_command: PolicyCommandColumns,
    restore_roots: String,
}

/// The columns of the policy command an asset row points at (`policy_command_id` of the asset,
/// the rest from `appliance_commands` as `policy_command`, `_status` and `_message`).
#[derive(sqlx::FromRow)]
pub(crate) struct PolicyCommandColumns {
    policy_command_id: Option<i64>,
    policy_command: Option<String>,
    policy_command_status: Option<String>,
    policy_command_message: Option<String>,
}

impl PolicyCommandColumns {
    /// The policy change the row points at, unless it was carried out.
    pub(crate) fn pending_change(self) -> Option<PolicyChange> {
        policy_change(
            self.policy_command_id,
            self.policy_command,
            self.policy_command_status,
            self.policy_command_message,
        )
    }
}

fn policy_change(
    command_id: Option<i64>,
    description: Option<String>,
    status: Option<String>,
    message: Option<String>,
) -> Option<PolicyChange> {
    let status = CommandStatus::parse(&status?);
    (status != CommandStatus::Done).then(|| PolicyChange {
        command_id: command_id.unwrap_or_default(),
        description: description.unwrap_or_default(),
        status,
        message,
    })
}

/// A stored policy; an unreadable one (never written by this portal) counts as none.
pub(crate) fn parse_policy(json: Option<&str>) -> Option<Policy> {
    json.and_then(|j| serde_json::from_str(j).ok())
}

impl From<AssetRow> for AssetView {
    fn from(r: AssetRow) -> Self {
        AssetView {
            id: r.id,
            external_id: r.external_id,
            name: r.name,
            path: r.path,
            appliance_id: r.appliance_id,
            appliance_name: r.appliance_name,
            organization_id: r.organization_id,
            organization_name: r.organization_name,
            recovery_points: r.recovery_points,
            last_recovery_point_at: r.last_recovery_point_at,
            time_zone: r.time_zone,
            policy: parse_policy(r.policy.as_deref()),
            restore_roots: serde_json::from_str(&r.restore_roots).unwrap_or_default(),
            policy_change: r.policy_command.pending_change(),
        }
    }
}

const ASSETS: &str = "FROM assets s JOIN appliances a ON a.id = s.appliance_id JOIN organizations o ON o.id = a.organization_id
    LEFT JOIN appliance_commands c ON c.id = s.policy_command_id
    WHERE a.deleted_at IS NULL AND o.instance_id = $1";
const ASSET_COLUMNS: &str =
    "SELECT s.id, s.external_id, s.name, s.path, a.id AS appliance_id, a.name AS appliance_name,
        o.id AS organization_id, o.name AS organization_name, a.time_zone, s.policy,
        s.policy_command_id, c.description AS policy_command, c.status AS policy_command_status,
        c.message AS policy_command_message, a.restore_roots,
        (SELECT COUNT(*) FROM recovery_points r WHERE r.asset_id = s.id) AS recovery_points,
        (SELECT MAX(r.taken_at) FROM recovery_points r WHERE r.asset_id = s.id) AS last_recovery_point_at";

/// Filters of the asset lists (Protect → Assets and an appliance's detail).
#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    pub appliance_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub name_contains: Option<String>,
    pub page: u32,
    pub per_page: u32,
}

/// One page of the assets the viewer may see, filtered.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id))]
pub async fn list(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    query: &AssetQuery,
) -> DomainResult<Page<AssetView>> {
    let per_page = query.per_page.clamp(1, 200);
    let page = query.page.max(1);
    let name = contains_pattern(query.name_contains.as_deref());
    let conditions = format!(
        "{ASSETS} AND {} AND ($4 IS NULL OR a.id = $4) AND ($5 IS NULL OR o.id = $5)
           AND ($6 IS NULL OR LOWER(s.name) LIKE $6 ESCAPE '\\' OR LOWER(s.path) LIKE $6 ESCAPE '\\'
                OR LOWER(a.name) LIKE $6 ESCAPE '\\')",
        visible_org(2, 3)
    );
    let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) {conditions}")))
        .bind_viewer(viewer)
        .bind(query.appliance_id)
        .bind(query.organization_id)
        .bind(name.clone())
        .fetch_one(&mut *conn)
        .await?;
    let sql =
        format!("{ASSET_COLUMNS} {conditions} ORDER BY o.name, a.name, s.name, s.id LIMIT $7 OFFSET $8");
    let rows: Vec<AssetRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind_viewer(viewer)
        .bind(query.appliance_id)
        .bind(query.organization_id)
        .bind(name)
        .bind(i64::from(per_page))
        .bind(i64::from(per_page) * i64::from(page - 1))
        .fetch_all(conn)
        .await?;
    Ok(Page {
        items: rows.into_iter().map(AssetView::from).collect(),
        total,
        page,
        per_page,
    })
}

/// The asset if the viewer may see it; otherwise "not found".
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, id = id))]
pub async fn get(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<AssetView> {
    let sql = format!("{ASSET_COLUMNS} {ASSETS} AND {} AND s.id = $4", visible_org(2, 3));
    visible_row::<AssetRow>(conn, viewer, sql, id, "Asset")
        .await
        .map(AssetView::from)
}

/// The asset's recovery points, newest first.
#[tracing::instrument(skip_all, fields(user_id = viewer.user_id, asset_id = asset_id))]
pub async fn recovery_points(
    conn: &mut AnyConnection,
    viewer: &Viewer,
    asset_id: i64,
) -> DomainResult<Vec<RecoveryPointView>> {
    let asset = get(conn, viewer, asset_id).await?;
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT external_id, taken_at, size_bytes, files FROM recovery_points WHERE asset_id = $1 ORDER BY taken_at DESC, id DESC",
    )
    .bind(asset.id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, taken_at, size, files)| RecoveryPointView {
            id,
            taken_at,
            size_bytes: to_u64(size),
            files: to_u64(files),
        })
        .collect())
}
