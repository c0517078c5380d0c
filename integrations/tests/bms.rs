//! Kaseya BMS (and Vorex, the same API) end to end against the BMS emulator, on both databases:
//! a refused login named whether it came as HTTP 200 or not, type and source required and read
//! from the lookup tables, tickets at the account's main location, a new token when the old one
//! expires, and failures reported with HTTP 200 or lost answers never doubling a ticket.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::access::Viewer;
use domain::alerts::center::{self, Dismissal};
use domain::appliances::ApplianceIdentity;
use domain::clock::{MINUTE_MS, ManualClock};
use domain::testkit::{self, TestDb, add_user};
use domain::{ClientInfo, Portal, instances, on_both_databases};
use emulators::bms::{Bms, Credentials};
use integrations::psa::service::{self, CredentialsForm};
use model::Role;
use model::psa::PsaKind;
use serde_json::Value;

const TENANT: &str = "Backplane MSP";
const USER: &str = "api@backplane.example";
const PASSWORD: &str = "bms-secret-01";

mod common;
use common::{pick, refusal, report_storage, serve};

fn emulator(accounts: usize) -> Bms {
    let credentials = Credentials {
        username: USER.into(),
        password: PASSWORD.into(),
        tenant: TENANT.into(),
    };
    Bms::new(credentials, accounts, 3)
}

fn form<'a>(url: &'a str, tenant: &'a str, password: &'a str) -> CredentialsForm<'a> {
    CredentialsForm {
        lookup_url: url,
        username: USER,
        secret: password,
        account: tenant,
    }
}

on_both_databases!(
    a_refused_login_is_named_and_tickets_need_a_type_and_a_source,
    |db: TestDb| async move {
        let (portal, _) = db.portal();
        let client = ClientInfo::default();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let acme = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
        let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
        drop(conn);
        let bms = emulator(5);
        let url = serve(bms.router()).await;
        let kind = PsaKind::Bms;

        let password =
            refusal(service::integrate(&portal, &root, kind, form(&url, TENANT, "wrong"), &client).await);
        assert_eq!(password.field(), Some("secret"), "{password:?}");
        let tenant = refusal(
            service::integrate(&portal, &root, kind, form(&url, "Nobody Inc", PASSWORD), &client).await,
        );
        assert_eq!(tenant.field(), Some("account"), "{tenant:?}");
        assert!(tenant.to_string().contains("Nobody Inc"));

        let set = service::integrate(&portal, &root, kind, form(&url, TENANT, PASSWORD), &client)
            .await
            .unwrap();
        let first = &set.defaults;
        assert_eq!(
            first.ticket_type.as_ref().map(|t| t.label.as_str()),
            Some("Alert")
        );
        assert_eq!(
            first.source.as_ref().map(|s| s.label.as_str()),
            Some("Monitoring")
        );
        assert_eq!(first.new_status.as_ref().map(|s| s.label.as_str()), Some("New"));
        assert_eq!(
            first.close_status.as_ref().map(|s| s.label.as_str()),
            Some("Completed")
        );

        let mut without_type = set.defaults.clone();
        without_type.ticket_type = None;
        let refused = refusal(service::save_defaults(&portal, &root, kind, without_type, &client).await);
        assert_eq!(refused.field(), Some("ticket_type"), "{refused:?}");
        // A BMS without the lookup table offers no types, and the settings say what is missing.
        bms.set_ticket_types(&[]);
        let choices = service::choices(&portal, &root, kind).await.unwrap();
        assert!(choices.types.is_empty() && !choices.sources.is_empty());
        let refused =
            refusal(service::save_defaults(&portal, &root, kind, set.defaults.clone(), &client).await);
        assert_eq!(
            refused.field(),
            Some("ticket_type"),
            "a type BMS no longer lists: {refused:?}"
        );
    }
);

/// An instance with Vorex (BMS's API) integrated, an account with a branch office listed before
/// its main location imported, and a real appliance's organization in it.
struct World {
    portal: Portal,
    clock: std::sync::Arc<ManualClock>,
    root: Viewer,
    bms: Bms,
    account: i64,
    appliance: ApplianceIdentity,
}

async fn world(db: &TestDb) -> World {
    let (portal, clock) = db.portal();
    let client = ClientInfo::default();
    let mut conn = portal.db.pool.acquire().await.unwrap();
    let acme = instances::insert(&mut conn, "acme", "Acme IT", 0).await.unwrap();
    let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
    drop(conn);
    let bms = emulator(4);
    let url = serve(bms.router()).await;
    let set = service::integrate(
        &portal,
        &root,
        PsaKind::Vorex,
        form(&url, TENANT, PASSWORD),
        &client,
    )
    .await
    .unwrap();
    let choices = service::choices(&portal, &root, PsaKind::Vorex).await.unwrap();
    let mut defaults = set.defaults;
    defaults.queue = Some(pick(&choices.queues, "NOC"));
    defaults.critical_priority = Some(pick(&choices.priorities, "Critical"));
    service::save_defaults(&portal, &root, PsaKind::Vorex, defaults, &client)
        .await
        .unwrap();
    // Every second seeded account lists a branch office before its main location.
    let page = service::companies_page(&portal, &root, PsaKind::Vorex, (1, None))
        .await
        .unwrap();
    assert_eq!(page.total, 4);
    let account = 1_002;
    service::import(&portal, &root, PsaKind::Vorex, &[account], None, &client)
        .await
        .unwrap();
    let organization: i64 =
        sqlx::query_scalar("SELECT organization_id FROM psa_mappings WHERE company_id = $1")
            .bind(account)
            .fetch_one(&portal.db.pool)
            .await
            .unwrap();
    let (_, appliance) = testkit::register_appliance(&portal, &root, organization, "nas-1").await;
    World {
        portal,
        clock,
        root,
        bms,
        account,
        appliance,
    }
}

