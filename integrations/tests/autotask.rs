//! The Autotask integration against the Autotask emulator, on SQLite and PostgreSQL: only
//! Superusers of the instance configure it, and a wrong credential is named; alerts become one
//! ticket each in the mapped company, a recurrence adds a note, the resolution closes it; an
//! outage delays tickets, and neither a lost answer nor a worker killed mid-write doubles one.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use domain::access::Viewer;
use domain::alerts::center::{self, Dismissal};
use domain::appliances::ApplianceIdentity;
use domain::clock::MINUTE_MS;
use domain::clock::ManualClock;
use domain::testkit::{self, TestDb, add_user};
use domain::{ClientInfo, Portal, instances, on_both_databases, scopes};
use emulators::autotask::{Autotask, Credentials};
use integrations::psa::service::{self, CredentialsForm};
use model::psa::{PsaCompany, PsaKind, TicketDefaults};

const AUTOTASK: PsaKind = PsaKind::Autotask;
use model::{AppError, Role};
use serde_json::Value;

const USER: &str = "api@acme.example";
const SECRET: &str = "s3cret-autotask";
const CODE: &str = "TRACKING-ID-0001";

mod common;
use common::{refusal, report_storage};

/// The emulator's zone lookup address.
async fn serve(autotask: &Autotask) -> String {
    format!("{}/atservicesrest", common::serve(autotask.router()).await)
}

fn emulator() -> Autotask {
    let credentials = Credentials {
        username: USER.into(),
        secret: SECRET.into(),
        integration_code: CODE.into(),
    };
    Autotask::new(credentials, 40, 5)
}

fn form<'a>(url: &'a str, username: &'a str, secret: &'a str, code: &'a str) -> CredentialsForm<'a> {
    CredentialsForm {
        lookup_url: url,
        username,
        secret,
        account: code,
    }
}

/// An instance with an Autotask integration whose defaults send critical alerts as High
/// tickets to "IT.Level I" and close them as Complete; "Initech" is imported and mapped.
struct World {
    portal: Portal,
    clock: std::sync::Arc<ManualClock>,
    root: Viewer,
    autotask: Autotask,
    initech_company: i64,
    appliance: ApplianceIdentity,
    /// The emulator's zone lookup address.
    url: String,
}

async fn world(db: &TestDb) -> World {
    let (portal, clock) = db.portal();
    let client = ClientInfo::default();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let acme = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
    let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
    drop(conn);
    let autotask = emulator();
    let initech_company = autotask.add_company("Initech");
    let url = serve(&autotask).await;
    service::integrate(&portal, &root, AUTOTASK, form(&url, USER, SECRET, CODE), &client)
        .await
        .unwrap();
    let choices = service::choices(&portal, &root, AUTOTASK).await.unwrap();
    let queue = choices.queues.iter().find(|q| q.label == "IT.Level I").cloned();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let mut defaults = service::settings(&mut conn, &root, AUTOTASK)
        .await
        .unwrap()
        .unwrap()
        .defaults;
    drop(conn);
    defaults.queue = queue;
    service::save_defaults(&portal, &root, AUTOTASK, defaults, &client)
        .await
        .unwrap();
    let imported = service::import(&portal, &root, AUTOTASK, &[initech_company], None, &client)
        .await
        .unwrap();
    assert_eq!(imported, 1);
    let initech: i64 = sqlx::query_scalar("SELECT id FROM organizations WHERE name = 'Initech'")
        .fetch_one(&portal.db.pool)
        .await
        .unwrap();
    let (_, appliance) = testkit::register_appliance(&portal, &root, initech, "nas-1").await;
    World {
        portal,
        clock,
        root,
        autotask,
        initech_company,
        appliance,
        url,
    }
}

impl World {
    /// The appliance reports `free_gb` GB free and the alert engine runs.
    async fn storage_is(&self, free_gb: u64) {
        report_storage(&self.portal, &self.appliance, free_gb).await;
    }

    async fn deliver(&self) -> usize {
        integrations::psa::deliver_due(&self.portal).await.unwrap()
    }

    async fn active_alert(&self) -> i64 {
        sqlx::query_scalar("SELECT id FROM alerts WHERE state = 'active' AND kind = 'low_space'")
            .fetch_one(&self.portal.db.pool)
            .await
            .unwrap()
    }

