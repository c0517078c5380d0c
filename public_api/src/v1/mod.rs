//! `/api/v1`: the operations, their OpenAPI document and its reference page.

use axum::Router;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::ApiState;
use crate::problem::Problem;

pub mod alerts;
pub mod appliances;
pub mod assets;
pub mod jobs;
pub mod organizations;
pub mod paging;
pub mod policies;
pub mod scopes;

pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
pub const DOCS_PATH: &str = "/api/v1/docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Backplane public API",
        description = "Organizations, appliances, assets, jobs and alerts of one Backplane instance, as the API credential's creator sees them. Get a token with the client credentials grant at /connect/token.",
    ),
    modifiers(&ClientCredentialsSecurity),
    tags(
        (name = "scopes"), (name = "organizations"), (name = "appliances"), (name = "assets"), (name = "jobs"), (name = "alerts"),
    )
)]
struct ApiDoc;

/// The OAuth 2.0 client credentials flow as the document's security scheme.
struct ClientCredentialsSecurity;

impl Modify for ClientCredentialsSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scopes = Scopes::from_iter([
            (model::api_access::READ_SCOPE, "Read"),
            (
                model::api_access::WRITE_SCOPE,
                "Dismiss alerts, set backup policies",
            ),
        ]);
        let flow = Flow::ClientCredentials(ClientCredentials::new(crate::token::TOKEN_PATH, scopes));
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("oauth2", SecurityScheme::OAuth2(OAuth2::new([flow])));
    }
}

/// The document, generated from the handlers below.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

fn api_router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(organizations::list))
        .routes(routes!(organizations::get))
        .routes(routes!(appliances::list))
        .routes(routes!(appliances::get))
        .routes(routes!(assets::list))
        .routes(routes!(policies::get_asset))
        .routes(routes!(policies::set_policy, policies::remove_policy))
        .routes(routes!(scopes::list))
        .routes(routes!(jobs::list))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::dismiss))
}

pub fn router(state: ApiState) -> Router {
    let (routes, document) = api_router().split_for_parts();
    Router::new()
        .merge(routes.with_state(state))
        .merge(SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, document))
}

/// An object's id from the path; anything but a whole number is a 400 naming `id`.
pub struct IdPath(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdPath {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<IdPath, Problem> {
        axum::extract::Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| IdPath(id))
            .map_err(|_| Problem::invalid("id", "The id in the path must be a whole number."))
    }
}

/// The query string parsed into `T`; a value of the wrong form names its parameter.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, Problem> {
    serde_urlencoded::from_str(raw.unwrap_or_default()).map_err(|e| Problem::invalid("query", e.to_string()))
}