impl World {
    async fn storage_is(&self, free_gb: u64) {
        report_storage(&self.portal, &self.appliance, free_gb).await;
    }

    async fn deliver(&self) -> usize {
        integrations::psa::deliver_due(&self.portal).await.unwrap()
    }

    async fn retry(&self) {
        self.clock.advance(MINUTE_MS);
        self.deliver().await;
    }
}

fn notes(ticket: &Value) -> Vec<String> {
    ticket["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["details"].as_str().unwrap().lines().next().unwrap().to_owned())
        .collect()
}

on_both_databases!(
    tickets_open_at_the_main_location_and_survive_expired_tokens_and_failures_at_http_200,
    |db: TestDb| async move {
        let w = world(&db).await;

        // BMS refuses the create with HTTP 200 and success false: nothing stored, retried.
        w.bms.fail_with_200(1);
        w.storage_is(5).await;
        assert_eq!(w.deliver().await, 1);
        assert!(w.bms.tickets().is_empty());
        w.retry().await;
        let tickets = w.bms.tickets();
        assert_eq!(tickets.len(), 1, "made on the retry");
        let ticket = &tickets[0];
        assert_eq!(ticket["accountId"], w.account);
        assert_eq!(
            ticket["locationName"], "Main",
            "not the branch office listed first"
        );
        assert!(ticket["title"].as_str().unwrap().starts_with("Low storage - "));
        assert!(ticket["details"].as_str().unwrap().contains("Appliance: nas-1"));
        for (field, id) in [
            ("typeId", 31),
            ("sourceId", 41),
            ("statusId", 1),
            ("priorityId", 11),
        ] {
            assert_eq!(ticket[field], id, "{field}");
        }

        // The token expires: the next write signs in again by itself.
        w.bms.expire_tokens();
        let alert: i64 = sqlx::query_scalar("SELECT id FROM alerts WHERE state = 'active'")
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        center::dismiss(&w.portal, &w.root, &Dismissal::One(alert), &ClientInfo::default())
            .await
            .unwrap();
        w.clock.advance(5 * MINUTE_MS);
        w.storage_is(5).await;
        w.deliver().await;
        assert_eq!(notes(&w.bms.tickets()[0]), ["The condition occurred again"]);

        // The answer to the closing note is lost: the retry finds it; then the status moves.
        w.bms.lose_responses(1);
        w.storage_is(40).await;
        w.deliver().await;
        w.retry().await;
        let tickets = w.bms.tickets();
        assert_eq!(tickets.len(), 1);
        assert_eq!(notes(&tickets[0]), ["The condition occurred again", "Resolved"]);
        assert_eq!(tickets[0]["statusId"], 4, "Completed");

        // The answer to a create is lost: the retry finds the ticket by its alert's marker.
        w.clock.advance(5 * MINUTE_MS);
        w.bms.lose_responses(1);
        w.storage_is(5).await;
        w.deliver().await;
        w.retry().await;
        assert_eq!(w.bms.tickets().len(), 2, "not a third");
    }
);

on_both_databases!(
    an_unmapped_organizations_tickets_go_to_the_default_accounts_chosen_location,
    |db: TestDb| async move {
        let w = world(&db).await;
        let client = ClientInfo::default();
        let (default_account, other_account) = (1_004, 1_002);
        let locations = service::locations(&w.portal, &w.root, PsaKind::Vorex, default_account)
            .await
            .unwrap();
        let labels: Vec<&str> = locations.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["Main", "Branch Office"], "the main location first");
        let branch = locations[1].clone();
        let mut defaults = service::settings(
            &mut w.portal.db.pool.acquire().await.unwrap(),
            &w.root,
            PsaKind::Vorex,
        )
        .await
        .unwrap()
        .unwrap()
        .defaults;

        // A location needs its company, and must be one of that company's.
        defaults.location = Some(branch.clone());
        let refused =
            service::save_defaults(&w.portal, &w.root, PsaKind::Vorex, defaults.clone(), &client).await;
        assert_eq!(refusal(refused).field(), Some("location"));
        let elsewhere = service::locations(&w.portal, &w.root, PsaKind::Vorex, other_account)
            .await
            .unwrap();
        defaults.company = Some(model::psa::PsaCompany {
            id: default_account,
            name: String::new(),
        });
        defaults.location = Some(elsewhere[1].clone());
        let refused =
            service::save_defaults(&w.portal, &w.root, PsaKind::Vorex, defaults.clone(), &client).await;
        assert_eq!(
            refusal(refused).field(),
            Some("location"),
            "another account's branch"
        );
        defaults.location = Some(branch);
        let saved = service::save_defaults(&w.portal, &w.root, PsaKind::Vorex, defaults, &client)
            .await
            .unwrap();
        assert_eq!(saved.location.unwrap().label, "Branch Office");

        // The mapped organization's tickets stay at its own account's main location; unmapped,
        // they go to the default account's chosen location.
        let organization: i64 = sqlx::query_scalar("SELECT organization_id FROM psa_mappings")
            .fetch_one(&w.portal.db.pool)
            .await
            .unwrap();
        service::map(&w.portal, &w.root, PsaKind::Vorex, organization, None, &client)
            .await
            .unwrap();
        w.storage_is(5).await;
        w.deliver().await;
        let tickets = w.bms.tickets();
        assert_eq!(tickets.len(), 1);
        assert_eq!(tickets[0]["accountId"], default_account);
        assert_eq!(tickets[0]["locationName"], "Branch Office");
    }
);
