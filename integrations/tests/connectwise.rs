//! ConnectWise PSA end to end against its emulator, on both databases: the credential check
//! naming what is wrong (company, keys, the server's client id, the cloud's 404), ticket settings
//! with statuses of the chosen board, the 1,000-a-page company list, and the ticket lifecycle
//! through outages, throttling and lost answers without a second ticket or note.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use domain::access::Viewer;
use domain::alerts::center::{self, Dismissal};
use domain::appliances::ApplianceIdentity;
use domain::clock::{HOUR_MS, MINUTE_MS, ManualClock};
use domain::testkit::{self, TestDb, add_user};
use domain::{ClientInfo, DomainError, Portal, instances, on_both_databases};
use emulators::connectwise::{ConnectWise, Credentials};
use integrations::psa::service::{self, CredentialsForm};
use model::psa::{PsaKind, TicketQueue};
use model::{AppError, Role};
use serde_json::Value;

const CONNECTWISE: PsaKind = PsaKind::ConnectWise;
const COMPANY: &str = "backplane";
const PUBLIC_KEY: &str = "pubKeyCw01";
const PRIVATE_KEY: &str = "privKeyCw01";
const CLIENT_ID: &str = "7d9d3a5e-0000-4000-8000-backplane000";

mod common;
use common::{pick, refusal, report_storage, serve};
/// An organization name long enough to push the ticket title past ConnectWise's 100 characters.
const LONG_NAME: &str =
    "Initech Consolidated Holdings of the Greater Metropolitan Area Incorporated Worldwide";

fn emulator(companies: usize) -> ConnectWise {
    let credentials = Credentials {
        company_id: COMPANY.into(),
        public_key: PUBLIC_KEY.into(),
        private_key: PRIVATE_KEY.into(),
        client_id: CLIENT_ID.into(),
    };
    ConnectWise::new(credentials, companies, 7)
}

fn form<'a>(site: &'a str, company: &'a str, private_key: &'a str) -> CredentialsForm<'a> {
    CredentialsForm {
        lookup_url: site,
        username: PUBLIC_KEY,
        secret: private_key,
        account: company,
    }
}

fn portal_with_client_id(db: &TestDb) -> (Portal, std::sync::Arc<ManualClock>) {
    let (mut portal, clock) = db.portal();
    portal.connectwise_client_id = Some(CLIENT_ID.into());
    (portal, clock)
}