    fn tickets(&self) -> Vec<Value> {
        self.autotask
            .tickets()
            .into_iter()
            .filter(|t| !t["title"].as_str().unwrap().starts_with("Test - "))
            .collect()
    }
}

fn note_titles(ticket: &Value) -> Vec<String> {
    ticket["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_owned())
        .collect()
}

on_both_databases!(
    only_superusers_integrate_and_a_wrong_credential_is_named,
    |db: TestDb| async move {
        let (portal, _) = db.portal();
        let client = ClientInfo::default();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let acme = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
        let other = instances::insert(&mut conn, "other", "Other", 0).await.unwrap();
        let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
        let admin = add_user(&mut conn, acme.id, "admin@acme.example", Role::Admin, true).await;
        let stranger = add_user(&mut conn, other.id, "root@other.example", Role::Superuser, false).await;
        drop(conn);
        let autotask = emulator();
        let url = serve(&autotask).await;

        assert_eq!(
            refusal(
                service::integrate(&portal, &admin, AUTOTASK, form(&url, USER, SECRET, CODE), &client).await
            ),
            AppError::Forbidden
        );
        let cases = [
            (
                form(&url, "nobody@acme.example", SECRET, CODE),
                "username",
                "does not know the API user",
            ),
            (form(&url, USER, "wrong", CODE), "secret", "refused the password"),
            (
                form(&url, USER, SECRET, "WRONG-CODE"),
                "username",
                "tracking identifier",
            ),
            (
                form("http://127.0.0.1:9", USER, SECRET, CODE),
                "lookup_url",
                "could not be reached",
            ),
            (form(&url, USER, "", CODE), "secret", "Secret"),
            (form(&url, USER, SECRET, " "), "account", "tracking identifier"),
            (
                form("ftp://example.com", USER, SECRET, CODE),
                "lookup_url",
                "zone lookup",
            ),
        ];
        for (form, field, words) in cases {
            let refused = refusal(service::integrate(&portal, &root, AUTOTASK, form, &client).await);
            assert_eq!(refused.field(), Some(field), "{refused}");
            assert!(refused.to_string().contains(words), "{refused}");
        }
        let mut conn = portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            service::settings(&mut conn, &root, AUTOTASK).await.unwrap(),
            None,
            "nothing stored"
        );
        drop(conn);

        let set = service::integrate(&portal, &root, AUTOTASK, form(&url, USER, SECRET, CODE), &client)
            .await
            .unwrap();
        assert_eq!((set.username.as_str(), set.account.as_str()), (USER, CODE));
        assert!(
            set.api_url.ends_with("/ATServicesRest"),
            "the zone the lookup named: {}",
            set.api_url
        );
        let labels = |v: &Option<model::psa::PickValue>| v.as_ref().map(|v| v.label.clone());
        assert_eq!(labels(&set.defaults.critical_priority).as_deref(), Some("High"));
        assert_eq!(labels(&set.defaults.close_status).as_deref(), Some("Complete"));
        let sealed: String = sqlx::query_scalar("SELECT credentials FROM psa_integrations")
            .fetch_one(&portal.db.pool)
            .await
            .unwrap();
        assert!(!sealed.contains(SECRET), "sealed at rest");
        // An empty secret keeps the stored one.
        service::integrate(&portal, &root, AUTOTASK, form(&url, USER, "", CODE), &client)
            .await
            .unwrap();

        // Another instance sees nothing; an Admin may do nothing.
        let mut conn = portal.db.pool.acquire().await.unwrap();
        assert_eq!(
            service::settings(&mut conn, &stranger, AUTOTASK).await.unwrap(),
            None
        );
        assert_eq!(
            refusal(service::settings(&mut conn, &admin, AUTOTASK).await),
            AppError::Forbidden
        );
        drop(conn);
        assert_eq!(
            refusal(service::choices(&portal, &admin, AUTOTASK).await),
            AppError::Forbidden
        );
        assert_eq!(
            refusal(service::companies_page(&portal, &admin, AUTOTASK, (1, None)).await),
            AppError::Forbidden
        );
        assert_eq!(
            refusal(
                service::save_defaults(&portal, &admin, AUTOTASK, TicketDefaults::default(), &client).await
            ),
            AppError::Forbidden
        );
        assert_eq!(
            refusal(service::map_by_name(&portal, &admin, AUTOTASK, &client).await),
            AppError::Forbidden
        );
        assert_eq!(
            refusal(service::remove(&portal, &admin, AUTOTASK, &client).await),
            AppError::Forbidden
        );
        assert!(matches!(
            refusal(service::choices(&portal, &stranger, AUTOTASK).await),
            AppError::Conflict { .. }
        ));

        // Values Autotask does not have are refused, naming the field; nothing changes.
        let mut bad = set.defaults.clone();
        bad.queue = Some(model::psa::PickValue {
            value: "999".into(),
            label: "Gone".into(),
        });
        let refused = refusal(service::save_defaults(&portal, &root, AUTOTASK, bad, &client).await);
        assert_eq!(refused.field(), Some("queue"));
        let mut bad = set.defaults.clone();
        bad.company = Some(PsaCompany {
            id: 424_242,
            name: "Nobody".into(),
        });
        assert_eq!(
            refusal(service::save_defaults(&portal, &root, AUTOTASK, bad, &client).await).field(),
            Some("company")
        );

        // The test ticket goes to the default company, with the chosen settings.
        let mut chosen = set.defaults.clone();
        let missing = refusal(service::test_ticket(&portal, &root, AUTOTASK, chosen.clone()).await);
        assert_eq!(missing.field(), Some("company"));
        chosen.company = Some(PsaCompany {
            id: 0,
            name: String::new(),
        });
        let test = service::test_ticket(&portal, &root, AUTOTASK, chosen)
            .await
            .unwrap();
        let tickets = autotask.tickets();
        assert_eq!(tickets.len(), 1);
        assert_eq!(tickets[0]["title"], "Test - Acme IT - Backplane");
        assert_eq!(tickets[0]["ticketNumber"], test.number.as_str());
        assert_eq!(tickets[0]["priority"], 1, "High, as read from the picklist");

        // Companies: 100 a page, searchable; import, map by name, never over a set mapping.
        let page = service::companies_page(&portal, &root, AUTOTASK, (1, None))
            .await
            .unwrap();
        assert_eq!((page.items.len(), page.total), (41, 41));
        let acme_co = autotask.add_company("Acme Widgets");
        let globex_co = autotask.add_company("Globex Unique");
        let found = service::companies_page(&portal, &root, AUTOTASK, (1, Some("widgets")))
            .await
            .unwrap();
        assert_eq!(found.items.iter().map(|c| c.id).collect::<Vec<_>>(), [acme_co]);
        let east = scopes::create(&portal, &root, "East", &client).await.unwrap().id;
        assert_eq!(
            service::import(&portal, &root, AUTOTASK, &[acme_co], Some(east), &client)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            service::import(&portal, &root, AUTOTASK, &[acme_co], Some(east), &client)
                .await
                .unwrap(),
            0
        );
        let globex = domain::organizations::create(&portal, &root, "globex unique", None, &client)
            .await
            .unwrap();
        let other_org = domain::organizations::create(&portal, &root, "Umbrella Elsewhere", None, &client)
            .await
            .unwrap();
        assert_eq!(
            service::map_by_name(&portal, &root, AUTOTASK, &client)
                .await
                .unwrap(),
            1
        );
        let mapped = service::companies_page(&portal, &root, AUTOTASK, (1, Some("Globex Unique")))
            .await
            .unwrap();
        assert_eq!(mapped.items[0].mapped_to.as_ref().map(|o| o.id), Some(globex));
        let taken =
            refusal(service::map(&portal, &root, AUTOTASK, other_org, Some(globex_co), &client).await);
        assert!(matches!(taken, AppError::Conflict { .. }), "{taken}");
        let stranger_org = domain::organizations::create(&portal, &stranger, "Theirs", None, &client)
            .await
            .unwrap();
        assert!(matches!(
            refusal(service::map(&portal, &root, AUTOTASK, stranger_org, Some(acme_co), &client).await),
            AppError::NotFound { .. }
        ));
        service::map(&portal, &root, AUTOTASK, globex, None, &client)
            .await
            .unwrap();
        assert_eq!(
            service::map_by_name(&portal, &root, AUTOTASK, &client)
                .await
                .unwrap(),
            1,
            "mapped again"
        );

        // Removing the integration removes its mappings; the organizations stay.
        service::remove(&portal, &root, AUTOTASK, &client).await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM psa_mappings")
            .fetch_one(&portal.db.pool)
            .await
            .unwrap();
        assert_eq!(left, 0);
        let mut conn = portal.db.pool.acquire().await.unwrap();
        assert!(domain::organizations::get(&mut conn, &root, globex).await.is_ok());
    }
);

