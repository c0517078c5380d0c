//! The portal over HTTP, in process: page guards, cookies, cross-site refusal, security headers,
//! error statuses and the permission declaration of every server function — on both databases.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use app::endpoints::{Access, DOWNLOADS, ENDPOINTS};
use app::server::CookiePolicy;
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use domain::on_both_databases;
use domain::sessions::{self, Stage};
use domain::testkit::TestDb;
use domain::users::{NewUser, UserStatus};
use domain::{ClientInfo, Portal, totp};
use model::Role;
use server::AppState;
use server::client_addr::TrustedProxies;
use server::ops::Heartbeats;
use tower::ServiceExt;

struct TestPortal {
    router: Router,
    portal: Portal,
    /// The background loops' heartbeats `/readyz` reads (no loop runs in these tests).
    heartbeats: Heartbeats,
}

fn start(db: &TestDb) -> TestPortal {
    start_with(
        db,
        CookiePolicy {
            secure: false,
            embeddable: false,
        },
    )
}

fn start_with(db: &TestDb, cookies: CookiePolicy) -> TestPortal {
    start_behind(db, cookies, TrustedProxies::default())
}

/// The test's requests all come from 192.0.2.9.
fn start_behind(db: &TestDb, cookies: CookiePolicy, trusted_proxies: TrustedProxies) -> TestPortal {
    let (portal, _clock) = db.portal();
    let state = AppState {
        cookies,
        frame_ancestors: vec!["https://rmm.example.com".into()],
        trusted_proxies,
        ..AppState::plain(portal.clone())
    };
    let heartbeats = state.heartbeats.clone();
    let router = server::router::build(state, server::router::built_site_options())
        .layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 9], 5555))));
    TestPortal {
        router,
        portal,
        heartbeats,
    }
}

impl TestPortal {
    async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.expect("response")
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response<Body> {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// A server-function call as the browser makes it from the portal's own page.
    async fn call(&self, path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Response<Body> {
        let body = form
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.replace('%', "%25")
                        .replace('&', "%26")
                        .replace('+', "%2B")
                        .replace(' ', "+")
                        .replace('@', "%40")
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let mut request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }
}

async fn text(response: Response<Body>) -> String {
    String::from_utf8(
        axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn location(response: &Response<Body>) -> &str {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn session_cookie(response: &Response<Body>) -> String {
    let set = response
        .headers()
        .get(header::SET_COOKIE)
        .expect("Set-Cookie")
        .to_str()
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

const EMAIL: &str = "owner@acme.example";
const PASSWORD: &str = "Correct-Horse-9";

/// First run through the HTTP API; returns the signed-in cookie and the TOTP secret.
async fn set_up(p: &TestPortal) -> (String, String) {
    let url = domain::setup::issue_setup_url(&p.portal).await.unwrap();
    let token = url.split("token=").nth(1).unwrap();
    let form = [
        ("token", token),
        ("homerealm", "acme"),
        ("display_name", "Acme IT"),
        ("email", EMAIL),
        ("password", PASSWORD),
        ("confirm", PASSWORD),
    ];
    let created = p.call("/api/setup/complete", &form, None).await;
    assert_eq!(created.status(), StatusCode::OK);
    let pending = session_cookie(&created);
    assert_eq!(
        location(&p.get("/", Some(&pending)).await),
        "/login",
        "no portal before enrolment"
    );
    let enrolment = text(p.call("/api/auth/enrol/begin", &[], Some(&pending)).await).await;
    let enrolment: model::auth::TotpEnrolment = serde_json::from_str(&enrolment).unwrap();
    let code = totp::code_at_step(&enrolment.secret, totp::step_at(p.portal.now())).unwrap();
    let confirmed = p
        .call("/api/auth/enrol/confirm", &[("code", &code)], Some(&pending))
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    (session_cookie(&confirmed), enrolment.secret)
}

on_both_databases!(a_fresh_install_shows_only_setup, |db: TestDb| async move {
    let p = start(&db);
    for path in ["/", "/login", "/settings/outbox"] {
        let response = p.get(path, None).await;
        assert!(response.status().is_redirection(), "{path}");
        assert_eq!(location(&response), "/setup");
    }
    let page = p.get("/setup", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(csp, "frame-ancestors 'self' https://rmm.example.com");
    assert!(text(page).await.contains("Setup required"));
});

on_both_databases!(readiness_fails_without_saying_why, |db: TestDb| async move {
    let p = start(&db);
    let answer = async |path: &str| {
        let response = p.get(path, None).await;
        (response.status(), text(response).await)
    };
    assert_eq!(answer("/healthz").await, (StatusCode::OK, "ok".into()));
    assert_eq!(answer("/readyz").await, (StatusCode::OK, "ready".into()));
    let not_ready = (StatusCode::SERVICE_UNAVAILABLE, "not ready".to_owned());

    p.heartbeats.beat("mail", std::time::Duration::ZERO);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(answer("/readyz").await, not_ready, "a stalled loop, not named");
    p.heartbeats.beat("mail", std::time::Duration::from_secs(60));
    assert_eq!(
        answer("/readyz").await.0,
        StatusCode::OK,
        "the loop went round again"
    );

    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
        .execute(&p.portal.db.pool)
        .await
        .unwrap();
    assert_eq!(
        answer("/readyz").await,
        not_ready,
        "a migration of this binary is missing"
    );
    p.portal.db.pool.close().await;
    assert_eq!(answer("/readyz").await, not_ready, "no database");
    assert_eq!(
        answer("/healthz").await.0,
        StatusCode::OK,
        "the process still answers"
    );
    assert_eq!(
        answer("/metrics").await.0,
        StatusCode::NOT_FOUND,
        "no metrics token and no metrics listener: not served"
    );
});

/// The wasm, JavaScript and CSS go out compressed (or precompressed) and revalidated; pages,
/// which hold secrets next to what a user typed, go out uncompressed (no BREACH) and unstored.
#[tokio::test]
async fn site_files_are_compressed_and_pages_are_not() {
    let site = std::env::temp_dir().join(format!("bp-site-{}", std::process::id()));
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    let script = "export function hydrate() { return 42; }\n".repeat(400);
    std::fs::write(site.join("pkg/backplane.js"), &script).unwrap();
    // Left from an earlier release build: older than the script it claims to compress.
    let stale = std::fs::File::create(site.join("pkg/backplane.js.br")).unwrap();
    std::io::Write::write_all(&mut &stale, b"stale").unwrap();
    stale
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    std::fs::write(site.join("pkg/backplane.wasm"), vec![7u8; 50_000]).unwrap();
    std::fs::write(site.join("pkg/backplane.wasm.gz"), b"precompressed at release").unwrap();
    let db = TestDb::new(domain::Backend::Sqlite).await.unwrap();
    let (portal, _clock) = db.portal();
    let mut options = server::router::built_site_options();
    options.site_root = site.display().to_string().into();
    let router = server::router::build(AppState::plain(portal), options)
        .layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 9], 5555))));
    let get = async |path: &str, encodings: &str| {
        let request = Request::get(path)
            .header(header::ACCEPT_ENCODING, encodings)
            .body(Body::empty())
            .unwrap();
        router.clone().oneshot(request).await.unwrap()
    };
    let encoding = |r: &Response<Body>, name| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };

    let js = get("/pkg/backplane.js", "gzip, br").await;
    assert_eq!(js.status(), StatusCode::OK);
    assert_eq!(encoding(&js, header::CONTENT_ENCODING), "br");
    assert_eq!(encoding(&js, header::CACHE_CONTROL), "no-cache");
    let sent = axum::body::to_bytes(js.into_body(), 1 << 22).await.unwrap();
    assert!(
        sent.len() * 10 < script.len(),
        "{} of {} bytes",
        sent.len(),
        script.len()
    );
    assert_ne!(&sent[..], b"stale", "a stale precompressed copy is never sent");

    let plain = get("/pkg/backplane.js", "identity").await;
    assert_eq!(encoding(&plain, header::CONTENT_ENCODING), "");
    assert_eq!(text(plain).await, script);

    let wasm = get("/pkg/backplane.wasm", "gzip").await;
    assert_eq!(encoding(&wasm, header::CONTENT_ENCODING), "gzip");
    assert_eq!(
        text(wasm).await,
        "precompressed at release",
        "the .gz beside it, as is"
    );

    let page = get("/setup", "gzip, br").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        encoding(&page, header::CONTENT_ENCODING),
        "",
        "pages are not compressed"
    );
    assert_eq!(encoding(&page, header::CACHE_CONTROL), "no-store");
    let _ = std::fs::remove_dir_all(&site);
}

