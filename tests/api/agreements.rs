use std::sync::Arc;

use axum::http::StatusCode;
use portal::crypto::sha256_hex;
use portal_tests::{pdf_text, spawn_app, TEST_IP};
use serde_json::{json, Value};

fn titles(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect()
}

fn sign_body(name: &str) -> Value {
    json!({ "full_name": name, "consent": true })
}

#[tokio::test]
async fn the_owner_sees_pending_and_signed_agreements_including_her_childs() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let r = app.get("/v1/agreements", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let mut pending = titles(&r.json["pending"]);
    pending.sort();
    assert_eq!(pending, ["Consent to Treat a Minor", "Notice of Privacy Practices"]);
    assert_eq!(titles(&r.json["signed"]), ["Membership Agreement"]);
    let signed = &r.json["signed"][0]["signature"];
    assert_eq!((&signed["signer_name"], &signed["on_behalf"]), (&json!("Maria Alvarez"), &json!(false)));
    let spouse = app.get("/v1/agreements", Some(&app.spouse_token().await)).await;
    assert!(
        spouse.json["pending"].as_array().unwrap().is_empty() && spouse.json["signed"].as_array().unwrap().is_empty()
    );
}

#[tokio::test]
async fn signing_records_name_consent_time_origin_and_the_hash_of_the_text_read() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let id = &app.demo.agreements.pending_owner;
    let read = app.get(&format!("/v1/agreements/{id}"), Some(&token)).await;
    assert_eq!(read.status, StatusCode::OK);
    let body = read.json["body"].as_str().unwrap();
    assert_eq!(read.json["body_sha256"], sha256_hex(body.as_bytes()));

    let r = app.post(&format!("/v1/agreements/{id}/signature"), sign_body("maria  alvarez"), Some(&token)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["signature"]["text_sha256"], read.json["body_sha256"]);
    assert_eq!(r.json["signature"]["signed_by"], app.demo.owner.as_str());

    let again = app.post(&format!("/v1/agreements/{id}/signature"), sign_body("Maria Alvarez"), Some(&token)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let feed = app.get(&format!("/v1/admin/audit?member_id={}", app.demo.owner), Some(app.admin_key())).await;
    let event = feed.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["new_value"]["agreement_id"] == id.as_str())
        .cloned()
        .expect("an audit event");
    assert_eq!(event["field"], "agreement_signature");
    assert_eq!(event["ip"], TEST_IP);
    assert_eq!(event["new_value"]["text_sha256"], read.json["body_sha256"]);

    let pdf = pdf_text(&app.get(&format!("/v1/agreements/{id}/pdf"), Some(&token)).await.bytes);
    for expected in [
        "Notice of Privacy Practices",
        "ELECTRONIC SIGNATURE",
        "Maria Alvarez",
        TEST_IP,
        "portal-tests/1.0",
        read.json["body_sha256"].as_str().unwrap(),
    ] {
        assert!(pdf.contains(expected), "the signed copy lacks {expected:?}:\n{pdf}");
    }
    assert!(pdf.contains("I acknowledge that I received"));
}

#[tokio::test]
async fn a_wrong_name_or_no_consent_is_refused_and_nothing_is_signed() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let path = format!("/v1/agreements/{}/signature", app.demo.agreements.pending_owner);
    let r = app.post(&path, sign_body("Mary Alvarez"), Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["full_name"]);
    let r = app.post(&path, json!({ "full_name": "Maria Alvarez", "consent": false }), Some(&token)).await;
    assert_eq!(r.fields(), ["consent"]);
    let r = app.post(&path, json!({ "full_name": "Maria Alvarez" }), Some(&token)).await;
    assert_eq!(r.fields(), ["consent"]);
    let pending = app.get("/v1/agreements", Some(&token)).await.json["pending"].as_array().unwrap().len();
    assert_eq!(pending, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_racing_signatures_make_exactly_one() {
    let app = Arc::new(spawn_app().await);
    let token = app.owner_token().await;
    let path = format!("/v1/agreements/{}/signature", app.demo.agreements.pending_owner);
    let (a, b) = {
        let (app1, app2, t1, t2, p1, p2) =
            (app.clone(), app.clone(), token.clone(), token.clone(), path.clone(), path.clone());
        tokio::join!(
            tokio::spawn(async move { app1.post(&p1, sign_body("Maria Alvarez"), Some(&t1)).await }),
            tokio::spawn(async move { app2.post(&p2, sign_body("Maria Alvarez"), Some(&t2)).await }),
        )
    };
    let mut statuses = [a.unwrap().status, b.unwrap().status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    let feed = app.get(&format!("/v1/admin/audit?member_id={}", app.demo.owner), Some(app.admin_key())).await;
    let signatures = feed.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["new_value"]["agreement_id"] == app.demo.agreements.pending_owner.as_str())
        .count();
    assert_eq!(signatures, 1);
}

#[tokio::test]
async fn the_owner_signs_for_her_child_and_the_spouse_may_not() {
    let app = spawn_app().await;
    let child_agreement = &app.demo.agreements.pending_child;
    let spouse = app.spouse_token().await;
    let r = app
        .post(&format!("/v1/agreements/{child_agreement}/signature"), sign_body("Daniel Alvarez"), Some(&spouse))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a non-owner cannot sign for the child");
    let owner = app.owner_token().await;
    // The owner types her own name, not the child's.
    let r = app
        .post(&format!("/v1/agreements/{child_agreement}/signature"), sign_body("Sofia Alvarez"), Some(&owner))
        .await;
    assert_eq!(r.fields(), ["full_name"]);
    let r = app
        .post(&format!("/v1/agreements/{child_agreement}/signature"), sign_body("Maria Alvarez"), Some(&owner))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["member_name"], "Sofia Alvarez");
    assert_eq!(
        (&r.json["signature"]["on_behalf"], &r.json["signature"]["signed_by"]),
        (&json!(true), &json!(app.demo.owner.as_str()))
    );
    let pdf = pdf_text(&app.get(&format!("/v1/agreements/{child_agreement}/pdf"), Some(&owner)).await.bytes);
    assert!(pdf.contains("Signed for: Sofia Alvarez (a minor), by their parent or guardian"), "{pdf}");
}