on_both_databases!(
    the_credential_check_names_what_is_wrong_and_statuses_follow_the_board,
    |db: TestDb| async move {
        let (portal, _) = portal_with_client_id(&db);
        let client = ClientInfo::default();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let acme = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
        let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
        let admin = add_user(&mut conn, acme.id, "admin@acme.example", Role::Admin, true).await;
        drop(conn);
        let connectwise = emulator(20);
        let site = serve(connectwise.router()).await;

        assert_eq!(
            refusal(
                service::integrate(
                    &portal,
                    &admin,
                    CONNECTWISE,
                    form(&site, COMPANY, PRIVATE_KEY),
                    &client
                )
                .await
            ),
            AppError::Forbidden
        );
        let unknown = refusal(
            service::integrate(
                &portal,
                &root,
                CONNECTWISE,
                form(&site, "nosuchco", PRIVATE_KEY),
                &client,
            )
            .await,
        );
        assert_eq!(unknown.field(), Some("account"), "{unknown:?}");
        assert!(unknown.to_string().contains("nosuchco"));
        let keys = refusal(
            service::integrate(
                &portal,
                &root,
                CONNECTWISE,
                form(&site, COMPANY, "wrong"),
                &client,
            )
            .await,
        );
        assert_eq!(keys.field(), Some("secret"), "{keys:?}");
        connectwise.cloud_404_on_bad_auth(true);
        let cloud = refusal(
            service::integrate(
                &portal,
                &root,
                CONNECTWISE,
                form(&site, COMPANY, "wrong"),
                &client,
            )
            .await,
        );
        assert_eq!(
            cloud.field(),
            Some("secret"),
            "a 404 to the check means the keys: {cloud:?}"
        );
        connectwise.cloud_404_on_bad_auth(false);
        let (mut no_client_id, _) = db.portal();
        no_client_id.connectwise_client_id = None;
        let missing = refusal(
            service::integrate(
                &no_client_id,
                &root,
                CONNECTWISE,
                form(&site, COMPANY, PRIVATE_KEY),
                &client,
            )
            .await,
        );
        assert!(
            missing.to_string().contains("BACKPLANE_CONNECTWISE_CLIENT_ID"),
            "{missing:?}"
        );
        let (mut wrong_client_id, _) = db.portal();
        wrong_client_id.connectwise_client_id = Some("not-ours".into());
        let wrong = refusal(
            service::integrate(
                &wrong_client_id,
                &root,
                CONNECTWISE,
                form(&site, COMPANY, PRIVATE_KEY),
                &client,
            )
            .await,
        );
        assert!(wrong.to_string().contains("clientId"), "{wrong:?}");
        let mut conn = portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            service::settings(&mut conn, &root, CONNECTWISE).await.unwrap(),
            None,
            "nothing stored"
        );
        drop(conn);

        let set = service::integrate(
            &portal,
            &root,
            CONNECTWISE,
            form(&site, COMPANY, PRIVATE_KEY),
            &client,
        )
        .await
        .unwrap();
        assert!(set.api_url.ends_with("/v2025_1/apis/3.0"), "{}", set.api_url);
        assert_eq!(
            (set.username.as_str(), set.account.as_str()),
            (PUBLIC_KEY, COMPANY)
        );
        // First defaults: the first board by name, its New and its resolved status.
        let first = &set.defaults;
        assert_eq!(first.queue.as_ref().map(|q| q.label.as_str()), Some("Alerts"));
        assert_eq!(first.new_status.as_ref().map(|s| s.label.as_str()), Some("New"));
        assert_eq!(
            first.close_status.as_ref().map(|s| s.label.as_str()),
            Some("Resolved")
        );
        assert!(first.critical_priority.is_some() && first.warning_priority.is_some());

        let choices = service::choices(&portal, &root, CONNECTWISE).await.unwrap();
        let labels: Vec<&str> = choices.queues.iter().map(|q| q.label.as_str()).collect();
        assert_eq!(labels, ["Alerts", "Help Desk"], "active service boards only");
        let help_desk = pick(&choices.queues, "Help Desk");
        let help_desk_statuses = choices.statuses_for(Some(&help_desk.value));
        // A status of another board is refused, naming the field; nothing changes.
        let mut wrong_board = set.defaults.clone();
        wrong_board.queue = Some(help_desk.clone());
        let refused =
            refusal(service::save_defaults(&portal, &root, CONNECTWISE, wrong_board, &client).await);
        assert_eq!(refused.field(), Some("new_status"), "{refused:?}");
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let unchanged = service::settings(&mut conn, &root, CONNECTWISE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(unchanged.defaults, set.defaults);
        drop(conn);
        let mut help = set.defaults.clone();
        help.queue = Some(help_desk);
        help.new_status = Some(pick(&help_desk_statuses, "New"));
        help.close_status = Some(pick(&help_desk_statuses, "Completed"));
        let saved = service::save_defaults(&portal, &root, CONNECTWISE, help, &client)
            .await
            .unwrap();
        assert_eq!(saved.close_status.unwrap().label, "Completed");
    }
);

