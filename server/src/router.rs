//! The HTTP application: Leptos pages and server functions behind the middleware stack.

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use leptos::prelude::*;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::middleware::{
    guard_pages, reject_cross_site, resolve_session, security_headers, server_fn_error_status,
};
use crate::ops;

/// Options for serving the site `make build` wrote into `target/site`.
pub fn built_site_options() -> LeptosOptions {
    let mut options = LeptosOptions::builder()
        .output_name("backplane")
        .site_root("target/site")
        .build();
    use_hashed_names(&mut options);
    options
}

/// When the build left a hash file in the site root (`site-build` always does), pages name the
/// content-hashed files it lists. Leptos looks for the file beside the executable unless its
/// path is absolute, so it is made absolute: the site folder travels without the binary.
pub fn use_hashed_names(options: &mut LeptosOptions) {
    let hash_file = std::path::Path::new(&*options.site_root).join(HASH_FILE);
    let hash_file = std::path::absolute(&hash_file).unwrap_or(hash_file);
    options.hash_files = hash_file.is_file();
    if options.hash_files {
        options.hash_file = hash_file.display().to_string().into();
    }
}

/// Written by `site-build` into the site root: `js: <hash>`, `wasm: <hash>`, `css: <hash>`.
const HASH_FILE: &str = "hash.txt";

/// The app's routes, generated once per process: while leptos generates them it holds back
/// every resource load in the process, so a page another thread rendered meanwhile (a second
/// router in the same test process) would never finish.
fn routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES
        .get_or_init(|| {
            crate::render_thread::install();
            generate_route_list(app::App)
        })
        .clone()
}

pub fn build(state: AppState, options: LeptosOptions) -> Router {
    // Installed before the first request, so its count is not lost.
    ops::recorder();
    let routes = routes();
    let context_state = state.clone();
    let provide = move || {
        provide_context(context_state.portal.clone());
        provide_context(context_state.cookies.clone());
    };
    let shell_options = options.clone();
    let appliances = Router::new()
        .route(
            crate::gateway::REGISTER_PATH,
            axum::routing::post(crate::gateway::register),
        )
        .route(
            crate::gateway::CONNECT_PATH,
            axum::routing::get(crate::gateway::connect),
        )
        .route(model::live::LIVE_PATH, axum::routing::get(crate::live::socket))
        .with_state(state.clone());
    let package = site_package(&options);
    let operators = Router::new()
        .route(ops::HEALTH_PATH, get(ops::healthz))
        .route(ops::READY_PATH, get(ops::readyz))
        .route(ops::METRICS_PATH, get(ops::metrics_with_token))
        .with_state(state.clone());
    let downloads = Router::new()
        .route(
            crate::exports::AUDIT_CSV,
            axum::routing::get(crate::exports::audit_csv),
        )
        .route(
            model::vsa::MANIFEST_PATH,
            axum::routing::get(crate::exports::vsa_manifest),
        )
        .with_state(state.clone());
    let single_sign_on = Router::new()
        .route(identity::login::START_PATH, get(crate::sso::start))
        .route(
            identity::login::CALLBACK_PATH,
            get(crate::sso::callback_get).post(crate::sso::callback_post),
        )
        .with_state(state.clone());
    let public_api = public_api::router(public_api::ApiState::with_rate_limit(
        state.portal.clone(),
        state.api_keys.clone(),
        state.api_rate_limit,
    ));
    Router::new()
        .nest_service(PACKAGE_PATH, package)
        .leptos_routes_with_context(&options, routes, provide.clone(), move || {
            app::shell(shell_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(
            provide,
            app::shell,
        ))
        .with_state(options)
        .layer(axum::middleware::from_fn(crate::render_thread::render_pages))
        .merge(downloads)
        .merge(appliances)
        .merge(operators)
        .merge(public_api)
        .merge(single_sign_on)
        .layer(axum::middleware::from_fn(server_fn_error_status))
        .layer(from_fn_with_state(state.clone(), guard_pages))
        .layer(from_fn_with_state(state.clone(), resolve_session))
        .layer(from_fn_with_state(state.clone(), reject_cross_site))
        .layer(from_fn_with_state(state, security_headers))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(ops::count_requests))
}

/// Where the wasm, its JavaScript and the CSS are served from.
const PACKAGE_PATH: &str = "/pkg";

/// The wasm, its JavaScript and the CSS: compressed with brotli or gzip as the browser accepts
/// (a `.br` or `.gz` file beside the original is sent as is, else it is compressed on the fly).
/// A file whose name holds its content's hash is cached for a year; any other is revalidated on
/// every load, since its name does not change between builds.
fn site_package(options: &LeptosOptions) -> Router {
    let folder = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let mut files = ServeDir::new(&folder);
    if precompressed_files_are_current(&folder, "br") {
        files = files.precompressed_br();
    }
    if precompressed_files_are_current(&folder, "gz") {
        files = files.precompressed_gzip();
    }
    Router::new()
        .fallback_service(files)
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(cache_by_name))
}

async fn cache_by_name(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let name = request.uri().path().rsplit('/').next().unwrap_or_default();
    let immutable = is_content_hashed(name);
    let mut response = next.run(request).await;
    let policy = if immutable && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

/// `<stem>.<22 URL-safe characters>.<extension>`, the names `site-build` gives.
fn is_content_hashed(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[parts.len() - 2].len() == 22
        && parts[parts.len() - 2]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether every `<file>.<extension>` in `folder` is at least as new as `<file>`. A build after
/// `make release` rewrites the originals but not the compressed copies; serving those would send
/// the browser an old wasm, so then none are used (and the files are compressed per request).
fn precompressed_files_are_current(folder: &std::path::Path, extension: &str) -> bool {
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return true;
    };
    let stale: Vec<_> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .filter(|compressed| {
            let original = compressed.with_extension("");
            match (modified(compressed), modified(&original)) {
                (Some(made), Some(changed)) => made < changed,
                _ => true,
            }
        })
        .collect();
    if !stale.is_empty() {
        tracing::warn!(files = ?stale, "precompressed files older than what they compress: compressing per request instead");
    }
    stale.is_empty()
}

/// The separate metrics listener's router: `/metrics` without a token, nothing else.
pub fn metrics_only(state: AppState) -> Router {
    Router::new()
        .route(ops::METRICS_PATH, get(ops::metrics_open))
        .with_state(state)
}

/// A request's log span: method and path only. Query strings carry one-time tokens (setup,
/// activation and reset links), which never belong in a log.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}

#[cfg(test)]
mod tests {
    use super::is_content_hashed;

    #[test]
    fn only_names_with_a_22_character_hash_are_content_hashed() {
        assert!(is_content_hashed("backplane.Jq0fV3y2mZlqk7Qx1bE5aA.wasm"));
        assert!(is_content_hashed("backplane.wAsM-hash_0123456789ab.js"));
        assert!(!is_content_hashed("backplane.wasm"));
        assert!(!is_content_hashed("backplane.js"));
        assert!(!is_content_hashed("backplane.short.css"));
        assert!(!is_content_hashed("backplane.Jq0fV3y2mZlqk7Qx1bE5a!.js"));
        assert!(!is_content_hashed("Jq0fV3y2mZlqk7Qx1bE5aA.js"));
    }
}
