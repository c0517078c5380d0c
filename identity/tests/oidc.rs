//! Single sign-on end to end against the OpenID Connect provider emulator, on both databases:
//! the code flow with PKCE and form_post, linking by e-mail then by subject, silent sign-in,
//! `amr` as the second factor, single logout; every refusal (signature, audience, issuer,
//! expiry, nonce, replayed state, another browser, unknown user, unverified e-mail, another
//! address); key rotation; the modes with exceptions and the bypass; automatic creation; reset.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use domain::access::Viewer;
use domain::clock::ManualClock;
use domain::testkit::{TestDb, add_user};
use domain::{ClientInfo, Portal, instances, on_both_databases, sessions, users};
use emulators::oidc::browser::{Browser, hidden};
use emulators::oidc::{Client, Oidc, Tweaks, User};
use identity::login::{self, Callback, Refused, SignedIn};
use identity::settings;
use model::auth::LoginStep;
use model::sso::{SecondFactorSource, SsoFailure, SsoForm, SsoKind, SsoMode};
use model::{AppError, Role};

const CLIENT_ID: &str = "backplane-test";
const SECRET: &str = "client-secret-1";

/// A provider emulator on a local port, with the portal registered and one user with MFA.
async fn provider(portal: &Portal) -> Oidc {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let oidc = Oidc::new(&url, 7);
    let router = oidc.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    oidc.add_client(Client {
        client_id: CLIENT_ID.into(),
        client_secret: Some(SECRET.into()),
        redirect_uris: vec![login::redirect_uri(&portal.public_url)],
        post_logout_redirect_uris: vec![login::post_logout_uri(&portal.public_url)],
    });
    oidc.add_user(k1_user("tech@acme.example", "k1-100", Some("123456")));
    oidc
}

fn k1_user(username: &str, subject: &str, mfa_code: Option<&str>) -> User {
    User {
        username: username.into(),
        company: "Acme IT".into(),
        password: "k1-password".into(),
        subject: subject.into(),
        mfa_code: mfa_code.map(str::to_owned),
        email_verified: true,
    }
}

fn form(oidc: &Oidc, mode: SsoMode) -> SsoForm {
    SsoForm {
        issuer: oidc.issuer().to_owned(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(SECRET.into()),
        mode,
        auto_create: false,
        default_role: Role::Monitor,
        all_organizations: true,
        default_scope_id: None,
        second_factor: SecondFactorSource::ProviderWhenAsserted,
        exceptions: String::new(),
    }
}

/// Saves KaseyaOne's settings as the Superuser.
async fn save(w: &World, form: &SsoForm) {
    settings::save(
        &w.portal,
        &w.root,
        SsoKind::KaseyaOne,
        form,
        &ClientInfo::default(),
    )
    .await
    .unwrap();
}

struct World {
    portal: Portal,
    root: Viewer,
    tech: Viewer,
    oidc: Oidc,
}

/// Instance "acme" with a Superuser and a technician, the clock at real time (the emulator
/// stamps tokens with it), and KaseyaOne set up in `mode`.
async fn world(db: &TestDb, mode: SsoMode) -> World {
    let (mut portal, clock) = db.portal();
    portal.public_url = "http://portal.test".into();
    sync_clock(&clock);
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let acme = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
    let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, true).await;
    let tech = add_user(&mut conn, acme.id, "tech@acme.example", Role::Admin, true).await;
    drop(conn);
    let oidc = provider(&portal).await;
    settings::save(
        &portal,
        &root,
        SsoKind::KaseyaOne,
        &form(&oidc, mode),
        &ClientInfo::default(),
    )
    .await
    .unwrap();
    World {
        portal,
        root,
        tech,
        oidc,
    }
}

fn sync_clock(clock: &Arc<ManualClock>) {
    let real = chrono::Utc::now().timestamp_millis();
    clock.advance(real - domain::testkit::START_MS);
}

/// Starts a sign-in for acme, signs in at the provider and hands the answer to the callback.
async fn sign_in(
    w: &World,
    browser: &mut Browser,
    user: &User,
    code: Option<&str>,
) -> Result<SignedIn, Refused> {
    let started = login::begin(&w.portal, "acme", SsoKind::KaseyaOne, &ClientInfo::default())
        .await
        .unwrap();
    let (state, code, error) = browser.sign_in(&started.redirect_to, user, code).await;
    let callback = Callback {
        state,
        code,
        error,
        browser_token: Some(started.browser_token),
    };
    login::finish(&w.portal, &callback, &ClientInfo::default()).await
}