on_both_databases!(
    companies_page_past_a_thousand_and_import_into_a_scope,
    |db: TestDb| async move {
        let (portal, _) = portal_with_client_id(&db);
        let client = ClientInfo::default();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let acme = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
        let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
        drop(conn);
        let connectwise = emulator(1_150);
        let gone = connectwise.add_company("Gone Ltd");
        connectwise.delete_company(gone);
        let site = serve(connectwise.router()).await;
        service::integrate(
            &portal,
            &root,
            CONNECTWISE,
            form(&site, COMPANY, PRIVATE_KEY),
            &client,
        )
        .await
        .unwrap();
        let first = service::companies_page(&portal, &root, CONNECTWISE, (1, None))
            .await
            .unwrap();
        assert_eq!(
            first.total, 1_150,
            "two ConnectWise pages read, the deleted company left out"
        );
        assert_eq!((first.items.len(), first.total_pages), (100, 12));
        let last = service::companies_page(&portal, &root, CONNECTWISE, (12, None))
            .await
            .unwrap();
        assert_eq!(last.items.len(), 50);
        let wanted = first.items[3].clone();
        let imported = service::import(&portal, &root, CONNECTWISE, &[wanted.id, gone], None, &client).await;
        assert!(
            matches!(imported, Err(DomainError::Rejected(AppError::NotFound { .. }))),
            "a deleted company is not imported: {imported:?}"
        );
        let organizations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations")
            .fetch_one(&portal.db.pool)
            .await
            .unwrap();
        assert_eq!(organizations, 0, "and nothing else of the refused import either");
        let imported = service::import(&portal, &root, CONNECTWISE, &[wanted.id], None, &client)
            .await
            .unwrap();
        assert_eq!(imported, 1);
        let searched = service::companies_page(&portal, &root, CONNECTWISE, (1, Some(&wanted.name)))
            .await
            .unwrap();
        let row = searched.items.iter().find(|c| c.id == wanted.id).unwrap();
        assert_eq!(
            row.mapped_to.as_ref().map(|o| o.name.as_str()),
            Some(wanted.name.as_str())
        );
    }
);

/// An instance with ConnectWise integrated, tickets for critical alerts on the Help Desk board
/// (New, closed as Completed), and an organization with a long name mapped to its company.
struct World {
    portal: Portal,
    clock: std::sync::Arc<ManualClock>,
    root: Viewer,
    connectwise: ConnectWise,
    company: i64,
    appliance: ApplianceIdentity,
    /// The emulator's site address.
    site: String,
}

async fn world(db: &TestDb) -> World {
    let (portal, clock) = portal_with_client_id(db);
    let client = ClientInfo::default();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let acme = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
    let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
    drop(conn);
    let connectwise = emulator(10);
    let company = connectwise.add_company(LONG_NAME);
    let site = serve(connectwise.router()).await;
    let set = service::integrate(
        &portal,
        &root,
        CONNECTWISE,
        form(&site, COMPANY, PRIVATE_KEY),
        &client,
    )
    .await
    .unwrap();
    let choices = service::choices(&portal, &root, CONNECTWISE).await.unwrap();
    let board = pick(&choices.queues, "Help Desk");
    let statuses = choices.statuses_for(Some(&board.value));
    let mut defaults = set.defaults;
    defaults.queue = Some(board);
    defaults.new_status = Some(pick(&statuses, "New"));
    defaults.close_status = Some(pick(&statuses, "Completed"));
    defaults.critical_priority = Some(pick(&choices.priorities, "Priority 1 - Emergency Response"));
    service::save_defaults(&portal, &root, CONNECTWISE, defaults, &client)
        .await
        .unwrap();
    service::import(&portal, &root, CONNECTWISE, &[company], None, &client)
        .await
        .unwrap();
    let organization: i64 = sqlx::query_scalar("SELECT id FROM organizations WHERE name = $1")
        .bind(LONG_NAME)
        .fetch_one(&portal.db.pool)
        .await
        .unwrap();
    let (_, appliance) = testkit::register_appliance(&portal, &root, organization, "nas-1").await;
    World {
        portal,
        clock,
        root,
        connectwise,
        company,
        appliance,
        site,
    }
}

impl World {
    async fn storage_is(&self, free_gb: u64) {
        report_storage(&self.portal, &self.appliance, free_gb).await;
    }

    async fn deliver(&self) -> usize {
        integrations::psa::deliver_due(&self.portal).await.unwrap()
    }

