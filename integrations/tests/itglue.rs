//! The IT Glue client against the IT Glue emulator: paging, exact-name filters, upserts by name
//! in kebab case, and each failure mode named.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use emulators::itglue::ItGlue;
use integrations::itglue::{ConfigurationFacts, ItGlueClient, ItGlueError};

mod common;

#[tokio::test]
async fn organizations_page_by_name_and_filter_exactly() {
    let itglue = ItGlue::new("ITG.key", 250, 7);
    let client = ItGlueClient::new(&common::serve(itglue.router()).await, "ITG.key").unwrap();
    client.test().await.unwrap();
    let first = client.organizations(1, 100, None).await.unwrap();
    assert_eq!(
        (first.items.len(), first.total_pages, first.total_count),
        (100, 3, 250)
    );
    let last = client.organizations(3, 100, None).await.unwrap();
    assert_eq!(last.items.len(), 50);
    let mut names: Vec<String> = first.items.iter().map(|o| o.name.to_lowercase()).collect();
    let sorted = {
        let mut s = names.clone();
        s.sort();
        s
    };
    assert_eq!(names, sorted, "by name");
    names.dedup();
    assert_eq!(names.len(), 100, "names are distinct");
    let wanted = &itglue.organizations()[17];
    let found = client.organizations(1, 100, Some(&wanted.name)).await.unwrap();
    assert_eq!(
        found.items,
        vec![integrations::itglue::Organization {
            id: wanted.id,
            name: wanted.name.clone()
        }]
    );
}

#[tokio::test]
async fn configurations_are_upserted_by_name_in_kebab_case() {
    let itglue = ItGlue::new("ITG.key", 5, 1);
    let client = ItGlueClient::new(&common::serve(itglue.router()).await, "ITG.key").unwrap();
    let organization = itglue.organizations()[2].id;
    let facts = |notes: &str| ConfigurationFacts {
        organization_id: organization,
        name: "nas-01".into(),
        notes: notes.into(),
    };
    let created = client
        .upsert_configuration(&facts("Last backup: Success"))
        .await
        .unwrap();
    let updated = client
        .upsert_configuration(&facts("Last backup: Error"))
        .await
        .unwrap();
    assert_eq!(created.id, updated.id, "the same configuration, updated");
    let stored = itglue.configurations();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].attributes["notes"], "Last backup: Error");
    assert_eq!(stored[0].organization_id, organization);
    let unknown = ConfigurationFacts {
        organization_id: 1,
        ..facts("x")
    };
    assert!(matches!(
        client.upsert_configuration(&unknown).await,
        Err(ItGlueError::Refused(_))
    ));
}

#[tokio::test]
async fn a_bad_key_an_outage_the_rate_limit_and_no_server_are_each_named() {
    let itglue = ItGlue::new("ITG.key", 5, 1);
    let url = common::serve(itglue.router()).await;
    let wrong = ItGlueClient::new(&url, "ITG.wrong").unwrap();
    assert_eq!(wrong.test().await, Err(ItGlueError::BadKey));
    let client = ItGlueClient::new(&url, "ITG.key").unwrap();
    itglue.outage(Duration::from_secs(60));
    assert_eq!(client.test().await, Err(ItGlueError::Unavailable(503)));
    itglue.outage(Duration::ZERO);
    itglue.set_rate_limit(3);
    for _ in 0..3 {
        client.test().await.unwrap();
    }
    assert_eq!(client.test().await, Err(ItGlueError::RateLimited));
    let nowhere = ItGlueClient::new("http://127.0.0.1:9", "ITG.key").unwrap();
    assert!(matches!(nowhere.test().await, Err(ItGlueError::Unreachable(_))));
    let message = ItGlueError::BadKey.to_string();
    assert!(message.contains("API key"), "{message}");
}