fn failure(result: Result<SignedIn, Refused>) -> SsoFailure {
    match result {
        Err(refused) => {
            assert_eq!(refused.homerealm.as_deref(), Some("acme"));
            refused.failure
        }
        Ok(signed_in) => panic!("expected a refusal, got {:?}", signed_in.step),
    }
}

async fn session_of(portal: &Portal, token: &str) -> sessions::Session {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    sessions::resolve(&mut conn, token, portal.now(), &portal.sessions)
        .await
        .unwrap()
        .expect("a live session")
}

fn rejected<T: std::fmt::Debug>(result: Result<T, domain::DomainError>) -> AppError {
    match result {
        Err(domain::DomainError::Rejected(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

on_both_databases!(
    kaseyaone_links_by_email_then_by_subject_signs_in_silently_and_logs_out_at_the_provider,
    |db: TestDb| async move {
        let w = world(&db, SsoMode::Optional).await;
        let user = k1_user("tech@acme.example", "k1-100", Some("123456"));
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let step = LoginStep::Credentials {
            homerealm: "acme".into(),
            providers: Vec::new(),
            required: None,
        };
        let LoginStep::Credentials {
            providers, required, ..
        } = login::with_providers(&mut conn, step, false).await.unwrap()
        else {
            panic!("credentials step")
        };
        drop(conn);
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0].label, "Log in with KaseyaOne");
        assert_eq!(
            providers[0].start_url,
            "/sso/start?homerealm=acme&provider=kaseyaone"
        );
        assert!(required.is_none(), "optional mode does not redirect");

        // First sign-in: username, company, password, then the code; the e-mail matches the
        // technician, the link is made, and amr=mfa stands in for the portal's TOTP.
        let mut browser = Browser::default();
        let signed_in = sign_in(&w, &mut browser, &user, Some("123456")).await.unwrap();
        assert_eq!(signed_in.step, LoginStep::Done);
        let session = session_of(&w.portal, &signed_in.token).await;
        assert_eq!(session.user_id, w.tech.user_id);
        assert_eq!(session.stage, sessions::Stage::Full);

        // Second sign-in: the provider's session makes it silent (no login page).
        let renamed = k1_user("t.smith@acme.example", "k1-100", Some("123456"));
        w.oidc.add_user(renamed.clone());
        let silent = browser.clone();
        let started = login::begin(&w.portal, "acme", SsoKind::KaseyaOne, &ClientInfo::default())
            .await
            .unwrap();
        let page = silent.get(&started.redirect_to).await.text().await.unwrap();
        assert!(
            hidden(&page, "request").is_none(),
            "no login page with a provider session"
        );
        let callback = Callback {
            state: hidden(&page, "state"),
            code: hidden(&page, "code"),
            error: None,
            browser_token: Some(started.browser_token.clone()),
        };
        let again = login::finish(&w.portal, &callback, &ClientInfo::default())
            .await
            .unwrap();
        let session = session_of(&w.portal, &again.token).await;
        assert_eq!(session.user_id, w.tech.user_id);

        // The same answer a second time (a replay) finds no sign-in under way.
        let replay = login::finish(&w.portal, &callback, &ClientInfo::default()).await;
        assert_eq!(replay.unwrap_err().failure, SsoFailure::Expired);

        // Single logout: the portal sends the browser to the provider's end-session endpoint
        // with the ID token as hint; the provider ends its session and returns to the login page.
        let logout = login::logout_url(&w.portal, &session)
            .await
            .unwrap()
            .expect("a logout URL");
        assert!(
            logout.starts_with(&format!("{}/connect/endsession?", w.oidc.issuer())),
            "{logout}"
        );
        assert!(logout.contains("id_token_hint="), "{logout}");
        let answer = silent.get(&logout).await;
        assert_eq!(answer.status(), 303);
        assert_eq!(
            answer.headers()["location"].to_str().unwrap(),
            "http://portal.test/login"
        );
        assert_eq!(w.oidc.end_sessions(), 1);

        // The provider's username changed (same subject): the link still signs the technician
        // in, the mismatch is reported, and the technician can remove the link themselves.
        let signed_in = sign_in(&w, &mut Browser::default(), &renamed, Some("123456"))
            .await
            .unwrap();
        let session = session_of(&w.portal, &signed_in.token).await;
        assert_eq!(session.user_id, w.tech.user_id);
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let mismatches = login::mismatches(&mut conn, &session).await.unwrap();
        drop(conn);
        assert_eq!(mismatches.len(), 1);
        assert_eq!(mismatches[0].provider_username, "t.smith@acme.example");
        login::remove_mismatched_link(&w.portal, &session, SsoKind::KaseyaOne, &ClientInfo::default())
            .await
            .unwrap();
        assert_eq!(
            failure(sign_in(&w, &mut Browser::default(), &renamed, Some("123456")).await),
            SsoFailure::NoUser
        );
        // Linked again by the matching identity; a matched link cannot be "removed as mismatched".
        let matched = sign_in(&w, &mut Browser::default(), &user, Some("123456"))
            .await
            .unwrap();
        let session = session_of(&w.portal, &matched.token).await;
        assert!(
            login::remove_mismatched_link(&w.portal, &session, SsoKind::KaseyaOne, &ClientInfo::default())
                .await
                .is_err()
        );

        // A user whose password session did not come from the provider has no logout URL.
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let tech = users::get(&mut conn, w.tech.user_id).await.unwrap().unwrap();
        let token = sessions::create(
            &mut conn,
            tech.id,
            sessions::Stage::Full,
            &ClientInfo::default(),
            w.portal.now(),
            &w.portal.sessions,
        )
        .await
        .unwrap();
        drop(conn);
        let local = session_of(&w.portal, &token).await;
        assert_eq!(login::logout_url(&w.portal, &local).await.unwrap(), None);
    }
);

on_both_databases!(
    every_faulty_answer_is_refused_and_changes_nothing,
    |db: TestDb| async move {
        let w = world(&db, SsoMode::Optional).await;
        let user = k1_user("tech@acme.example", "k1-100", Some("123456"));
        let faults = [
            Tweaks {
                bad_signature: true,
                ..Default::default()
            },
            Tweaks {
                audience: Some("someone-else".into()),
                ..Default::default()
            },
            Tweaks {
                issuer: Some("https://evil.example".into()),
                ..Default::default()
            },
            Tweaks {
                expired: true,
                ..Default::default()
            },
            Tweaks {
                nonce: Some("another-nonce".into()),
                ..Default::default()
            },
        ];
        for tweak in faults {
            w.oidc.tweak_next_token(tweak.clone());
            let result = sign_in(&w, &mut Browser::default(), &user, Some("123456")).await;
            assert_eq!(failure(result), SsoFailure::BadToken, "{tweak:?}");
        }
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let links: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sso_links")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(links, 0, "no refused answer linked anyone");
        let audited: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'login.sso_failure'")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(audited, 5);
        drop(conn);

        // An answer reaching another browser (without the start's cookie) is refused.
        let started = login::begin(&w.portal, "acme", SsoKind::KaseyaOne, &ClientInfo::default())
            .await
            .unwrap();
        let (state, code, _) = Browser::default()
            .sign_in(&started.redirect_to, &user, Some("123456"))
            .await;
        let stolen = Callback {
            state,
            code,
            error: None,
            browser_token: Some("other".into()),
        };
        assert_eq!(
            failure(login::finish(&w.portal, &stolen, &ClientInfo::default()).await),
            SsoFailure::OtherBrowser
        );

        // The provider reporting an error (the user cancelled) is refused as such.
        let started = login::begin(&w.portal, "acme", SsoKind::KaseyaOne, &ClientInfo::default())
            .await
            .unwrap();
        let state = started
            .redirect_to
            .split("state=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        let cancelled = Callback {
            state: Some(state),
            code: None,
            error: Some("access_denied".into()),
            browser_token: Some(started.browser_token),
        };
        assert_eq!(
            failure(login::finish(&w.portal, &cancelled, &ClientInfo::default()).await),
            SsoFailure::ProviderDenied
        );

        // No state at all: nothing to finish.
        let empty = login::finish(&w.portal, &Callback::default(), &ClientInfo::default()).await;
        assert_eq!(empty.unwrap_err().failure, SsoFailure::Expired);

        // A token endpoint that redirects is not followed: the redirect's target hears nothing.
        let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = format!("http://{}/steal", elsewhere.local_addr().unwrap());
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        let trap = axum::Router::new().fallback(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { "stolen" }
        });
        tokio::spawn(async move { axum::serve(elsewhere, trap).await.unwrap() });
        w.oidc.redirect_next_token_request(&target);
        assert_eq!(
            failure(sign_in(&w, &mut Browser::default(), &user, Some("123456")).await),
            SsoFailure::Unreachable
        );
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);

        // Keys rotated since the portal cached them: it fetches the key set again and goes on.
        w.oidc.rotate_keys();
        let rotated = sign_in(&w, &mut Browser::default(), &user, Some("123456"))
            .await
            .unwrap();
        assert_eq!(rotated.step, LoginStep::Done);

        // An unknown e-mail with automatic creation off, and an unverified e-mail, are refused.
        let stranger = k1_user("stranger@acme.example", "k1-200", None);
        w.oidc.add_user(stranger.clone());
        assert_eq!(
            failure(sign_in(&w, &mut Browser::default(), &stranger, None).await),
            SsoFailure::NoUser
        );
        let unverified = User {
            email_verified: false,
            ..k1_user("root@acme.example", "k1-300", None)
        };
        w.oidc.add_user(unverified.clone());
        assert_eq!(
            failure(sign_in(&w, &mut Browser::default(), &unverified, None).await),
            SsoFailure::NoEmail
        );

        // A second identity with the same e-mail as an already linked user is refused.
        let twin = k1_user("tech@acme.example", "k1-999", None);
        w.oidc.add_user(twin.clone());
        assert_eq!(
            failure(sign_in(&w, &mut Browser::default(), &twin, None).await),
            SsoFailure::LinkedElsewhere
        );
    }
);

