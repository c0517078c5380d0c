//! The public API over HTTP, on SQLite and PostgreSQL: the token flow and its refusals, each
//! operation as nobody, as tokens of each reach, and as a token of another instance.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::access::Viewer;
use domain::appliances::gateway;
use domain::testkit::{self, TestDb, add_user};
use domain::{ClientInfo, Portal, api_access, instances, on_both_databases, organizations, scopes, users};
use model::Role;
use model::appliance::{AssetInfo, JobInfo, JobKind, JobProgress, JobState};
use public_api::{ApiState, SigningKeys};
use serde_json::Value;
use tower::ServiceExt;

struct World {
    portal: Portal,
    router: Router,
    root: Viewer,
    globex: i64,
    initech: i64,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 4 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

async fn world(db: &TestDb) -> World {
    let (portal, _) = db.portal();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let acme = instances::insert(&mut conn, "acme", "Acme", 0).await.unwrap();
    let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
    drop(conn);
    let client = ClientInfo::default();
    let east = scopes::create(&portal, &root, "East", &client).await.unwrap().id;
    let west = scopes::create(&portal, &root, "West", &client).await.unwrap().id;
    let globex = organizations::create(&portal, &root, "Globex", Some(east), &client)
        .await
        .unwrap();
    let initech = organizations::create(&portal, &root, "Initech", Some(west), &client)
        .await
        .unwrap();
    for (organization, appliance, asset) in
        [(globex, "nas-globex", "docs"), (initech, "nas-initech", "ledger")]
    {
        equip(&portal, &root, organization, appliance, asset).await;
    }
    let router = public_api::router(ApiState::new(portal.clone(), Arc::new(SigningKeys::ephemeral())));
    World {
        portal,
        router,
        root,
        globex,
        initech,
    }
}

/// An appliance of `organization` with one asset under a policy and one finished backup.
async fn equip(portal: &Portal, root: &Viewer, organization: i64, appliance: &str, asset: &str) {
    let (_, who) = testkit::register_appliance(portal, root, organization, appliance).await;
    let info = AssetInfo {
        id: "a1".into(),
        name: asset.into(),
        path: format!("/srv/{asset}"),
        policy: Some(testkit::daily_at_one()),
    };
    gateway::inventory(portal, &who, &[info], &[], &[]).await.unwrap();
    let started_at = portal.now() - 3_600_000;
    let job = JobInfo {
        id: format!("{appliance}-b1"),
        asset_id: "a1".into(),
        kind: JobKind::Backup,
        state: JobState::Success,
        started_at,
        ended_at: Some(started_at + 60_000),
        progress: JobProgress::default(),
        error: None,
        mode: None,
        size_bytes: Some(1024),
        scheduled_for: None,
    };
    gateway::job(portal, &who, &job).await.unwrap();
}

/// A credential made by `viewer` (who must be a Superuser then): its id, client id and secret.
async fn credential(w: &World, viewer: &Viewer, name: &str) -> (i64, String, String) {
    let made = api_access::create(&w.portal, viewer, name, &ClientInfo::default())
        .await
        .unwrap();
    (made.credential.id, made.credential.client_id, made.client_secret)
}

fn token_request(body: &str, basic: Option<(&str, &str)>) -> Request<Body> {
    let mut request =
        Request::post("/connect/token").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        request = request.header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

async fn token(w: &World, id: &str, secret: &str, scope: &str) -> String {
    let body = format!("grant_type=client_credentials&scope={scope}");
    let answer = send(&w.router, token_request(&body, Some((id, secret)))).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body["access_token"].as_str().unwrap().to_owned()
}

async fn call(w: &World, method: &str, path: &str, token: Option<&str>) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(&w.router, request.body(Body::empty()).unwrap()).await
}

fn names(answer: &Answer) -> Vec<String> {
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn raise_alert(w: &World, organization_id: i64, key: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO alerts (instance_id, organization_id, kind, dedupe_key, message, subject, state, raised_at)
         VALUES ($1, $2, 'low_space', $3, 'Low on space', 'subject', 'active', $4) RETURNING id",
    )
    .bind(w.root.instance_id)
    .bind(organization_id)
    .bind(key.to_owned())
    .bind(w.portal.now())
    .fetch_one(&w.portal.db.pool)
    .await
    .unwrap()
}

on_both_databases!(
    the_token_endpoint_follows_rfc_6749_and_refuses_clearly,
    |db: TestDb| async move {
        let w = world(&db).await;
        let (id, client_id, secret) = credential(&w, &w.root, "Billing").await;
        let basic = Some((client_id.as_str(), secret.as_str()));

        let answer = send(
            &w.router,
            token_request("grant_type=client_credentials&scope=", basic),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(answer.body["token_type"], "Bearer");
        assert_eq!(answer.body["expires_in"], 3600);
        assert_eq!(answer.body["scope"], "public_api public_api.write");
        let jwt = answer.body["access_token"].as_str().unwrap();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap();
        let claims: Value = serde_json::from_slice(&payload).unwrap();
        for claim in [
            "iss",
            "aud",
            "sub",
            "client_id",
            "tenant",
            "scope",
            "exp",
            "iat",
            "jti",
        ] {
            assert!(claims.get(claim).is_some(), "{claim} in {claims}");
        }
        assert_eq!(claims["tenant"], "acme");
        assert_eq!(claims["aud"], "public_api");

        let form = format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={secret}&scope=public_api"
        );
        let posted = send(&w.router, token_request(&form, None)).await;
        assert_eq!(posted.status, StatusCode::OK);
        assert_eq!(posted.body["scope"], "public_api");

        let wrong = send(
            &w.router,
            token_request("grant_type=client_credentials", Some((&client_id, "wrong"))),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.body["error"], "invalid_client");
        assert!(wrong.headers.contains_key(header::WWW_AUTHENTICATE));
        let anonymous = send(&w.router, token_request("grant_type=client_credentials", None)).await;
        assert_eq!(anonymous.body["error"], "invalid_client");
        let password = send(&w.router, token_request("grant_type=password", basic)).await;
        assert_eq!(password.status, StatusCode::BAD_REQUEST);
        assert_eq!(password.body["error"], "unsupported_grant_type");
        let missing = send(&w.router, token_request("scope=public_api", basic)).await;
        assert_eq!(missing.body["error"], "invalid_request");
        let scope = send(
            &w.router,
            token_request("grant_type=client_credentials&scope=openid", basic),
        )
        .await;
        assert_eq!(scope.body["error"], "invalid_scope");

        api_access::set_enabled(&w.portal, &w.root, id, false, &ClientInfo::default())
            .await
            .unwrap();
        let disabled = send(&w.router, token_request("grant_type=client_credentials", basic)).await;
        assert_eq!(disabled.body["error"], "invalid_client");

        let discovery = call(&w, "GET", "/.well-known/openid-configuration", None).await;
        assert_eq!(discovery.body["issuer"], "http://portal.test");
        assert_eq!(
            discovery.body["token_endpoint"],
            "http://portal.test/connect/token"
        );
        let jwks = call(&w, "GET", "/.well-known/openid-configuration/jwks", None).await;
        assert_eq!(jwks.body["keys"][0]["kty"], "OKP");
        assert_eq!(jwks.body["keys"][0]["crv"], "Ed25519");
    }
);

on_both_databases!(
    every_operation_answers_within_the_creators_reach_of_this_moment,
    |db: TestDb| async move {
        let w = world(&db).await;
        let (root_credential, root_id, root_secret) = credential(&w, &w.root, "Root").await;
        let root_token = token(&w, &root_id, &root_secret, "").await;
        let read_only = token(&w, &root_id, &root_secret, "public_api").await;

        // A Superuser who made a credential and was then made an East Manager.
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let east_user = add_user(
            &mut conn,
            w.root.instance_id,
            "east@acme.example",
            Role::Superuser,
            false,
        )
        .await;
        drop(conn);
        let (_, east_id, east_secret) = credential(&w, &east_user, "East").await;
        let east_token = token(&w, &east_id, &east_secret, "").await;
        let east_scope: i64 = sqlx::query_scalar("SELECT scope_id FROM organizations WHERE id = $1")
            .bind(w.globex)
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        sqlx::query("UPDATE users SET role = 'manage' WHERE id = $1")
            .bind(east_user.user_id)
            .execute(&w.portal.db.pool)
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        users::set_scopes(&mut conn, east_user.user_id, &[east_scope])
            .await
            .unwrap();

        // Another instance's Superuser.
        let other = instances::insert(&mut conn, "other", "Other", 0).await.unwrap();
        let stranger = add_user(&mut conn, other.id, "root@other.example", Role::Superuser, false).await;
        drop(conn);
        let (_, stranger_id, stranger_secret) = credential(&w, &stranger, "Stranger").await;
        let stranger_token = token(&w, &stranger_id, &stranger_secret, "").await;

        let globex_alert = raise_alert(&w, w.globex, "a1").await;
        let initech_alert = raise_alert(&w, w.initech, "a2").await;
        let globex_path = format!("/api/v1/organizations/{}", w.globex);
        let initech_path = format!("/api/v1/organizations/{}", w.initech);

        // Nobody, and a forged token.
        for (method, path) in [
            ("GET", "/api/v1/organizations".to_owned()),
            ("GET", globex_path.clone()),
            ("GET", "/api/v1/appliances".to_owned()),
            ("GET", "/api/v1/appliances/1".to_owned()),
            ("GET", "/api/v1/alerts".to_owned()),
            ("GET", "/api/v1/assets".to_owned()),
            ("GET", "/api/v1/jobs".to_owned()),
            ("GET", "/api/v1/scopes".to_owned()),
            ("GET", "/api/v1/assets/1".to_owned()),
            ("PUT", "/api/v1/assets/1/policy".to_owned()),
            ("DELETE", "/api/v1/assets/1/policy".to_owned()),
            ("POST", format!("/api/v1/alerts/{globex_alert}/dismiss")),
        ] {
            let answer = call(&w, method, &path, None).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(answer.headers[header::CONTENT_TYPE], "application/problem+json");
            let challenge = answer.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
            assert!(challenge.starts_with("Bearer"), "{challenge}");
            let forged = call(&w, method, &path, Some("eyJ0eXAiOiJhdCtqd3QifQ.e30.AAAA")).await;
            assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }

        // The Superuser's token sees both; the East Manager's only Globex; the stranger none.
        let listed = call(&w, "GET", "/api/v1/organizations", Some(&root_token)).await;
        assert_eq!(names(&listed), vec!["Globex", "Initech"]);
        assert_eq!(listed.body["total"], 2);
        let east = call(&w, "GET", "/api/v1/organizations", Some(&east_token)).await;
        assert_eq!(names(&east), vec!["Globex"]);
        let strangers = call(&w, "GET", "/api/v1/organizations", Some(&stranger_token)).await;
        assert!(names(&strangers).is_empty());
        assert_eq!(
            call(&w, "GET", &globex_path, Some(&east_token)).await.status,
            StatusCode::OK
        );
        for (token, path) in [(&east_token, &initech_path), (&stranger_token, &globex_path)] {
            let answer = call(&w, "GET", path, Some(token)).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND);
            assert_eq!(answer.body["code"], "not_found");
        }
        let alerts = call(&w, "GET", "/api/v1/alerts", Some(&east_token)).await;
        let ids: Vec<i64> = alerts.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![globex_alert]);
        assert_eq!(
            call(&w, "GET", "/api/v1/alerts", Some(&root_token)).await.body["total"],
            2
        );

