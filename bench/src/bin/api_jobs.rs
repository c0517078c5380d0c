//! `/api/v1/jobs` benchmark: the Jobs → Recent database (`bench::seed`), then the public API's
//! jobs list called through its real router (token check, the credential's creator looked up,
//! the query, JSON), in process, for a Superuser's token and for a token whose creator's one
//! scope holds 1 % of the organizations: the default page, a later page, each filter and each
//! order. Prints one JSON line per token. Run by `scripts/bench-api-jobs.sh`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use bench::QueryTimes;
use bench::seed::Target;
use clap::Parser;
use domain::access::Viewer;
use domain::{ClientInfo, Db, ManualClock, Portal};
use public_api::auth::RateLimit;
use public_api::{ApiState, SigningKeys};
use tower::ServiceExt;

/// Times `/api/v1/jobs` over a seeded database, for a Superuser's token and a one-scope token.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    target: Target,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let now = 1_800_000_000_000;
    let filled = args.target.fill(now).await;
    let db = &filled.db;
    let mut portal = Portal::new(db.clone(), "http://bench.example");
    portal.clock = Arc::new(ManualClock::new(now));
    let unlimited = RateLimit {
        per_minute: u32::MAX,
        burst: u32::MAX,
    };
    let router = public_api::router(ApiState::with_rate_limit(
        portal.clone(),
        Arc::new(SigningKeys::ephemeral()),
        unlimited,
    ));
    let paths = paths(db, &filled.scoped).await;
    for (who, viewer) in [("superuser", &filled.root), ("one_scope", &filled.scoped)] {
        let token = token(&portal, &router, viewer).await;
        let mut times = QueryTimes::default();
        for (name, path) in &paths {
            let mut runs = Vec::with_capacity(args.target.runs);
            for _ in 0..args.target.runs {
                let request = Request::get(path.as_str())
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap();
                let t = Instant::now();
                let response = router.clone().oneshot(request).await.unwrap();
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 16 << 20)
                    .await
                    .unwrap();
                runs.push(t.elapsed().as_micros() as u64);
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "{path}: {}",
                    String::from_utf8_lossy(&body)
                );
                std::hint::black_box(body);
            }
            times.record(who, name, runs, "");
        }
        let mut line = times.summary();
        line.insert("database".into(), args.target.database.clone().into());
        line.insert("token_of".into(), who.into());
        line.insert("jobs".into(), args.target.scale.jobs.into());
        line.insert("organizations".into(), args.target.scale.organizations.into());
        println!("{}", serde_json::Value::Object(line));
    }
    filled.db.pool.close().await;
    filled.cleanup.await;
}

/// A token of a credential `viewer` made (as a Superuser for the moment, since only Superusers
/// make credentials; the credential then acts with the viewer's own role and scope).
async fn token(portal: &Portal, router: &Router, viewer: &Viewer) -> String {
    let set_role = |role: &'static str| {
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role)
            .bind(viewer.user_id)
            .execute(&portal.db.pool)
    };
    set_role("superuser").await.unwrap();
    let maker = Viewer {
        role: model::Role::Superuser,
        ..viewer.clone()
    };
    let made = domain::api_access::create(portal, &maker, &viewer.email, &ClientInfo::default())
        .await
        .unwrap();
    set_role(viewer.role.as_str()).await.unwrap();
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        made.credential.client_id, made.client_secret
    );
    let request = Request::post("/connect/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

/// The request mix of the Jobs → Recent benchmark, as `/api/v1/jobs` URLs.
async fn paths(db: &Db, scoped: &Viewer) -> Vec<(&'static str, String)> {
    let scope_id: i64 = sqlx::query_scalar("SELECT scope_id FROM user_scopes WHERE user_id = $1")
        .bind(scoped.user_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let organization_id: i64 = sqlx::query_scalar("SELECT MIN(id) FROM organizations WHERE scope_id = $1")
        .bind(scope_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let jobs = "/api/v1/jobs";
    vec![
        ("newest first", jobs.to_owned()),
        ("page 10", format!("{jobs}?page=10")),
        ("scope", format!("{jobs}?scopeId={scope_id}")),
        ("organization", format!("{jobs}?organizationId={organization_id}")),
        ("status error", format!("{jobs}?status=error")),
        ("appliance contains", format!("{jobs}?appliance=nas-0042")),
        ("by appliance", format!("{jobs}?sort=appliance")),
        ("by asset", format!("{jobs}?sort=asset")),
        ("by status", format!("{jobs}?sort=status")),
        ("by duration", format!("{jobs}?sort=duration&desc=true")),
    ]
}
