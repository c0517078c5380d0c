//! `GET /api/v1/scopes`: the scopes the caller holds.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{Problem, ProblemDetails};

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    pub id: i64,
    pub name: String,
    pub organizations: i64,
    pub users: i64,
}

/// The scopes the caller holds (every scope for a Superuser or Global Scope), by name.
#[utoipa::path(
    get, path = "/api/v1/scopes", tag = "scopes",
    security(("oauth2" = ["public_api"])),
    responses(
        (status = 200, body = Vec<Scope>),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list(State(state): State<ApiState>, caller: Caller) -> Result<Json<Vec<Scope>>, Problem> {
    let mut conn = state.conn().await?;
    let scopes = domain::scopes::list(&mut conn, &caller.viewer).await?;
    Ok(Json(
        scopes
            .into_iter()
            .map(|s| Scope {
                id: s.id,
                name: s.name,
                organizations: s.organizations,
                users: s.users,
            })
            .collect(),
    ))
}