        // Appliances, assets and jobs follow the same reach.
        let field = |answer: &Answer, name: &str| -> Vec<String> {
            answer.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item[name].as_str().unwrap().to_owned())
                .collect()
        };
        let everything = call(&w, "GET", "/api/v1/appliances", Some(&root_token)).await;
        assert_eq!(names(&everything), vec!["nas-globex", "nas-initech"]);
        let appliances = call(&w, "GET", "/api/v1/appliances", Some(&east_token)).await;
        assert_eq!(names(&appliances), vec!["nas-globex"]);
        let initech_appliance = everything.body["items"][1]["id"].as_i64().unwrap();
        let hidden = call(
            &w,
            "GET",
            &format!("/api/v1/appliances/{initech_appliance}"),
            Some(&east_token),
        )
        .await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND);
        let assets = call(&w, "GET", "/api/v1/assets", Some(&east_token)).await;
        assert_eq!(names(&assets), vec!["docs"]);
        assert_eq!(assets.body["items"][0]["lastBackup"]["status"], "success");
        assert_eq!(assets.body["items"][0]["hasPolicy"], true);
        let all_assets = call(&w, "GET", "/api/v1/assets?sort=name&desc=true", Some(&root_token)).await;
        assert_eq!(names(&all_assets), vec!["ledger", "docs"]);
        let jobs = call(&w, "GET", "/api/v1/jobs", Some(&east_token)).await;
        assert_eq!(field(&jobs, "assetName"), vec!["docs"]);
        let all_jobs = call(
            &w,
            "GET",
            "/api/v1/jobs?status=success&type=backup",
            Some(&root_token),
        )
        .await;
        assert_eq!(all_jobs.body["total"], 2);
        let failed = call(&w, "GET", "/api/v1/jobs?status=error", Some(&root_token)).await;
        assert_eq!(failed.body["total"], 0);
        let bad_day = call(&w, "GET", "/api/v1/jobs?from=yesterday", Some(&root_token)).await;
        assert_eq!(bad_day.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad_day.body["field"], "from");
        for path in ["/api/v1/appliances", "/api/v1/assets", "/api/v1/jobs"] {
            let foreign = call(&w, "GET", path, Some(&stranger_token)).await;
            assert_eq!(foreign.body["total"], 0, "{path}");
        }

        // Scopes, and backup policies: Admin or above, the write scope, and reach.
        let scopes = call(&w, "GET", "/api/v1/scopes", Some(&east_token)).await;
        assert_eq!(
            names(&Answer {
                body: serde_json::json!({"items": scopes.body}),
                ..scopes
            }),
            vec!["East"]
        );
        let asset_id = |name: &str| -> i64 {
            all_assets.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == name)
                .unwrap()["id"]
                .as_i64()
                .unwrap()
        };
        let (docs, ledger) = (asset_id("docs"), asset_id("ledger"));
        let shown = call(&w, "GET", &format!("/api/v1/assets/{docs}"), Some(&east_token)).await;
        assert_eq!(shown.body["policy"]["frequency"], "daily");
        assert_eq!(shown.body["policy"]["startTime"], "01:00");
        assert_eq!(shown.body["policyChangePending"], false);
        let hidden = call(&w, "GET", &format!("/api/v1/assets/{ledger}"), Some(&east_token)).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND);
        let policy =
            r#"{"frequency":"weekly","startDate":"2026-12-01","startTime":"22:30","keep":{"last":14}}"#;
        let put = |token: &str, id: i64, body: &str| {
            let request = Request::put(format!("/api/v1/assets/{id}/policy"))
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_owned()))
                .unwrap();
            send(&w.router, request)
        };
        assert_eq!(
            put(&east_token, docs, policy).await.status,
            StatusCode::FORBIDDEN,
            "a Manager may not"
        );
        assert_eq!(put(&read_only, docs, policy).await.status, StatusCode::FORBIDDEN);
        assert_eq!(
            put(&stranger_token, docs, policy).await.status,
            StatusCode::NOT_FOUND
        );
        let bad_time = put(&root_token, docs, &policy.replace("22:30", "25:00")).await;
        assert_eq!(
            (bad_time.status, bad_time.body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("start_time"))
        );
        let not_json = put(&root_token, docs, "{\"frequency\":\"sometimes\"}").await;
        assert_eq!(
            (not_json.status, not_json.body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("body"))
        );
        assert_eq!(put(&root_token, docs, policy).await.status, StatusCode::ACCEPTED);
        let pending = call(&w, "GET", &format!("/api/v1/assets/{docs}"), Some(&root_token)).await;
        assert_eq!(pending.body["policyChangePending"], true);
        let twice = put(&root_token, docs, policy).await;
        assert_eq!(twice.status, StatusCode::CONFLICT, "{:?}", twice.body);
        let removed = call(
            &w,
            "DELETE",
            &format!("/api/v1/assets/{ledger}/policy"),
            Some(&root_token),
        )
        .await;
        assert_eq!(removed.status, StatusCode::ACCEPTED);
        let refused = call(
            &w,
            "DELETE",
            &format!("/api/v1/assets/{docs}/policy"),
            Some(&east_token),
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let unseen = call(
            &w,
            "DELETE",
            &format!("/api/v1/assets/{ledger}/policy"),
            Some(&east_token),
        )
        .await;
        assert_eq!(unseen.status, StatusCode::NOT_FOUND);

        // Paging is checked.
        let too_big = call(&w, "GET", "/api/v1/organizations?pageSize=251", Some(&root_token)).await;
        assert_eq!(too_big.status, StatusCode::BAD_REQUEST);
        assert_eq!(too_big.body["field"], "pageSize");
        let garbage = call(&w, "GET", "/api/v1/alerts?page=abc", Some(&root_token)).await;
        assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
        let second = call(
            &w,
            "GET",
            "/api/v1/organizations?pageSize=1&page=2",
            Some(&root_token),
        )
        .await;
        assert_eq!(names(&second), vec!["Initech"]);

        // Dismissing needs the write scope, the role, and reach.
        let path = |id: i64| format!("/api/v1/alerts/{id}/dismiss");
        let no_scope = call(&w, "POST", &path(globex_alert), Some(&read_only)).await;
        assert_eq!(no_scope.status, StatusCode::FORBIDDEN);
        let challenge = no_scope.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
        let unreachable = call(&w, "POST", &path(initech_alert), Some(&east_token)).await;
        assert_eq!(unreachable.status, StatusCode::NOT_FOUND);
        let foreign = call(&w, "POST", &path(globex_alert), Some(&stranger_token)).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
        let dismissed = call(&w, "POST", &path(globex_alert), Some(&east_token)).await;
        assert_eq!(dismissed.status, StatusCode::NO_CONTENT);
        sqlx::query("UPDATE users SET role = 'monitor' WHERE id = $1")
            .bind(east_user.user_id)
            .execute(&w.portal.db.pool)
            .await
            .unwrap();
        let demoted = call(&w, "POST", &path(initech_alert), Some(&east_token)).await;
        assert_eq!(
            demoted.status,
            StatusCode::FORBIDDEN,
            "a Monitor's credential may not dismiss"
        );
        let by_root = call(&w, "POST", &path(initech_alert), Some(&root_token)).await;
        assert_eq!(by_root.status, StatusCode::NO_CONTENT);

        // Revoked: the issued token stops working at its next use.
        api_access::delete(&w.portal, &w.root, root_credential, &ClientInfo::default())
            .await
            .unwrap();
        let revoked = call(&w, "GET", "/api/v1/organizations", Some(&root_token)).await;
        assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    }
);