on_both_databases!(
    the_portal_asks_its_own_code_unless_the_provider_asserts_mfa,
    |db: TestDb| async move {
        let w = world(&db, SsoMode::Optional).await;
        // Without MFA at the provider, amr holds only pwd: the portal's TOTP is still asked
        // (enrolment first, as the technician has none).
        let plain = k1_user("tech@acme.example", "k1-100", None);
        w.oidc.add_user(plain.clone());
        let step = sign_in(&w, &mut Browser::default(), &plain, None)
            .await
            .unwrap()
            .step;
        assert_eq!(
            step,
            LoginStep::EnrolTotp {
                email: "tech@acme.example".into()
            }
        );

        // "Always the portal's code": even MFA at the provider does not stand in.
        let mut strict = form(&w.oidc, SsoMode::Optional);
        strict.second_factor = SecondFactorSource::Portal;
        save(&w, &strict).await;
        let mfa = k1_user("tech@acme.example", "k1-100", Some("123456"));
        w.oidc.add_user(mfa.clone());
        let signed_in = sign_in(&w, &mut Browser::default(), &mfa, Some("123456"))
            .await
            .unwrap();
        assert_eq!(
            signed_in.step,
            LoginStep::EnrolTotp {
                email: "tech@acme.example".into()
            }
        );
        assert_eq!(
            session_of(&w.portal, &signed_in.token).await.stage,
            sessions::Stage::Enrol
        );

        // "Always the provider's": no MFA claimed, yet signed in fully.
        strict.second_factor = SecondFactorSource::Provider;
        save(&w, &strict).await;
        w.oidc.add_user(plain.clone());
        assert_eq!(
            sign_in(&w, &mut Browser::default(), &plain, None)
                .await
                .unwrap()
                .step,
            LoginStep::Done
        );
    }
);