/// The build names the wasm, JavaScript and CSS after their content and lists the names in the
/// site's hash file: pages link those names, and browsers may keep them for a year, since a new
/// build gives new names. A name without a hash is still revalidated.
#[tokio::test]
async fn hashed_site_files_are_named_by_pages_and_cached_for_a_year() {
    let site = std::env::temp_dir().join(format!("bp-hashed-site-{}", std::process::id()));
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    // 22 URL-safe characters each, as site-build writes them.
    let (js, wasm, css) = (
        "Jq0fV3y2mZlqk7Qx1bE5aA",
        "wAsM-hash_0123456789ab",
        "cSs0000000000000000000",
    );
    std::fs::write(
        site.join("hash.txt"),
        format!("css: {css}\njs: {js}\nwasm: {wasm}\n"),
    )
    .unwrap();
    std::fs::write(site.join(format!("pkg/backplane.{js}.js")), "export {}").unwrap();
    std::fs::write(site.join("pkg/backplane.js"), "export {}").unwrap();
    let db = TestDb::new(domain::Backend::Sqlite).await.unwrap();
    let (portal, _clock) = db.portal();
    let mut options = server::router::built_site_options();
    options.site_root = site.display().to_string().into();
    server::router::use_hashed_names(&mut options);
    let router = server::router::build(AppState::plain(portal), options)
        .layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 9], 5555))));
    let get = async |path: &str| {
        let request = Request::get(path).body(Body::empty()).unwrap();
        router.clone().oneshot(request).await.unwrap()
    };
    let cache = |r: &Response<Body>| {
        r.headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };

    let page = text(get("/setup").await).await;
    for linked in [
        format!("/pkg/backplane.{js}.js"),
        format!("/pkg/backplane.{wasm}.wasm"),
        format!("/pkg/backplane.{css}.css"),
    ] {
        assert!(page.contains(&linked), "the page links {linked}");
    }
    assert!(!page.contains("/pkg/backplane.css"), "no unhashed stylesheet");

    let hashed = get(&format!("/pkg/backplane.{js}.js")).await;
    assert_eq!(hashed.status(), StatusCode::OK);
    assert_eq!(cache(&hashed), "public, max-age=31536000, immutable");
    let unhashed = get("/pkg/backplane.js").await;
    assert_eq!(unhashed.status(), StatusCode::OK);
    assert_eq!(cache(&unhashed), "no-cache");
    let missing = get(&format!("/pkg/backplane.{css}.css")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(cache(&missing), "no-cache", "a miss is never cached");
    let _ = std::fs::remove_dir_all(&site);
}

