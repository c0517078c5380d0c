//! The appliance lists and details a viewer may see.

use model::AppError;
use model::appliance::{ApplianceSummary, Storage};
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::DomainResult;
use crate::access::{Viewer, visible_org};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    organization_id: i64,
    organization_name: String,
    online: i64,
    last_seen_at: Option<i64>,
    model: String,
    version: String,
    storage_total: i64,
    storage_free: i64,
    storage_used: i64,
    assets: i64,
}

impl From<Row> for ApplianceSummary {
    fn from(r: Row) -> Self {
        let to_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
        ApplianceSummary {
            id: r.id,
            name: r.name,
            organization_id: r.organization_id,
            organization_name: r.organization_name,
            online: r.online != 0,
            last_seen_at: r.last_seen_at,
            model: r.model,
            version: r.version,
            storage: Storage {
                total_bytes: to_u64(r.storage_total),
                free_bytes: to_u64(r.storage_free),
                used_bytes: to_u64(r.storage_used),
            },
            assets: r.assets,
        }
    }
}

fn select() -> String {
    format!(
        "SELECT a.id, a.name, a.organization_id, o.name AS organization_name, a.online, a.last_seen_at, a.model, a.version,
                a.storage_total, a.storage_free, a.storage_used,
                (SELECT COUNT(*) FROM assets s WHERE s.appliance_id = a.id) AS assets
         FROM appliances a JOIN organizations o ON o.id = a.organization_id
         WHERE o.instance_id = $1 AND {}",
        visible_org(2, 3)
    )
}

/// Every appliance the viewer may see, by name.
pub async fn list(conn: &mut AnyConnection, viewer: &Viewer) -> DomainResult<Vec<ApplianceSummary>> {
    let sql = format!("{} ORDER BY a.name, a.id", select());
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(viewer.instance_id)
        .bind(viewer.all_flag())
        .bind(viewer.user_id)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(ApplianceSummary::from).collect())
}

/// The appliance if the viewer may see it; otherwise "not found".
pub async fn get(conn: &mut AnyConnection, viewer: &Viewer, id: i64) -> DomainResult<ApplianceSummary> {
    let sql = format!("{} AND a.id = $4", select());
    let row: Option<Row> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(viewer.instance_id)
        .bind(viewer.all_flag())
        .bind(viewer.user_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(ApplianceSummary::from)
        .ok_or_else(|| AppError::not_found("Appliance").into())
}