on_both_databases!(
    an_alert_opens_one_ticket_a_recurrence_adds_a_note_and_the_resolution_closes_it,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        w.storage_is(5).await;
        assert_eq!(w.deliver().await, 1);
        let tickets = w.tickets();
        assert_eq!(tickets.len(), 1);
        let ticket = &tickets[0];
        assert_eq!(ticket["title"], "Low storage - Initech - nas-1");
        assert_eq!(ticket["companyID"], w.initech_company, "the mapped company");
        assert_eq!(ticket["queueID"], 29_683_482, "IT.Level I");
        assert_eq!(
            (ticket["priority"].clone(), ticket["status"].clone()),
            (1.into(), 1.into())
        );
        let description = ticket["description"].as_str().unwrap();
        let alert = w.active_alert().await;
        for line in [
            "Severity: critical",
            "Organization: Initech",
            "Appliance: nas-1",
            &format!("[Backplane alert {alert}]"),
        ] {
            assert!(description.contains(line), "{line:?} in {description}");
        }
        assert!(!ticket["dueDateTime"].is_null());
        assert_eq!(w.deliver().await, 0, "sent once");

        // Dismissed while the condition holds: the next alert notes the open ticket.
        center::dismiss(&w.portal, &w.root, &Dismissal::One(alert), &client)
            .await
            .unwrap();
        w.clock.advance(5 * MINUTE_MS);
        w.storage_is(5).await;
        w.deliver().await;
        let tickets = w.tickets();
        assert_eq!(tickets.len(), 1, "no second ticket");
        assert_eq!(note_titles(&tickets[0]), ["The condition occurred again"]);

        // Resolved: a closing note, then the close status.
        w.storage_is(40).await;
        w.deliver().await;
        let tickets = w.tickets();
        assert_eq!(
            note_titles(&tickets[0]),
            ["The condition occurred again", "Resolved"]
        );
        assert_eq!(tickets[0]["status"], 5, "Complete");

        // The same condition later opens a new ticket.
        w.clock.advance(5 * MINUTE_MS);
        w.storage_is(5).await;
        w.deliver().await;
        assert_eq!(w.tickets().len(), 2);
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let card = service::settings(&mut conn, &w.root, AUTOTASK)
            .await
            .unwrap()
            .unwrap()
            .queue;
        assert_eq!(
            (card.open_tickets, card.pending, card.failed, card.failing),
            (1, 0, 0, None)
        );
        assert!(w.autotask.most_in_flight() <= emulators::autotask::THREADS_PER_ENDPOINT);
    }
);