on_both_databases!(setup_then_pages_need_a_full_session, |db: TestDb| async move {
    let p = start(&db);
    let (cookie, _) = set_up(&p).await;
    let dashboard = p.get("/", Some(&cookie)).await;
    assert_eq!(dashboard.status(), StatusCode::OK);
    let html = text(dashboard).await;
    assert!(
        html.contains("Dashboard") && html.contains(EMAIL),
        "server-rendered shell"
    );
    assert!(html.contains(r#"data-theme="light""#));
    assert_eq!(location(&p.get("/login", Some(&cookie)).await), "/");
    assert_eq!(location(&p.get("/jobs", None).await), "/login");
    assert_eq!(
        p.get("/no-such-page", Some(&cookie)).await.status(),
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        p.call("/api/account/theme", &[("dark", "true")], Some(&cookie))
            .await
            .status(),
        StatusCode::OK
    );
    assert!(
        text(p.get("/", Some(&cookie)).await)
            .await
            .contains(r#"data-theme="dark""#),
        "no flash of the light theme"
    );
    let mut conn = p.portal.db.pool.acquire().await.unwrap();
    let instance = domain::instances::find_by_homerealm(&mut conn, "acme")
        .await
        .unwrap()
        .unwrap();
    let actions = domain::audit::actions(&mut conn, instance.id).await.unwrap();
    assert_eq!(actions[0], "user.theme_changed", "settings changes are audited");
    drop(conn);

    let logout = p.call("/api/auth/logout", &[], Some(&cookie)).await;
    assert!(
        logout
            .headers()
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        location(&p.get("/", Some(&cookie)).await),
        "/login",
        "the session is gone server-side"
    );
});

on_both_databases!(
    a_credential_made_in_settings_gets_a_token_and_calls_the_api_without_a_session,
    |db: TestDb| async move {
        let p = start(&db);
        let (cookie, _) = set_up(&p).await;
        let made = p
            .call("/api/api-access/create", &[("name", "Billing")], Some(&cookie))
            .await;
        assert_eq!(made.status(), StatusCode::OK);
        let made: model::api_access::NewApiCredential = serde_json::from_str(&text(made).await).unwrap();
        let listed = text(p.call("/api/api-access/list", &[], Some(&cookie)).await).await;
        assert!(listed.contains(&made.credential.client_id) && !listed.contains(&made.client_secret));

        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            made.credential.client_id, made.client_secret
        );
        let request = Request::post("/connect/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap();
        let issued = p.send(request).await;
        assert_eq!(issued.status(), StatusCode::OK);
        assert_eq!(issued.headers()[header::CACHE_CONTROL], "no-store");
        let issued: serde_json::Value = serde_json::from_str(&text(issued).await).unwrap();
        let bearer = format!("Bearer {}", issued["access_token"].as_str().unwrap());

        let request = Request::get("/api/v1/organizations")
            .header(header::AUTHORIZATION, &bearer)
            .body(Body::empty())
            .unwrap();
        let organizations = p.send(request).await;
        assert_eq!(organizations.status(), StatusCode::OK);
        let anonymous = p.get("/api/v1/organizations", None).await;
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "no redirect to the login page"
        );
        assert_eq!(
            anonymous.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        for public in [
            "/.well-known/openid-configuration",
            "/.well-known/openid-configuration/jwks",
            "/api/v1/openapi.json",
            "/api/v1/docs/",
        ] {
            assert_eq!(p.get(public, None).await.status(), StatusCode::OK, "{public}");
        }
    }
);

on_both_databases!(cross_site_posts_are_refused, |db: TestDb| async move {
    let p = start(&db);
    let (cookie, _) = set_up(&p).await;
    let forged = |headers: &[(&str, &str)]| {
        let mut request = Request::post("/api/account/theme")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &cookie)
            .header(header::HOST, "portal.test");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(Body::from("dark=true")).unwrap()
    };
    assert_eq!(
        p.send(forged(&[("sec-fetch-site", "cross-site")])).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        p.send(forged(&[("sec-fetch-site", "same-site")])).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        p.send(forged(&[("origin", "https://evil.example")]))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        p.send(forged(&[("origin", "http://portal.test")])).await.status(),
        StatusCode::OK
    );
    assert!(
        text(p.get("/", Some(&cookie)).await)
            .await
            .contains(r#"data-theme="dark""#),
        "only the same-origin call landed"
    );
});

on_both_databases!(
    refusals_carry_their_status_and_a_named_field,
    |db: TestDb| async move {
        let p = start(&db);
        let (_, secret) = set_up(&p).await;
        let wrong = [
            ("homerealm", "acme"),
            ("email", EMAIL),
            ("password", "Wrong-pass-1"),
        ];
        for _ in 0..4 {
            let response = p.call("/api/auth/password", &wrong, None).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let error: model::AppError = serde_json::from_str(&text(response).await).unwrap();
            assert_eq!(error.field(), Some("password"));
        }
        let blocked = p.call("/api/auth/password", &wrong, None).await;
        assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(blocked.headers().get(header::RETRY_AFTER).unwrap(), "900");
        assert!(text(blocked).await.contains("throttled"));
        let _ = secret;
    }
);

/// Arguments for every server function, so a call reaches its permission check.
const SAMPLE_ARGUMENTS: &[(&str, &str)] = &[
    ("id", "999999"),
    ("name", "Sample"),
    ("entries", "192.0.2.1"),
    ("provider", "KaseyaOne"),
    ("form[issuer]", "https://127.0.0.1:9"),
    ("form[client_id]", "backplane"),
    ("form[mode]", "Optional"),
    ("form[auto_create]", "false"),
    ("form[default_role]", "Monitor"),
    ("form[second_factor]", "ProviderWhenAsserted"),
    ("form[server_url]", "http://127.0.0.1:9"),
    ("form[username]", "api"),
    ("form[token]", "x"),
    ("alarm_category", "backups"),
    ("recipients", "noc@acme.example"),
    ("scope", "1"),
    ("confirmation", "x"),
    ("email", "sample@acme.example"),
    ("role", "Monitor"),
    ("global_scope", "false"),
    ("scope_ids[0]", "1"),
    ("password", "x"),
    ("confirm", "x"),
    ("dark", "true"),
    ("code", "123456"),
    ("enabled", "true"),
    ("organization_id", "999999"),
    ("appliance_id", "999999"),
    ("asset_id", "999999"),
    ("job_id", "999999"),
    ("path", "/srv/data"),
    ("recovery_point_id", "abc"),
    ("target_dir", "/srv/restore"),
    ("asset_ids", "999999"),
    ("frequency", "daily"),
    ("start_date", "2026-11-23"),
    ("start_time", "22:00"),
    ("keep[last]", "7"),
    ("location[kind]", "path"),
    ("location[path]", "/mnt/offsite"),
    ("kind", "backup_failed"),
    ("category", "storage"),
    ("organization", "999999"),
    ("title", "Sample"),
    ("backups[enabled]", "on"),
    ("backups[days]", "1"),
    ("backups[hours]", "0"),
    ("copies[days]", "1"),
    ("copies[hours]", "0"),
    ("organization_ids[0]", "999999"),
    ("url", "https://hooks.example.com/in"),
    ("events[0]", "JobFinished"),
    ("base_url", "https://api.itglue.com"),
    ("api_key", "ITG.sample"),
    ("page", "1"),
    ("itglue_ids[0]", "1"),
    ("itglue_id", "1"),
    ("scope_id", "1"),
    ("lookup_url", "http://127.0.0.1:9"),
    ("username", "api@acme.example"),
    ("secret", "x"),
    ("account", "x"),
    ("psa", "autotask"),
    ("form[company_id]", "1"),
    ("form[queue]", "1"),
    ("form[kinds][0]", "low_space"),
    ("company_ids[0]", "1"),
    ("company_id", "1"),
    ("search", "x"),
];

/// A signed-in session for a new user with `role`, in no scope.
async fn session_for(p: &TestPortal, role: Role) -> String {
    let mut conn = p.portal.db.pool.acquire().await.unwrap();
    let instance = domain::instances::find_by_homerealm(&mut conn, "acme")
        .await
        .unwrap()
        .unwrap();
    let email = format!("{}@acme.example", role.as_str());
    let user = NewUser {
        instance_id: instance.id,
        email: &email,
        role,
        status: UserStatus::Active,
        password_hash: None,
        global_scope: false,
    };
    let id = domain::users::insert(&mut conn, user, p.portal.now())
        .await
        .unwrap();
    drop(conn);
    signed_in_cookie(p, id).await
}

/// The cookie of a new, fully signed-in session of the user.
async fn signed_in_cookie(p: &TestPortal, user_id: i64) -> String {
    let mut conn = p.portal.db.pool.acquire().await.unwrap();
    let token = sessions::create(
        &mut conn,
        user_id,
        Stage::Full,
        &ClientInfo::default(),
        p.portal.now(),
        &p.portal.sessions,
    )
    .await
    .unwrap();
    format!("{}={token}", app::server::SESSION_COOKIE)
}

on_both_databases!(
    every_server_function_declares_its_access,
    |db: TestDb| async move {
        let p = start(&db);
        let (superuser, _) = set_up(&p).await;
        let mut role_cookies = vec![(Role::Superuser, superuser)];
        for role in [Role::Admin, Role::Manage, Role::Monitor] {
            role_cookies.push((role, session_for(&p, role).await));
        }
        let registered: Vec<&str> = server_fn::axum::server_fn_paths().map(|(path, _)| path).collect();
        for path in &registered {
            assert!(
                ENDPOINTS.iter().any(|(declared, _)| declared == path),
                "{path} declares no access in app::endpoints"
            );
        }
        for (path, access) in ENDPOINTS {
            assert!(registered.contains(path), "{path} is declared but not registered");
            match access {
                Access::Public => {}
                Access::OwnLogin => {
                    assert_eq!(
                        p.call(path, SAMPLE_ARGUMENTS, None).await.status(),
                        StatusCode::UNAUTHORIZED,
                        "{path}"
                    );
                    let (_, full) = &role_cookies[0];
                    let signed = p.call(path, SAMPLE_ARGUMENTS, Some(full)).await;
                    assert_eq!(
                        signed.status(),
                        StatusCode::UNAUTHORIZED,
                        "{path} needs a half-finished login"
                    );
                }
                Access::Signed(action) => {
                    let anonymous = p.call(path, SAMPLE_ARGUMENTS, None).await;
                    assert_eq!(
                        anonymous.status(),
                        StatusCode::UNAUTHORIZED,
                        "{path} without a session"
                    );
                    for (role, cookie) in &role_cookies {
                        let status = p.call(path, SAMPLE_ARGUMENTS, Some(cookie)).await.status();
                        if role.can(*action) {
                            let refused =
                                status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
                            assert!(
                                !refused && status != StatusCode::INTERNAL_SERVER_ERROR,
                                "{path} as {role:?}: {status}"
                            );
                        } else {
                            assert_eq!(status, StatusCode::FORBIDDEN, "{path} as {role:?}");
                        }
                    }
                }
            }
        }
        for (path, access) in DOWNLOADS {
            let Access::Signed(action) = access else {
                panic!("{path}: downloads need a signed-in user")
            };
            assert_eq!(
                p.get(path, None).await.status(),
                StatusCode::UNAUTHORIZED,
                "{path}"
            );
            for (role, cookie) in &role_cookies {
                let expected = if role.can(*action) {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                };
                assert_eq!(
                    p.get(path, Some(cookie)).await.status(),
                    expected,
                    "{path} as {role:?}"
                );
            }
        }
    }
);

on_both_databases!(
    embedded_mode_uses_partitioned_cross_site_cookies,
    |db: TestDb| async move {
        let p = start_with(
            &db,
            CookiePolicy {
                secure: true,
                embeddable: true,
            },
        );
        let url = domain::setup::issue_setup_url(&p.portal).await.unwrap();
        let form = [
            ("token", url.split("token=").nth(1).unwrap()),
            ("homerealm", "acme"),
            ("display_name", "Acme IT"),
            ("email", EMAIL),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ];
        let created = p.call("/api/setup/complete", &form, None).await;
        let cookie = created
            .headers()
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(cookie.contains("HttpOnly; Max-Age="), "{cookie}");
        assert!(
            cookie.ends_with("; SameSite=None; Secure; Partitioned"),
            "{cookie}"
        );
        assert!(
            cookie.starts_with("__Host-bp_session="),
            "a Secure cookie is host-only: {cookie}"
        );
        let pair = cookie.split(';').next().unwrap().to_owned();
        let enrolment = p.call("/api/auth/enrol/begin", &[], Some(&pair)).await;
        assert_eq!(
            enrolment.status(),
            StatusCode::OK,
            "the portal reads its __Host- cookie"
        );
        assert_eq!(
            enrolment.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store",
            "the enrolment secret is never cached"
        );
        let plain_name = format!(
            "{}={}",
            app::server::SESSION_COOKIE,
            pair.split_once('=').unwrap().1
        );
        let ignored = p.call("/api/auth/enrol/begin", &[], Some(&plain_name)).await;
        assert_eq!(
            ignored.status(),
            StatusCode::UNAUTHORIZED,
            "nor a cookie of the other name"
        );
        let page = p.get("/login", Some(&pair)).await;
        assert_eq!(page.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    }
);

on_both_databases!(internal_errors_show_only_a_request_id, |db: TestDb| async move {
    let p = start(&db);
    domain::setup::issue_setup_url(&p.portal).await.unwrap();
    p.portal.db.pool.close().await;
    let response = p
        .call(
            "/api/auth/password",
            &[("homerealm", "acme"), ("email", EMAIL), ("password", "x")],
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body = text(response).await;
    let error: model::AppError = serde_json::from_str(&body).unwrap();
    assert_eq!(
        error,
        model::AppError::Internal {
            request_id: request_id.clone()
        }
    );
    assert!(
        !body.to_lowercase().contains("pool") && !body.contains("sql"),
        "no internals leak: {body}"
    );
});

on_both_databases!(
    the_live_socket_needs_a_same_site_signed_in_websocket,
    |db: TestDb| async move {
        let p = start(&db);
        let (superuser, _) = set_up(&p).await;
        let live = model::live::LIVE_PATH;
        assert_eq!(p.get(live, None).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            p.get(live, Some(&superuser)).await.status(),
            StatusCode::UPGRADE_REQUIRED,
            "a plain GET is not a WebSocket"
        );
        let cross_site = Request::get(live)
            .header(header::COOKIE, &superuser)
            .header("sec-fetch-site", "cross-site")
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::empty())
            .unwrap();
        assert_eq!(p.send(cross_site).await.status(), StatusCode::FORBIDDEN);
    }
);

/// Every page of the signed-in portal.
const PORTAL_PAGES: &[&str] = &[
    "/",
    "/protect",
    "/protect/assets",
    "/jobs",
    "/jobs/active",
    "/jobs/scheduled",
    "/organizations",
    "/settings",
    "/settings/outbox",
    "/settings/scopes",
    "/settings/users",
    "/settings/audit",
    "/settings/alerts",
    "/settings/alarms",
    "/settings/api-access",
    "/settings/security",
    "/settings/webhooks",
    "/settings/integrations",
];

/// The highest resource number a rendered page serialized: a page creates a handful, so a
/// large number means a boundary kept re-creating its children while the page rendered.
fn highest_resource(html: &str) -> usize {
    html.split("__RESOLVED_RESOURCES[")
        .skip(1)
        .filter_map(|rest| rest.split(']').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

on_both_databases!(pages_render_to_the_end_once, |db: TestDb| async move {
    let p = Arc::new(start(&db));
    let (cookie, _) = set_up(&p).await;
    for round in 0..4 {
        for path in PORTAL_PAGES {
            let renders: Vec<_> = (0..8)
                .map(|_| {
                    let (p, cookie) = (p.clone(), cookie.clone());
                    tokio::spawn(async move {
                        let page = tokio::time::timeout(std::time::Duration::from_secs(20), async {
                            let response = p.get(path, Some(&cookie)).await;
                            (response.status(), text(response).await)
                        });
                        page.await
                    })
                })
                .collect();
            // Settings → Integrations holds IT Glue's card, a card per PSA and per sign-on
            // provider: about 34 resources, and the layout's boundaries render the page two or
            // three times while its data arrives (already so before the sign-on cards).
            let limit = if *path == "/settings/integrations" {
                120
            } else {
                40
            };
            for render in renders {
                let (status, html) = render
                    .await
                    .unwrap()
                    .unwrap_or_else(|_| panic!("round {round}: {path} stalled"));
                assert_eq!(status, StatusCode::OK, "{path}");
                assert!(html.contains("__INCOMPLETE_CHUNKS"), "{path} ends");
                assert!(
                    highest_resource(&html) < limit,
                    "round {round}: {path} re-created its resources {} times over",
                    highest_resource(&html)
                );
            }
        }
    }
});

// The address failed logins are counted and audited under: a forwarding header counts only
// from a trusted proxy, and then only its rightmost untrusted hop.
on_both_databases!(
    forwarded_addresses_count_only_from_trusted_proxies,
    |db: TestDb| async move {
        let cookies = CookiePolicy {
            secure: false,
            embeddable: false,
        };
        let direct = start_behind(&db, cookies.clone(), TrustedProxies::default());
        set_up(&direct).await;
        let proxied = start_behind(&db, cookies, TrustedProxies::parse(&["192.0.2.0/24"]).unwrap());
        let failed_login = |p: &TestPortal, forwarded_for: &'static str| {
            let body = "homerealm=acme&email=owner%40acme.example&password=wrong";
            let request = Request::post("/api/auth/password")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "same-origin")
                .header("x-forwarded-for", forwarded_for)
                .body(Body::from(body))
                .unwrap();
            let router = p.router.clone();
            async move { router.oneshot(request).await.unwrap() }
        };
        let last_failure_address = || async {
            sqlx::query_scalar::<_, Option<String>>(
                "SELECT client_ip FROM audit_log WHERE action = 'login.failure' ORDER BY id DESC LIMIT 1",
            )
            .fetch_one(&direct.portal.db.pool)
            .await
            .unwrap()
        };
        failed_login(&direct, "203.0.113.5").await;
        assert_eq!(
            last_failure_address().await.as_deref(),
            Some("192.0.2.9"),
            "a header from an untrusted peer is ignored"
        );
        failed_login(&proxied, "1.2.3.4, 203.0.113.5").await;
        assert_eq!(
            last_failure_address().await.as_deref(),
            Some("203.0.113.5"),
            "behind a trusted proxy, its rightmost untrusted hop"
        );
        let throttled: Vec<String> =
            sqlx::query_scalar("SELECT key FROM login_throttle WHERE key LIKE 'ip:%' ORDER BY key")
                .fetch_all(&direct.portal.db.pool)
                .await
                .unwrap();
        assert_eq!(
            throttled,
            vec!["ip:192.0.2.9", "ip:203.0.113.5"],
            "each client counted apart"
        );
    }
);

// IP restrictions: while on, a session, a token request and an API call from an address outside
// the instance's list are refused, whoever makes them; the address is the one a trusted proxy
// names.
on_both_databases!(
    ip_restrictions_refuse_sessions_and_api_calls_from_outside_the_list,
    |db: TestDb| async move {
        let cookies = CookiePolicy {
            secure: false,
            embeddable: false,
        };
        let p = start_behind(&db, cookies, TrustedProxies::parse(&["192.0.2.0/24"]).unwrap());
        let (cookie, _) = set_up(&p).await;
        let made = p
            .call("/api/api-access/create", &[("name", "Billing")], Some(&cookie))
            .await;
        let made: model::api_access::NewApiCredential = serde_json::from_str(&text(made).await).unwrap();
        let token_request = |client: &str| {
            let form = format!(
                "grant_type=client_credentials&client_id={}&client_secret={}",
                made.credential.client_id, made.client_secret
            );
            Request::post("/connect/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("x-forwarded-for", client)
                .body(Body::from(form))
                .unwrap()
        };
        let issued: serde_json::Value =
            serde_json::from_str(&text(p.send(token_request("192.0.2.9")).await).await).unwrap();
        let bearer = format!("Bearer {}", issued["access_token"].as_str().unwrap());

        let add = async |entries: &str| {
            p.call("/api/security/ip/add", &[("entries", entries)], Some(&cookie))
                .await
                .status()
        };
        assert_eq!(add("198.51.100.7").await, StatusCode::OK);
        let refused = p
            .call("/api/security/ip/enabled", &[("enabled", "true")], Some(&cookie))
            .await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            text(refused).await.contains("192.0.2.9"),
            "names the caller's address"
        );
        assert_eq!(add("192.0.2.9").await, StatusCode::OK);
        let enabled = p
            .call("/api/security/ip/enabled", &[("enabled", "true")], Some(&cookie))
            .await;
        assert_eq!(enabled.status(), StatusCode::OK);

        let page_from = |client: &'static str| {
            let request = Request::get("/")
                .header(header::COOKIE, &cookie)
                .header("x-forwarded-for", client)
                .body(Body::empty())
                .unwrap();
            p.send(request)
        };
        assert_eq!(page_from("198.51.100.7").await.status(), StatusCode::OK);
        let denied = page_from("203.0.113.5").await;
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        let page = text(denied).await;
        assert!(
            page.contains("Access denied") && page.contains("203.0.113.5"),
            "{page}"
        );
        let call = Request::post("/api/security/ip")
            .header(header::COOKIE, &cookie)
            .header("sec-fetch-site", "same-origin")
            .header("x-forwarded-for", "203.0.113.5")
            .body(Body::empty())
            .unwrap();
        assert_eq!(p.send(call).await.status(), StatusCode::FORBIDDEN);

        let api_from = |client: &'static str| {
            let request = Request::get("/api/v1/organizations")
                .header(header::AUTHORIZATION, &bearer)
                .header("x-forwarded-for", client)
                .body(Body::empty())
                .unwrap();
            p.send(request)
        };
        assert_eq!(api_from("192.0.2.9").await.status(), StatusCode::OK);
        let outside = api_from("203.0.113.5").await;
        assert_eq!(outside.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            outside.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let token = p.send(token_request("203.0.113.5")).await;
        assert_eq!(token.status(), StatusCode::BAD_REQUEST);
        assert!(text(token).await.contains("unauthorized_client"));
    }
);

// Embedding per instance: the origins an instance lists join the server's own in the
// frame-ancestors of its pages (its sessions', and its login page by homerealm), never another
// instance's; on https its sign-ins set a session cookie a cross-site frame keeps.
on_both_databases!(
    an_instances_embedding_origins_frame_its_own_pages_only,
    |db: TestDb| async move {
        let p = start(&db);
        let (cookie, _) = set_up(&p).await;
        let ancestors = |response: &Response<Body>| {
            response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .to_owned()
        };
        let before = p.get("/", Some(&cookie)).await;
        assert_eq!(
            ancestors(&before),
            "frame-ancestors 'self' https://rmm.example.com"
        );

        let save = async |origins: &str| {
            p.call(
                "/api/security/embedding/save",
                &[("origins", origins)],
                Some(&cookie),
            )
            .await
        };
        let refused = save("https://console.example.net\nhttp://evil.example.com").await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(text(refused).await.contains("http://evil.example.com"));
        assert_eq!(
            save("https://Console.example.net/").await.status(),
            StatusCode::OK
        );

        let framed = "frame-ancestors 'self' https://rmm.example.com https://console.example.net";
        assert_eq!(ancestors(&p.get("/", Some(&cookie)).await), framed);
        assert_eq!(ancestors(&p.get("/login?homerealm=acme", None).await), framed);
        assert_eq!(
            ancestors(&p.get("/login", None).await),
            "frame-ancestors 'self' https://rmm.example.com",
            "no instance named, none of its origins"
        );

        let other = domain::setup::create_instance_headless(
            &p.portal,
            "globex",
            "Globex",
            "owner@globex.example",
            PASSWORD,
        )
        .await
        .unwrap();
        let owner: i64 = sqlx::query_scalar("SELECT id FROM users WHERE instance_id = $1")
            .bind(other.instance.id)
            .fetch_one(&p.portal.db.pool)
            .await
            .unwrap();
        let theirs = signed_in_cookie(&p, owner).await;
        assert_eq!(
            ancestors(&p.get("/", Some(&theirs)).await),
            "frame-ancestors 'self' https://rmm.example.com",
            "another instance's pages"
        );

        let secure = start_with(
            &db,
            CookiePolicy {
                secure: true,
                embeddable: false,
            },
        );
        let login = async |homerealm: &str, email: &str| {
            let form = [("homerealm", homerealm), ("email", email), ("password", PASSWORD)];
            secure.call("/api/auth/password", &form, None).await
        };
        let set_cookie = |response: &Response<Body>| {
            response.headers()[header::SET_COOKIE]
                .to_str()
                .unwrap()
                .to_owned()
        };
        let framed_login = set_cookie(&login("acme", EMAIL).await);
        assert!(
            framed_login.starts_with("__Host-bp_session=")
                && framed_login.contains("SameSite=None; Secure; Partitioned"),
            "{framed_login}"
        );
        let plain_login = set_cookie(&login("globex", "owner@globex.example").await);
        assert!(
            plain_login.contains("SameSite=Lax") && !plain_login.contains("Partitioned"),
            "{plain_login}"
        );
    }
);

on_both_databases!(
    single_sign_on_runs_through_the_start_and_callback_routes,
    |db: TestDb| async move {
        use emulators::oidc::browser::Browser;
        use emulators::oidc::{Client, Oidc, User};

        let p = start(&db);
        let (_owner, _) = set_up(&p).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let oidc = Oidc::new(&issuer, 3);
        let router = oidc.router();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        oidc.add_client(Client {
            client_id: "backplane".into(),
            client_secret: Some("s3cret".into()),
            redirect_uris: vec!["http://portal.test/sso/callback".into()],
            post_logout_redirect_uris: vec!["http://portal.test/login".into()],
        });
        let tech = User {
            username: EMAIL.into(),
            company: "Acme IT".into(),
            password: "k1".into(),
            subject: "k1-1".into(),
            mfa_code: Some("654321".into()),
            email_verified: true,
        };
        oidc.add_user(tech.clone());
        let mut conn = p.portal.db.pool.acquire().await.unwrap();
        let owner = domain::users::find_by_email(&mut conn, 1, EMAIL)
            .await
            .unwrap()
            .unwrap();
        drop(conn);
        let owner = domain::access::Viewer {
            instance_id: owner.instance_id,
            user_id: owner.id,
            email: owner.email,
            role: owner.role,
            global_scope: true,
        };
        let form = model::sso::SsoForm {
            issuer: issuer.clone(),
            client_id: "backplane".into(),
            client_secret: Some("s3cret".into()),
            mode: model::sso::SsoMode::Optional,
            auto_create: false,
            default_role: Role::Monitor,
            all_organizations: true,
            default_scope_id: None,
            second_factor: model::sso::SecondFactorSource::ProviderWhenAsserted,
            exceptions: String::new(),
        };
        identity::settings::save(
            &p.portal,
            &owner,
            model::sso::SsoKind::KaseyaOne,
            &form,
            &ClientInfo::default(),
        )
        .await
        .unwrap();

        // The login page's state names the button; /sso/start sends the browser on with a
        // cookie that only the callback's path sees.
        let state = text(p.call("/api/auth/state", &[("homerealm", "acme")], None).await).await;
        assert!(state.contains("Log in with KaseyaOne"), "{state}");
        let started = p.get("/sso/start?homerealm=acme&provider=kaseyaone", None).await;
        assert_eq!(started.status(), StatusCode::SEE_OTHER);
        let to_provider = location(&started).to_owned();
        assert!(
            to_provider.starts_with(&format!("{issuer}/connect/authorize?")),
            "{to_provider}"
        );
        assert!(
            to_provider.contains("response_mode=form_post")
                && to_provider.contains("code_challenge_method=S256")
        );
        let browser_cookie = started.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
        assert!(
            browser_cookie.contains("Path=/sso") && browser_cookie.contains("HttpOnly"),
            "{browser_cookie}"
        );

        // KaseyaOne posts the code from its own site: the callback takes that cross-site POST.
        let (state, code, _) = Browser::default()
            .sign_in(&to_provider, &tech, Some("654321"))
            .await;
        let post = |cookie: Option<String>, state: Option<String>, code: Option<String>| {
            let body = format!(
                "state={}&code={}",
                state.unwrap_or_default(),
                code.unwrap_or_default()
            );
            let mut request = Request::post("/sso/callback")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site");
            if let Some(cookie) = cookie {
                request = request.header(header::COOKIE, cookie);
            }
            request.body(Body::from(body)).unwrap()
        };
        let stolen = p.send(post(None, state.clone(), code.clone())).await;
        assert_eq!(
            location(&stolen),
            "/login?homerealm=acme&bypass=1&sso_error=browser"
        );

        // That state is spent; a fresh start signs in.
        let started = p.get("/sso/start?homerealm=acme&provider=kaseyaone", None).await;
        let to_provider = location(&started).to_owned();
        let browser_cookie = started.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let (state, code, _) = Browser::default()
            .sign_in(&to_provider, &tech, Some("654321"))
            .await;
        let signed_in = p.send(post(Some(browser_cookie), state, code)).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&signed_in), "/");
        let cookies: Vec<String> = signed_in
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            cookies
                .iter()
                .any(|c| c.starts_with("bp_sso=;") && c.contains("Max-Age=0")),
            "{cookies:?}"
        );
        let session = cookies
            .iter()
            .find(|c| c.starts_with("bp_session="))
            .expect("a session cookie");
        let session = session.split(';').next().unwrap().to_owned();
        assert_eq!(p.get("/", Some(&session)).await.status(), StatusCode::OK);

        // Logging out answers the provider's single logout address.
        let out = text(p.call("/api/auth/logout", &[], Some(&session)).await).await;
        assert!(out.contains(&format!("{issuer}/connect/endsession?")), "{out}");

        // Unknown providers and instances without one go back to the login page, named.
        let unknown = p.get("/sso/start?homerealm=acme&provider=saml", None).await;
        assert_eq!(location(&unknown), "/login?homerealm=acme&bypass=1&sso_error=off");
        let nowhere = p
            .get("/sso/start?homerealm=nobody&provider=kaseyaone", None)
            .await;
        assert_eq!(
            location(&nowhere),
            "/login?homerealm=nobody&bypass=1&sso_error=off"
        );
        // The cross-site exemption is the callback's alone.
        let elsewhere = Request::post("/api/auth/logout")
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap();
        assert_eq!(p.send(elsewhere).await.status(), StatusCode::FORBIDDEN);
    }
);