on_both_databases!(
    required_mode_refuses_local_logins_except_the_exceptions_and_reset_disables_sso_only_users,
    |db: TestDb| async move {
        let w = world(&db, SsoMode::Optional).await;
        let client = ClientInfo::default();
        // Requiring sign-on before the Superuser could use it would lock them out.
        let refused = rejected(
            settings::save(
                &w.portal,
                &w.root,
                SsoKind::KaseyaOne,
                &form(&w.oidc, SsoMode::Required),
                &client,
            )
            .await,
        );
        assert!(
            matches!(refused, AppError::Invalid { ref field, .. } if field == "mode"),
            "{refused:?}"
        );
        // An exception that names nobody of the instance is refused by name.
        let mut required = form(&w.oidc, SsoMode::Required);
        required.exceptions = "root@acme.example, ghost@acme.example".into();
        let refused =
            rejected(settings::save(&w.portal, &w.root, SsoKind::KaseyaOne, &required, &client).await);
        assert!(refused.to_string().contains("ghost@acme.example"), "{refused}");
        // A scoped Admin may not change it at all.
        assert!(matches!(
            rejected(
                settings::save(
                    &w.portal,
                    &w.tech,
                    SsoKind::KaseyaOne,
                    &form(&w.oidc, SsoMode::Disabled),
                    &client
                )
                .await
            ),
            AppError::Forbidden
        ));
        required.exceptions = "ROOT@acme.example".into();
        required.auto_create = true;
        let saved = settings::save(&w.portal, &w.root, SsoKind::KaseyaOne, &required, &client)
            .await
            .unwrap();
        assert_eq!(saved.exceptions.len(), 1);
        assert_eq!(
            saved.bypass_url,
            "http://portal.test/login?homerealm=acme&bypass=1"
        );

        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        login::check_local_login(&mut conn, "acme", "root@acme.example")
            .await
            .unwrap();
        let refused = rejected(login::check_local_login(&mut conn, "acme", "tech@acme.example").await);
        assert!(
            refused.to_string().contains("signs in with KaseyaOne"),
            "{refused}"
        );
        // Unknown addresses get the same answer as known ones.
        assert_eq!(
            rejected(login::check_local_login(&mut conn, "acme", "nobody@acme.example").await),
            refused
        );
        let credentials = || LoginStep::Credentials {
            homerealm: "acme".into(),
            providers: Vec::new(),
            required: None,
        };
        let LoginStep::Credentials {
            required: straight, ..
        } = login::with_providers(&mut conn, credentials(), false)
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            straight.unwrap().kind,
            SsoKind::KaseyaOne,
            "the page goes straight to the provider"
        );
        let LoginStep::Credentials {
            required: bypassed,
            providers,
            ..
        } = login::with_providers(&mut conn, credentials(), true)
            .await
            .unwrap()
        else {
            panic!()
        };
        assert!(bypassed.is_none(), "the bypass link shows the local form");
        assert_eq!(providers.len(), 1);
        drop(conn);

        // Automatic creation: a new KaseyaOne user becomes a Monitor of every organization.
        let newcomer = k1_user("new@acme.example", "k1-400", Some("123456"));
        w.oidc.add_user(newcomer.clone());
        let signed_in = sign_in(&w, &mut Browser::default(), &newcomer, Some("123456"))
            .await
            .unwrap();
        let session = session_of(&w.portal, &signed_in.token).await;
        assert_eq!(session.email, "new@acme.example");
        assert_eq!(session.role, Role::Monitor);
        let tech = k1_user("tech@acme.example", "k1-100", Some("123456"));
        sign_in(&w, &mut Browser::default(), &tech, Some("123456"))
            .await
            .unwrap();

        // Reset: links go; the user who could only sign in through KaseyaOne is disabled and
        // signed out, the technician with a password keeps working.
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        users::set_password_hash(&mut conn, w.tech.user_id, "$argon2id$stub")
            .await
            .unwrap();
        drop(conn);
        assert!(
            rejected(settings::reset(&w.portal, &w.tech, SsoKind::KaseyaOne, &client).await)
                == AppError::Forbidden
        );
        assert_eq!(
            settings::reset(&w.portal, &w.root, SsoKind::KaseyaOne, &client)
                .await
                .unwrap(),
            1
        );
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let newcomer_user = users::find_by_email(&mut conn, session.instance_id, "new@acme.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(newcomer_user.status, users::UserStatus::Disabled);
        assert!(
            sessions::resolve(&mut conn, &signed_in.token, w.portal.now(), &w.portal.sessions)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            users::get(&mut conn, w.tech.user_id)
                .await
                .unwrap()
                .unwrap()
                .status,
            users::UserStatus::Active
        );
        let links: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sso_links")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(links, 0);
        login::check_local_login(&mut conn, "acme", "tech@acme.example")
            .await
            .unwrap();
        assert!(
            settings::view(&w.portal, &w.root, SsoKind::KaseyaOne)
                .await
                .unwrap()
                .is_none()
        );
    }
);