on_both_databases!(
    a_credential_past_its_rate_gets_429_with_retry_after,
    |db: TestDb| async move {
        let mut w = world(&db).await;
        let limit = public_api::auth::RateLimit {
            per_minute: 1,
            burst: 3,
        };
        w.router = public_api::router(ApiState::with_rate_limit(
            w.portal.clone(),
            Arc::new(SigningKeys::ephemeral()),
            limit,
        ));
        let (_, id, secret) = credential(&w, &w.root, "Busy").await;
        let busy = token(&w, &id, &secret, "").await;
        let (_, other_id, other_secret) = credential(&w, &w.root, "Quiet").await;
        let quiet = token(&w, &other_id, &other_secret, "").await;
        for _ in 0..3 {
            assert_eq!(
                call(&w, "GET", "/api/v1/scopes", Some(&busy)).await.status,
                StatusCode::OK
            );
        }
        let throttled = call(&w, "GET", "/api/v1/scopes", Some(&busy)).await;
        assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.body["code"], "throttled");
        let wait: u64 = throttled.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        let other = call(&w, "GET", "/api/v1/scopes", Some(&quiet)).await;
        assert_eq!(other.status, StatusCode::OK, "each credential has its own budget");
    }
);

#[test]
fn the_openapi_document_describes_every_operation_and_its_reference_page_is_served() {
    domain::testkit::run_bounded(domain::Backend::Sqlite, |db: TestDb| async move {
        let w = world(&db).await;
        let document = call(&w, "GET", "/api/v1/openapi.json", None).await;
        assert_eq!(document.status, StatusCode::OK);
        assert!(document.body["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = document.body["paths"].as_object().unwrap();
        for path in [
            "/api/v1/organizations",
            "/api/v1/organizations/{id}",
            "/api/v1/appliances",
            "/api/v1/appliances/{id}",
            "/api/v1/scopes",
            "/api/v1/assets",
            "/api/v1/assets/{id}",
            "/api/v1/assets/{id}/policy",
            "/api/v1/jobs",
            "/api/v1/alerts",
            "/api/v1/alerts/{id}/dismiss",
        ] {
            assert!(paths.contains_key(path), "{path} in the document");
        }
        let flows = &document.body["components"]["securitySchemes"]["oauth2"]["flows"];
        assert_eq!(flows["clientCredentials"]["tokenUrl"], "/connect/token");
        let page = w
            .router
            .clone()
            .oneshot(Request::get("/api/v1/docs/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = axum::body::to_bytes(page.into_body(), 4 << 20).await.unwrap();
        let html = String::from_utf8_lossy(&html);
        assert!(html.contains("swagger"), "{html}");
        assert!(
            !html.contains("https://"),
            "nothing fetched from the internet: {html}"
        );
    });
}

/// Every operation of the OpenAPI document (so a new one cannot be missed), walked as nobody
/// and as a token of each role: nobody is refused; reads answer; writes answer as the role's
/// permission says.
#[test]
fn every_documented_operation_is_walked_as_nobody_and_as_each_role() {
    domain::testkit::run_bounded(domain::Backend::Sqlite, |db: TestDb| async move {
        let w = world(&db).await;
        let alert = raise_alert(&w, w.globex, "walk").await;
        let asset: i64 = sqlx::query_scalar("SELECT MIN(id) FROM assets")
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        let appliance: i64 = sqlx::query_scalar("SELECT MIN(id) FROM appliances")
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        let document = public_api::v1::openapi();
        let mut operations = Vec::new();
        for (path, item) in &document.paths.paths {
            let id = match path.as_str() {
                p if p.starts_with("/api/v1/organizations/") => w.globex,
                p if p.starts_with("/api/v1/appliances/") => appliance,
                p if p.starts_with("/api/v1/assets/") => asset,
                p if p.starts_with("/api/v1/alerts/") => alert,
                _ => 0,
            };
            let concrete = path.replace("{id}", &id.to_string());
            for (method, operation) in [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
            ] {
                if operation.is_some() {
                    operations.push((method, concrete.clone()));
                }
            }
        }
        assert_eq!(operations.len(), 12, "{operations:?}");

        let mut tokens = Vec::new();
        for role in [Role::Monitor, Role::Manage, Role::Admin, Role::Superuser] {
            let mut conn = w.portal.db.pool.acquire().await.unwrap();
            let email = format!("{}@acme.example", role.as_str());
            let user = add_user(&mut conn, w.root.instance_id, &email, Role::Superuser, true).await;
            drop(conn);
            let (_, id, secret) = credential(&w, &user, role.as_str()).await;
            sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                .bind(role.as_str())
                .bind(user.user_id)
                .execute(&w.portal.db.pool)
                .await
                .unwrap();
            tokens.push((role, token(&w, &id, &secret, "").await));
        }
        let policy = r#"{"frequency":"daily","startDate":"2026-12-01","startTime":"01:00"}"#;
        for (method, path) in &operations {
            let request = |token: Option<&str>| {
                let mut request = Request::builder().method(*method).uri(path.as_str());
                if let Some(token) = token {
                    request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
                }
                let body = if *method == "PUT" {
                    Body::from(policy)
                } else {
                    Body::empty()
                };
                request
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .unwrap()
            };
            let anonymous = send(&w.router, request(None)).await;
            assert_eq!(
                anonymous.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} as nobody"
            );
            for (role, token) in &tokens {
                // Each role's dismissal finds the alert unresolved.
                sqlx::query("UPDATE alerts SET state = 'active', dismissed_at = NULL WHERE id = $1")
                    .bind(alert)
                    .execute(&w.portal.db.pool)
                    .await
                    .unwrap();
                let answer = send(&w.router, request(Some(token))).await;
                let needed = match (*method, path.as_str()) {
                    ("GET", _) => Role::Monitor,
                    (_, p) if p.ends_with("/dismiss") => Role::Manage,
                    (_, p) if p.ends_with("/policy") => Role::Admin,
                    other => panic!("no expectation for {other:?}"),
                };
                let allowed = *role >= needed;
                let ok = answer.status.is_success() || answer.status == StatusCode::CONFLICT;
                assert_eq!(
                    ok, allowed,
                    "{method} {path} as {role:?}: {:?} {:?}",
                    answer.status, answer.body
                );
                if !allowed {
                    assert_eq!(
                        answer.status,
                        StatusCode::FORBIDDEN,
                        "{method} {path} as {role:?}"
                    );
                }
            }
        }
    });
}