on_both_databases!(
    an_outage_delays_tickets_and_a_lost_answer_or_a_killed_worker_never_doubles_them,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();

        // Autotask is down: the write waits, the card says why, nothing is lost.
        w.autotask.outage(Duration::from_secs(3600));
        w.storage_is(5).await;
        assert_eq!(w.deliver().await, 1);
        assert_eq!(w.deliver().await, 0, "not before its retry time");
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let card = service::settings(&mut conn, &w.root, AUTOTASK)
            .await
            .unwrap()
            .unwrap()
            .queue;
        drop(conn);
        assert_eq!(card.pending, 1);
        assert!(card.failing.unwrap().error.contains("unavailable"));
        for minutes in [1, 5, 15] {
            w.clock.advance(minutes * MINUTE_MS);
            assert_eq!(w.deliver().await, 1, "retried after {minutes} min");
        }
        // A recurrence queued meanwhile waits behind the ticket's creation.
        let alert = w.active_alert().await;
        center::dismiss(&w.portal, &w.root, &Dismissal::One(alert), &client)
            .await
            .unwrap();
        w.clock.advance(5 * MINUTE_MS);
        w.storage_is(5).await;
        w.autotask.recover();
        w.clock.advance(60 * MINUTE_MS);
        w.deliver().await;
        let tickets = w.tickets();
        assert_eq!(tickets.len(), 1, "exactly one ticket");
        assert_eq!(
            note_titles(&tickets[0]),
            ["The condition occurred again"],
            "its note after it"
        );
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let card = service::settings(&mut conn, &w.root, AUTOTASK)
            .await
            .unwrap()
            .unwrap()
            .queue;
        drop(conn);
        assert_eq!((card.pending, card.failing), (0, None), "recovered");

        // The answer to the closing note is lost: the retry finds the note and does not repeat it.
        w.autotask.lose_responses(1);
        w.storage_is(40).await;
        w.deliver().await;
        w.clock.advance(MINUTE_MS);
        w.deliver().await;
        let tickets = w.tickets();
        assert_eq!(
            note_titles(&tickets[0]),
            ["The condition occurred again", "Resolved"]
        );
        assert_eq!(tickets[0]["status"], 5);

        // The answer to a create is lost: the retry finds the ticket by its alert's marker.
        w.clock.advance(5 * MINUTE_MS);
        w.autotask.lose_responses(1);
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
        assert_eq!(number.as_deref(), w.tickets()[1]["ticketNumber"].as_str());

        // A worker killed after Autotask made the ticket, before it was recorded: once its
        // lease runs out, the next worker finds the ticket instead of making another.
        w.storage_is(40).await;
        w.deliver().await;
        w.clock.advance(5 * MINUTE_MS);
        w.storage_is(5).await;
        let claimed = domain::psa::claim_due(&w.portal.db, w.portal.now(), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let domain::psa::TicketWrite::Create {
            company_id,
            title,
            description,
            priority,
            ..
        } = claimed[0].write.clone()
        else {
            panic!("a create")
        };
        let credentials = integrations::autotask::AutotaskCredentials {
            username: USER.into(),
            secret: SECRET.into(),
            integration_code: CODE.into(),
        };
        let autotask = integrations::autotask::AutotaskClient::discover(&w.url, credentials)
            .await
            .unwrap();
        let ticket = integrations::psa::NewTicket {
            company_id,
            title,
            description,
            queue: None,
            status: None,
            priority,
            due_at_ms: 0,
            ticket_type: None,
            source: None,
            location: None,
            reference: String::new(),
        };
        autotask.create_ticket(&ticket).await.unwrap();
        assert_eq!(w.tickets().len(), 3);
        assert_eq!(w.deliver().await, 0, "leased to the killed worker");
        w.clock.advance(3 * MINUTE_MS);
        assert_eq!(w.deliver().await, 1);
        assert_eq!(w.tickets().len(), 3, "found, not made again");
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM psa_tickets WHERE state = 'open' AND external_id IS NOT NULL",
        )
        .fetch_one(&w.portal.db.pool)
        .await
        .unwrap();
        assert_eq!(open, 1);
    }
);

