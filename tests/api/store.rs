//! The store contract: the same repository code on the embedded table and on
//! DynamoDB must keep the same conditions, transactions and indexes.

use portal::domain::access::{RateWindow, Session};
use portal::domain::contact::Email;
use portal::domain::ids::{MemberId, SessionId};
use portal::ports::{RateScope, StoreError};
use portal_tests::{backend, spawn_app, Backend};
use time::OffsetDateTime;

#[tokio::test]
async fn dynamodb_is_configured_when_ci_runs() {
    if std::env::var("CI").is_ok_and(|v| v == "true")
        && std::env::var("PORTAL_TEST_STORE").is_ok_and(|v| v == "dynamodb")
    {
        assert!(matches!(backend(), Backend::Dynamo { .. }), "CI must test on DynamoDB");
    }
}

#[tokio::test]
async fn creating_an_existing_practice_conflicts() {
    let app = spawn_app().await;
    let practice = app.ctx.store.get_practice(&app.demo.practice_id).await.unwrap().unwrap();
    let key = portal::ports::ApiKey {
        practice_id: practice.id.clone(),
        label: "again".into(),
        created_at: practice.created_at,
    };
    let r = app.ctx.store.create_practice(&practice, "another-hash", &key).await;
    assert!(matches!(r, Err(StoreError::Conflict)));
    // The transaction wrote nothing: the second key does not exist.
    assert!(app.ctx.store.find_api_key("another-hash").await.unwrap().is_none());
}

#[tokio::test]
async fn a_write_from_a_stale_read_conflicts_and_changes_nothing() {
    let app = spawn_app().await;
    let store = &app.ctx.store;
    let p = &app.demo.practice_id;
    let original = store.get_member(p, &app.demo.spouse).await.unwrap().unwrap();
    let mut first = original.clone();
    first.first_name = "Dan".into();
    first.version += 1;
    store.save_member(&first, Some(&original), &[]).await.unwrap();
    let mut second = original.clone();
    second.first_name = "Danny".into();
    second.version += 1;
    assert!(matches!(store.save_member(&second, Some(&original), &[]).await, Err(StoreError::Conflict)));
    assert_eq!(store.get_member(p, &app.demo.spouse).await.unwrap().unwrap().first_name, "Dan");
}

#[tokio::test]
async fn a_failed_membership_transaction_leaves_every_view_unchanged() {
    let app = spawn_app().await;
    let store = &app.ctx.store;
    let p = &app.demo.practice_id;
    let current = store.get_membership(p, &app.demo.family_membership).await.unwrap().unwrap();
    let mut stale = current.clone();
    stale.version = 0; // as if read before the membership existed
    let mut next = current.clone();
    next.plan_name = "Renamed".into();
    next.enrollments.retain(|e| e.member_id != app.demo.spouse);
    next.version = 1;
    assert!(matches!(store.save_membership(&next, Some(&stale)).await, Err(StoreError::Conflict)));
    let spouse_view = store.memberships_of(p, &app.demo.spouse).await.unwrap();
    assert_eq!(spouse_view.len(), 1);
    assert_eq!(spouse_view[0].plan_name, "Family Membership");
}

#[tokio::test]
async fn members_are_found_by_email_within_their_practice_only() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let store = &app.ctx.store;
    let email = Email::parse(&app.demo.owner_email).unwrap();
    let found: Vec<MemberId> =
        store.members_with_email(&app.demo.practice_id, &email).await.unwrap().into_iter().map(|m| m.id).collect();
    let mut expected = vec![app.demo.owner.clone(), app.demo.child.clone()];
    expected.sort();
    assert_eq!(found, expected);
    assert!(store.members_with_email(&other.practice_id, &email).await.unwrap().is_empty());
    assert_eq!(store.get_members(&other.practice_id, &expected).await.unwrap().len(), 0);
}

#[tokio::test]
async fn sessions_update_by_version_and_delete() {
    let app = spawn_app().await;
    let store = &app.ctx.store;
    let now = OffsetDateTime::now_utc();
    let session = Session {
        id: SessionId::from_random(portal::ports::Random::bytes16(&portal::adapters::system::SecureRandom)),
        practice_id: app.demo.practice_id.clone(),
        member_id: app.demo.spouse.clone(),
        created_at: now,
        expires_at: now + time::Duration::hours(1),
        refresh_hash: "a".into(),
        previous_refresh_hash: None,
        version: 0,
    };
    store.create_session(&session).await.unwrap();
    assert!(matches!(store.create_session(&session).await, Err(StoreError::Conflict)));
    let next = Session { refresh_hash: "b".into(), version: 1, ..session.clone() };
    store.update_session(&next).await.unwrap();
    assert!(matches!(store.update_session(&next).await, Err(StoreError::Conflict)));
    assert_eq!(store.get_session(&session.id).await.unwrap().unwrap().refresh_hash, "b");
    store.delete_session(&session.id).await.unwrap();
    assert!(store.get_session(&session.id).await.unwrap().is_none());
}

#[tokio::test]
async fn rate_windows_count_without_lost_updates() {
    let app = spawn_app().await;
    let store = &app.ctx.store;
    let key = format!("test-{}", app.demo.practice_id);
    let now = OffsetDateTime::now_utc();
    let first = RateWindow::hit(None, 5, now).unwrap();
    store.put_rate_window(RateScope::Email, &key, &first).await.unwrap();
    // A second writer that also saw no window loses.
    assert!(matches!(store.put_rate_window(RateScope::Email, &key, &first).await, Err(StoreError::Conflict)));
    let second = RateWindow::hit(Some(&first), 5, now).unwrap();
    store.put_rate_window(RateScope::Email, &key, &second).await.unwrap();
    assert_eq!(store.get_rate_window(RateScope::Email, &key).await.unwrap().unwrap().count, 2);
}
