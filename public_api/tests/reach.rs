//! The property of issue 16: what a token can read and change is what its credential's creator
//! can in the portal at that moment, for random roles, Global Scope and scopes.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use domain::access::Viewer;
use domain::testkit::{TestDb, add_user};
use domain::{ClientInfo, api_access, instances, on_both_databases, organizations, scopes, users};
use model::alerts::AlertFilter;
use model::tenancy::OrgQuery;
use model::{Action, Role};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use public_api::auth::RateLimit;
use public_api::{ApiState, SigningKeys};
use serde_json::Value;
use tower::ServiceExt;

async fn get(router: &Router, path: &str, token: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method("GET")
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn ids(body: &Value) -> BTreeSet<i64> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Monitor),
        Just(Role::Manage),
        Just(Role::Admin),
        Just(Role::Superuser)
    ]
}

on_both_databases!(
    a_token_reads_and_changes_exactly_what_its_creator_may_now,
    |db: TestDb| async move {
        let (portal, _) = db.portal();
        let mut conn = portal.db.pool.acquire().await.unwrap();
        let acme = instances::insert(&mut conn, "acme", "Acme", 0).await.unwrap();
        let root = add_user(&mut conn, acme.id, "root@acme.example", Role::Superuser, false).await;
        let creator = add_user(&mut conn, acme.id, "maker@acme.example", Role::Superuser, false).await;
        drop(conn);
        let client = ClientInfo::default();
        let mut scope_ids = Vec::new();
        let mut alert_ids = Vec::new();
        for (n, name) in ["East", "West", "North"].into_iter().enumerate() {
            let scope = scopes::create(&portal, &root, name, &client).await.unwrap().id;
            let organization =
                organizations::create(&portal, &root, &format!("Org {n}"), Some(scope), &client)
                    .await
                    .unwrap();
            scope_ids.push(scope);
            alert_ids.push((organization, 0));
        }
        let unassigned = organizations::create(&portal, &root, "Loose", None, &client)
            .await
            .unwrap();
        alert_ids.push((unassigned, 0));
        let made = api_access::create(&portal, &creator, "Prop", &client)
            .await
            .unwrap();
        let unlimited = RateLimit {
            per_minute: 1_000_000,
            burst: 1_000_000,
        };
        let keys = Arc::new(SigningKeys::ephemeral());
        let router = public_api::router(ApiState::with_rate_limit(portal.clone(), keys, unlimited));
        let token = {
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
            let json: Value = serde_json::from_slice(&bytes).unwrap();
            json["access_token"].as_str().unwrap().to_owned()
        };

        let mut runner = TestRunner::new(Config::with_cases(24));
        let cases = (role(), any::<bool>(), proptest::collection::vec(any::<bool>(), 3));
        for case in 0..24 {
            let (role, global, held) = cases.new_tree(&mut runner).unwrap().current();
            // The creator, as an administrator would leave them.
            sqlx::query("UPDATE users SET role = $1, global_scope = $2 WHERE id = $3")
                .bind(role.as_str())
                .bind(i64::from(global))
                .bind(creator.user_id)
                .execute(&portal.db.pool)
                .await
                .unwrap();
            let chosen: Vec<i64> = scope_ids
                .iter()
                .zip(&held)
                .filter(|(_, h)| **h)
                .map(|(s, _)| *s)
                .collect();
            let mut conn = portal.db.pool.acquire().await.unwrap();
            users::set_scopes(&mut conn, creator.user_id, &chosen)
                .await
                .unwrap();
            // A fresh alert per organization each case, so a dismissal is always possible.
            for (organization, alert) in alert_ids.iter_mut() {
                *alert = sqlx::query_scalar(
                    "INSERT INTO alerts (instance_id, organization_id, kind, dedupe_key, message, subject, state, raised_at)
                     VALUES ($1, $2, 'low_space', $3, 'Low on space', 's', 'active', 0) RETURNING id",
                )
                .bind(acme.id)
                .bind(*organization)
                .bind(format!("case{case}-{organization}"))
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            }
            // What the portal shows this user.
            let portal_viewer = Viewer {
                global_scope: global,
                role,
                ..creator.clone()
            };
            let query = OrgQuery {
                per_page: 250,
                ..OrgQuery::default()
            };
            let portal_orgs: BTreeSet<i64> = organizations::list(&mut conn, &portal_viewer, &query)
                .await
                .unwrap()
                .items
                .iter()
                .map(|o| o.id)
                .collect();
            let portal_alerts: BTreeSet<i64> =
                domain::alerts::center::page(&mut conn, &portal_viewer, &AlertFilter::default(), (1, 250))
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .map(|a| a.id)
                    .collect();
            drop(conn);
            let what = format!("case {case}: {role:?}, global {global}, scopes {held:?}");

            let (status, orgs) = get(&router, "/api/v1/organizations?pageSize=250", &token).await;
            assert_eq!(status, StatusCode::OK, "{what}");
            assert_eq!(ids(&orgs), portal_orgs, "{what}: organizations");
            let (_, alerts) = get(&router, "/api/v1/alerts?pageSize=250", &token).await;
            assert_eq!(ids(&alerts), portal_alerts, "{what}: alerts");
            for (organization, _) in &alert_ids {
                let (status, _) =
                    get(&router, &format!("/api/v1/organizations/{organization}"), &token).await;
                let expected = if portal_orgs.contains(organization) {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                };
                assert_eq!(status, expected, "{what}: organization {organization}");
            }
            // Changing: a dismissal succeeds exactly where the portal would let this user.
            for (organization, alert) in &alert_ids {
                let request = Request::post(format!("/api/v1/alerts/{alert}/dismiss"))
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap();
                let status = router.clone().oneshot(request).await.unwrap().status();
                let expected = if !role.can(Action::DismissAlert) {
                    StatusCode::FORBIDDEN
                } else if portal_orgs.contains(organization) {
                    StatusCode::NO_CONTENT
                } else {
                    StatusCode::NOT_FOUND
                };
                assert_eq!(status, expected, "{what}: dismiss in organization {organization}");
            }
        }
    }
);