on_both_databases!(
    an_organizations_own_settings_replace_the_defaults_until_reset,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let initech: i64 = sqlx::query_scalar("SELECT id FROM organizations WHERE name = 'Initech'")
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let acme = w.root.instance_id;
        let other = instances::insert(&mut conn, "other", "Other", 0).await.unwrap();
        let admin = add_user(&mut conn, acme, "admin@acme.example", Role::Admin, true).await;
        let stranger = add_user(&mut conn, other.id, "root@other.example", Role::Superuser, false).await;
        drop(conn);

        let before = service::organization_settings(&w.portal, &w.root, AUTOTASK, initech)
            .await
            .unwrap();
        assert!(!before.own);
        let mut own = before.settings.clone();
        let choices = service::choices(&w.portal, &w.root, AUTOTASK).await.unwrap();
        let pick =
            |list: &[model::psa::PickValue], label: &str| list.iter().find(|v| v.label == label).cloned();
        own.critical_priority = pick(&choices.priorities, "Critical");
        own.queue = pick(&choices.queues, "Monitoring Alert");
        own.close_status = None;

        // Who may: Superusers of the instance, on organizations they see.
        assert_eq!(
            refusal(service::overwrite(&w.portal, &admin, AUTOTASK, initech, own.clone(), &client).await),
            AppError::Forbidden
        );
        assert!(matches!(
            refusal(service::overwrite(&w.portal, &stranger, AUTOTASK, initech, own.clone(), &client).await),
            AppError::NotFound { .. }
        ));
        assert!(matches!(
            refusal(service::organization_settings(&w.portal, &stranger, AUTOTASK, initech).await),
            AppError::NotFound { .. }
        ));
        let mut bad = own.clone();
        bad.new_status = Some(model::psa::PickValue {
            value: "77".into(),
            label: "?".into(),
        });
        assert_eq!(
            refusal(service::overwrite(&w.portal, &w.root, AUTOTASK, initech, bad, &client).await).field(),
            Some("new_status")
        );

        service::overwrite(&w.portal, &w.root, AUTOTASK, initech, own, &client)
            .await
            .unwrap();
        let after = service::organization_settings(&w.portal, &w.root, AUTOTASK, initech)
            .await
            .unwrap();
        assert!(after.own);
        assert_eq!(
            after.settings.queue.unwrap().label,
            "Monitoring Alert",
            "labels from Autotask"
        );

        // Its alerts follow its own settings: Critical, its queue, not closed on resolution.
        w.storage_is(5).await;
        w.deliver().await;
        w.storage_is(40).await;
        w.deliver().await;
        let tickets = w.tickets();
        assert_eq!(tickets.len(), 1);
        assert_eq!(
            (tickets[0]["priority"].clone(), tickets[0]["queueID"].clone()),
            (4.into(), 29_683_481.into())
        );
        assert_eq!(tickets[0]["status"], 1, "Do not close automatically");
        assert!(tickets[0]["notes"].as_array().unwrap().is_empty());
        assert_eq!(
            tickets[0]["companyID"], w.initech_company,
            "the mapping still decides the company"
        );

        // Reset for all: the integration's settings again.
        assert_eq!(
            service::reset_all(&w.portal, &w.root, AUTOTASK, &client)
                .await
                .unwrap(),
            1
        );
        assert!(
            !service::organization_settings(&w.portal, &w.root, AUTOTASK, initech)
                .await
                .unwrap()
                .own
        );
        service::use_defaults(&w.portal, &w.root, AUTOTASK, initech, &client)
            .await
            .unwrap();
        assert_eq!(
            refusal(service::reset_all(&w.portal, &admin, AUTOTASK, &client).await),
            AppError::Forbidden
        );
    }
);