#[tokio::test]
async fn another_members_or_practices_agreements_are_not_found() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let owner = app.owner_token().await;
    let spouse = app.spouse_token().await;
    let unknown = app.get(&format!("/v1/agreements/agr_{}", "0".repeat(32)), Some(&owner)).await;
    for (token, id) in [(&spouse, &app.demo.agreements.pending_owner), (&owner, &other.agreements.pending_owner)] {
        for path in [format!("/v1/agreements/{id}"), format!("/v1/agreements/{id}/pdf")] {
            let r = app.get(&path, Some(token)).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(r.json, unknown.json);
        }
        let r = app.post(&format!("/v1/agreements/{id}/signature"), sign_body("Maria Alvarez"), Some(token)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_signed_copy_keeps_its_text_and_hash_when_a_new_version_is_published() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let signed = &app.demo.agreements.signed;
    let before = app.get(&format!("/v1/agreements/{signed}"), Some(&token)).await.json;
    let pdf_before = pdf_text(&app.get(&format!("/v1/agreements/{signed}/pdf"), Some(&token)).await.bytes);
    assert!(pdf_before.contains(before["signature"]["text_sha256"].as_str().unwrap()));

    let v2 = json!({ "title": "Membership Agreement", "version": "2027-01", "body": "# Membership Agreement\n\nNew terms for 2027: the fee is billed quarterly." });
    let r = app.post("/v1/admin/agreements", v2, Some(app.admin_key())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let sent = app
        .post(
            &format!("/v1/admin/patients/{}/agreement-requests", app.demo.owner),
            json!({ "document_id": r.json["id"], "send_email": false }),
            Some(app.admin_key()),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED);

    let after = app.get(&format!("/v1/agreements/{signed}"), Some(&token)).await.json;
    assert_eq!(after["body"], before["body"]);
    assert_eq!(after["signature"], before["signature"]);
    assert_eq!(after["body_sha256"], before["body_sha256"]);
    let pdf_after = pdf_text(&app.get(&format!("/v1/agreements/{signed}/pdf"), Some(&token)).await.bytes);
    assert!(!pdf_after.contains("quarterly"));
    assert!(pdf_after.contains(before["signature"]["text_sha256"].as_str().unwrap()));
    let list = app.get("/v1/agreements", Some(&token)).await.json;
    assert!(list["pending"].as_array().unwrap().iter().any(|a| a["version"] == "2027-01"));
}

#[tokio::test]
async fn a_pending_agreement_pdf_is_the_unsigned_text() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let r = app.get(&format!("/v1/agreements/{}/pdf", app.demo.agreements.pending_owner), Some(&token)).await;
    assert_eq!(r.content_type(), "application/pdf");
    let text = pdf_text(&r.bytes);
    assert!(text.contains("NOT YET SIGNED") && text.contains("Notice of Privacy Practices"));
}

#[tokio::test]
async fn the_practice_publishes_documents_and_emails_a_direct_link_to_sign() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let key = app.admin_key();
    let r = app.post("/v1/admin/agreements", json!({ "title": "", "version": "", "body": " " }), Some(key)).await;
    assert_eq!(r.fields(), ["title", "version", "body"]);
    let docs = app.get("/v1/admin/agreements", Some(key)).await;
    assert_eq!(docs.json.as_array().unwrap().len(), 3);
    let doc = &app.demo.agreements.membership_document;
    assert_eq!(app.get(&format!("/v1/admin/agreements/{doc}"), Some(key)).await.json["title"], "Membership Agreement");
    assert_eq!(
        app.get(&format!("/v1/admin/agreements/{doc}"), Some(&other.api_key)).await.status,
        StatusCode::NOT_FOUND
    );

    let r = app
        .post(
            &format!("/v1/admin/patients/{}/agreement-requests", app.demo.spouse),
            json!({ "document_id": doc }),
            Some(key),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let agreement = r.json["agreement_id"].as_str().unwrap().to_owned();
    let mail = app.mail_to(&app.demo.spouse_email).await;
    let body = &mail.last().unwrap().body;
    assert!(mail.last().unwrap().subject.contains("Membership Agreement"));
    let token = body[body.find("token=").unwrap() + 6..].split_whitespace().next().unwrap().to_owned();
    let code = app.post("/v1/auth/code", json!({ "link_token": token }), None).await;
    assert_eq!(code.json["next"], format!("/agreements/{agreement}"));

    let r = app
        .post(
            &format!("/v1/admin/patients/{}/agreement-requests", app.demo.spouse),
            json!({ "document_id": other.agreements.membership_document }),
            Some(key),
        )
        .await;
    assert_eq!(r.fields(), ["document_id"]);
    let r = app
        .post(
            &format!("/v1/admin/patients/{}/agreement-requests", other.spouse),
            json!({ "document_id": doc }),
            Some(key),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            &format!("/v1/admin/patients/{}/agreement-requests", app.demo.spouse),
            json!({ "document_id": doc, "link_to": "elsewhere" }),
            Some(key),
        )
        .await;
    assert_eq!(r.fields(), ["link_to"]);
}