    async fn alert(&self) -> i64 {
        sqlx::query_scalar("SELECT id FROM alerts WHERE state = 'active' AND kind = 'low_space'")
            .fetch_one(&self.portal.db.pool)
            .await
            .unwrap()
    }

    fn tickets(&self) -> Vec<Value> {
        self.connectwise.tickets()
    }

    async fn card(&self) -> TicketQueue {
        let mut conn = self.portal.db.pool.acquire().await.unwrap();
        let card = service::settings(&mut conn, &self.root, CONNECTWISE)
            .await
            .unwrap()
            .unwrap();
        card.queue
    }

    /// The active "PSA tickets failing" alert's message and organization.
    async fn psa_failing(&self) -> Option<(String, String)> {
        sqlx::query_as(
            "SELECT a.message, o.name FROM alerts a JOIN organizations o ON o.id = a.organization_id
             WHERE a.state = 'active' AND a.kind = 'psa_failing'",
        )
        .fetch_optional(&self.portal.db.pool)
        .await
        .unwrap()
    }

    async fn failing(&self) -> Option<String> {
        self.card().await.failing.map(|f| f.error)
    }
}

/// Each note's first line (the portal's note title).
fn note_titles(ticket: &Value) -> Vec<String> {
    ticket["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap().lines().next().unwrap().to_owned())
        .collect()
}

on_both_databases!(
    a_ticket_on_the_board_a_note_on_recurrence_and_completed_on_resolution,
    |db: TestDb| async move {
        let w = world(&db).await;
        w.storage_is(5).await;
        assert_eq!(w.deliver().await, 1);
        let tickets = w.tickets();
        assert_eq!(tickets.len(), 1);
        let ticket = &tickets[0];
        let summary = ticket["summary"].as_str().unwrap();
        assert_eq!(
            summary.chars().count(),
            100,
            "cut to ConnectWise's limit: {summary}"
        );
        assert!(summary.starts_with("Low storage - Initech Consolidated"));
        assert_eq!(ticket["company"]["id"], w.company, "the mapped company");
        assert_eq!(ticket["board"]["name"], "Help Desk");
        assert_eq!(ticket["status"]["name"], "New");
        assert_eq!(ticket["priority"]["name"], "Priority 1 - Emergency Response");
        let alert = w.alert().await;
        assert_eq!(ticket["externalXRef"], format!("[Backplane alert {alert}]"));
        assert!(
            ticket["initialDescription"]
                .as_str()
                .unwrap()
                .contains("Appliance: nas-1")
        );

        center::dismiss(&w.portal, &w.root, &Dismissal::One(alert), &ClientInfo::default())
            .await
            .unwrap();
        w.clock.advance(5 * MINUTE_MS);
        w.storage_is(5).await;
        w.deliver().await;
        w.storage_is(40).await;
        w.deliver().await;
        let tickets = w.tickets();
        assert_eq!(tickets.len(), 1, "no second ticket");
        assert_eq!(
            note_titles(&tickets[0]),
            ["The condition occurred again", "Resolved"]
        );
        assert_eq!(tickets[0]["status"]["name"], "Completed");
        assert_eq!(tickets[0]["closedFlag"], true);
    }
);

on_both_databases!(
    outages_throttling_and_lost_answers_never_double_a_ticket_or_a_note,
    |db: TestDb| async move {
        let w = world(&db).await;

        // Down: the write waits on the retry schedule, and the card says why.
        w.connectwise.outage(Duration::from_secs(600));
        w.storage_is(5).await;
        assert_eq!(w.deliver().await, 1);
        assert!(w.failing().await.unwrap().contains("unavailable"));
        w.clock.advance(MINUTE_MS);
        w.deliver().await;
        w.connectwise.recover();
        w.clock.advance(5 * MINUTE_MS);
        w.deliver().await;
        assert_eq!(w.tickets().len(), 1);
        assert_eq!(w.failing().await, None, "recovered");

        // Throttled with a short Retry-After: honoured within the same delivery.
        let alert = w.alert().await;
        center::dismiss(&w.portal, &w.root, &Dismissal::One(alert), &ClientInfo::default())
            .await
            .unwrap();
        w.clock.advance(5 * MINUTE_MS);
        w.storage_is(5).await;
        w.connectwise.throttle(1, 1);
        assert_eq!(w.deliver().await, 1);
        assert_eq!(note_titles(&w.tickets()[0]), ["The condition occurred again"]);

        // The answer to the closing note is lost: the retry finds it and does not repeat it.
        w.connectwise.lose_responses(1);
        w.storage_is(40).await;
        w.deliver().await;
        w.clock.advance(MINUTE_MS);
        w.deliver().await;
        let tickets = w.tickets();
        assert_eq!(
            note_titles(&tickets[0]),
            ["The condition occurred again", "Resolved"]
        );
        assert_eq!(tickets[0]["status"]["name"], "Completed");

        // The answer to a create is lost: the retry finds the ticket by its external reference.
        w.clock.advance(5 * MINUTE_MS);
        w.connectwise.lose_responses(1);
        w.storage_is(5).await;
        w.deliver().await;
        assert_eq!(w.tickets().len(), 2, "stored, though the answer was lost");
        w.clock.advance(MINUTE_MS);
        w.deliver().await;
        assert_eq!(w.tickets().len(), 2, "not a third");
        let number: Option<String> =
            sqlx::query_scalar("SELECT ticket_number FROM psa_tickets WHERE state = 'open'")
                .fetch_one(&w.portal.db.pool)
                .await
                .unwrap();
        assert_eq!(number, Some(format!("#{}", w.tickets()[1]["id"])));

        // A permission the API member lacks (403) pauses the queue: its writes wait, past the day
        // of retries, until working credentials are saved again.
        w.connectwise.deny_permission(true);
        w.storage_is(40).await;
        w.deliver().await;
        let card = w.card().await;
        assert!(card.failing.unwrap().error.contains("lacks a permission"));
        assert!(card.paused_since.is_some());
        let (message, organization) = w.psa_failing().await.expect("an alert of its own");
        assert!(
            message.starts_with("Tickets for this organization's alerts are not reaching ConnectWise")
                && message.contains("lacks a permission"),
            "{message}"
        );
        assert_eq!(organization, LONG_NAME);
        w.connectwise.deny_permission(false);
        w.clock.advance(30 * HOUR_MS);
        assert_eq!(w.deliver().await, 0, "paused: nothing is sent, nothing given up");
        assert_eq!(w.card().await.pending, 1);
        service::integrate(
            &w.portal,
            &w.root,
            CONNECTWISE,
            form(&w.site, COMPANY, PRIVATE_KEY),
            &ClientInfo::default(),
        )
        .await
        .unwrap();
        assert_eq!(w.deliver().await, 1, "resumed by saving the credentials");
        let card = w.card().await;
        assert_eq!((card.pending, card.failed, card.paused_since), (0, 0, None));
        assert_eq!(
            w.psa_failing().await,
            None,
            "resolved by the write that went through"
        );

        // An outage that lasts: a write is given up after a day of failed retries, and counted.
        w.connectwise.outage(Duration::from_secs(3_600));
        w.clock.advance(5 * MINUTE_MS);
        w.storage_is(5).await;
        for _ in 0..4 {
            w.deliver().await;
            w.clock.advance(15 * MINUTE_MS);
        }
        assert_eq!(w.psa_failing().await, None, "not yet: under an hour of failures");
        for _ in 0..30 {
            w.deliver().await;
            w.clock.advance(HOUR_MS);
        }
        let card = w.card().await;
        assert_eq!((card.pending, card.failed), (0, 1));
        assert!(card.failing.unwrap().error.contains("gave up after a day"));
        let (message, _) = w.psa_failing().await.expect("raised after an hour of failures");
        assert!(message.contains("unavailable"), "{message}");
        w.connectwise.recover();
        assert_eq!(w.tickets()[1]["status"]["name"], "Completed");
    }
);