on_both_databases!(
    sign_in_from_outside_the_allow_list_is_refused_and_another_instance_sees_nothing,
    |db: TestDb| async move {
        let w = world(&db, SsoMode::Optional).await;
        let office = ClientInfo {
            ip: Some("192.0.2.10".into()),
            user_agent: None,
        };
        domain::ip_restrictions::add_rule(&w.portal, &w.root, "Office", "192.0.2.0/24", &office)
            .await
            .unwrap();
        domain::ip_restrictions::set_enabled(&w.portal, &w.root, true, &office)
            .await
            .unwrap();
        let outside = ClientInfo {
            ip: Some("198.51.100.7".into()),
            user_agent: None,
        };
        let refused = login::begin(&w.portal, "acme", SsoKind::KaseyaOne, &outside)
            .await
            .unwrap_err();
        assert_eq!(refused, SsoFailure::NotAllowed);
        // Started inside, answered from outside: refused at the callback too.
        let started = login::begin(&w.portal, "acme", SsoKind::KaseyaOne, &office)
            .await
            .unwrap();
        let user = k1_user("tech@acme.example", "k1-100", Some("123456"));
        let (state, code, _) = Browser::default()
            .sign_in(&started.redirect_to, &user, Some("123456"))
            .await;
        let callback = Callback {
            state,
            code,
            error: None,
            browser_token: Some(started.browser_token),
        };
        assert_eq!(
            login::finish(&w.portal, &callback, &outside)
                .await
                .unwrap_err()
                .failure,
            SsoFailure::NotAllowed
        );

        // Another instance has no provider: no button, no start, and its Superuser cannot read
        // or reset acme's.
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let globex = instances::insert(&mut conn, "globex", "Globex", 0).await.unwrap();
        let other = add_user(&mut conn, globex.id, "root@globex.example", Role::Superuser, true).await;
        drop(conn);
        assert_eq!(
            login::begin(&w.portal, "globex", SsoKind::KaseyaOne, &office)
                .await
                .unwrap_err(),
            SsoFailure::Off
        );
        assert!(
            settings::view(&w.portal, &other, SsoKind::KaseyaOne)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            settings::reset(&w.portal, &other, SsoKind::KaseyaOne, &office)
                .await
                .is_err()
        );
        assert!(
            settings::view(&w.portal, &w.root, SsoKind::KaseyaOne)
                .await
                .unwrap()
                .is_some()
        );
    }
);