on_both_databases!(
    every_role_reads_the_mappings_of_the_organizations_it_sees_and_only_superusers_change_them,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let initech: i64 = sqlx::query_scalar("SELECT id FROM organizations WHERE name = 'Initech'")
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        let mut conn = w.portal.db.pool.acquire().await.unwrap();
        let acme = w.root.instance_id;
        let monitor = add_user(&mut conn, acme, "monitor@acme.example", Role::Monitor, true).await;
        let scoped = add_user(&mut conn, acme, "scoped@acme.example", Role::Admin, false).await;
        let other = instances::insert(&mut conn, "other", "Other", 0).await.unwrap();
        let stranger = add_user(&mut conn, other.id, "root@other.example", Role::Superuser, false).await;

        let columns = service::mapped_companies(&mut conn, &monitor, &[initech])
            .await
            .unwrap();
        assert_eq!(columns.len(), 1);
        assert_eq!(columns[0].psa, AUTOTASK);
        let company = columns[0].company_of(initech).unwrap();
        assert_eq!(
            (company.id, company.name.as_str()),
            (w.initech_company, "Initech")
        );
        assert_eq!(
            refusal(service::map(&w.portal, &monitor, AUTOTASK, initech, None, &client).await),
            AppError::Forbidden,
            "a Monitor reads the mapping, and changes nothing"
        );
        let hidden = service::mapped_companies(&mut conn, &scoped, &[initech])
            .await
            .unwrap();
        assert!(hidden[0].mapped.is_empty(), "outside the user's scopes");
        let foreign = service::mapped_companies(&mut conn, &stranger, &[initech])
            .await
            .unwrap();
        assert!(
            foreign.is_empty(),
            "another instance sees none of this instance's PSAs"
        );
    }
);
