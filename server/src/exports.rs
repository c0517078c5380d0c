//! Plain HTTP downloads (not server functions): the audit log as CSV, the VSA module package.

use std::collections::HashMap;

use app::server::RequestSession;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::access::Viewer;
use domain::sessions::Stage;
use model::{Action, AppError};

use crate::AppState;

/// Path of the audit log export; declared in `app::endpoints` like every server function.
pub const AUDIT_CSV: &str = "/settings/audit/export.csv";

fn refusal(error: AppError) -> Response {
    let status = match error {
        AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
        AppError::Forbidden | AppError::Denied { .. } => StatusCode::FORBIDDEN,
        AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, error.to_string()).into_response()
}

/// Signed in (ManageIntegrations): `UniView.vsaz`, the module VSA 9 installs.
pub async fn vsa_manifest(
    State(state): State<AppState>,
    Extension(session): Extension<RequestSession>,
) -> Response {
    let Some(session) = session.0.filter(|s| s.stage == Stage::Full) else {
        return refusal(AppError::Unauthenticated);
    };
    match integrations::vsa::manifest::download(&state.portal, &Viewer::of(&session)) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/zip".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", model::vsa::MANIFEST_FILE_NAME),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(domain::DomainError::Rejected(error)) => refusal(error),
        Err(error) => {
            tracing::error!(%error, "VSA module package failed");
            refusal(AppError::Internal {
                request_id: String::new(),
            })
        }
    }
}

/// Signed in (ReadAuditLog): the filtered records (the page's filter, up to 100,000 rows).
pub async fn audit_csv(
    State(state): State<AppState>,
    Extension(session): Extension<RequestSession>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(session) = session.0.filter(|s| s.stage == Stage::Full) else {
        return refusal(AppError::Unauthenticated);
    };
    let viewer = Viewer::of(&session);
    if let Err(error) = viewer.require(Action::ReadAuditLog) {
        return refusal(error);
    }
    let param = |key: &str| params.get(key).cloned();
    let query = match app::settings::api::audit_query(
        param("actor"),
        param("action"),
        param("from").as_deref(),
        param("until").as_deref(),
    ) {
        Ok(query) => query,
        Err(error) => return refusal(error),
    };
    let csv = async {
        let mut conn = state.portal.db.pool.acquire().await?;
        let records = domain::audit::search(&mut conn, &viewer, &query, 100_000).await?;
        domain::audit::to_csv(&records)
    };
    match csv.await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"backplane-audit.csv\"",
                ),
            ],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "audit export failed");
            refusal(AppError::Internal {
                request_id: String::new(),
            })
        }
    }
}