on_both_databases!(
    created_users_get_the_chosen_scope_and_nothing_once_it_is_deleted,
    |db: TestDb| async move {
        let w = world(&db, SsoMode::Optional).await;
        let client = ClientInfo::default();
        let east = domain::scopes::create(&w.portal, &w.root, "East", &client)
            .await
            .unwrap();
        let spare = domain::scopes::create(&w.portal, &w.root, "Spare", &client)
            .await
            .unwrap();
        let mut scoped = form(&w.oidc, SsoMode::Optional);
        scoped.auto_create = true;
        scoped.all_organizations = false;
        scoped.default_scope_id = None;
        let refused =
            rejected(settings::save(&w.portal, &w.root, SsoKind::KaseyaOne, &scoped, &client).await);
        assert!(refused.to_string().contains("Choose the scope"), "{refused}");
        scoped.default_scope_id = Some(east.id);
        save(&w, &scoped).await;

        let newcomer = k1_user("east@acme.example", "k1-500", Some("123456"));
        w.oidc.add_user(newcomer.clone());
        let signed_in = sign_in(&w, &mut Browser::default(), &newcomer, Some("123456"))
            .await
            .unwrap();
        let session = session_of(&w.portal, &signed_in.token).await;
        assert!(
            !session.global_scope,
            "a scoped user, not one who sees everything"
        );
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let east_now = domain::scopes::get(&mut conn, &w.root, east.id).await.unwrap();
        assert_eq!(east_now.users, 1);
        drop(conn);

        // The chosen scope deleted (it held no user yet): created users get no organizations,
        // never all of them, and the settings say a scope must be chosen again.
        scoped.default_scope_id = Some(spare.id);
        save(&w, &scoped).await;
        domain::scopes::delete(&w.portal, &w.root, spare.id, &client)
            .await
            .unwrap();
        let shown = settings::view(&w.portal, &w.root, SsoKind::KaseyaOne)
            .await
            .unwrap()
            .unwrap();
        assert!(!shown.all_organizations);
        assert_eq!(shown.default_scope_id, None);
        let late = k1_user("late@acme.example", "k1-600", Some("123456"));
        w.oidc.add_user(late.clone());
        let signed_in = sign_in(&w, &mut Browser::default(), &late, Some("123456"))
            .await
            .unwrap();
        let session = session_of(&w.portal, &signed_in.token).await;
        assert!(!session.global_scope);
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let scopes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_scopes WHERE user_id = $1")
            .bind(session.user_id)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(scopes, 0);
    }
);
