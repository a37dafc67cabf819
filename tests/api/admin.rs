use axum::http::StatusCode;
use portal_tests::spawn_app;
use serde_json::{json, Value};

fn patient() -> Value {
    json!({
        "external_id": "EHR-77",
        "first_name": "Lena",
        "last_name": "Ortiz",
        "date_of_birth": "1991-11-02",
        "email": "Lena.Ortiz@Example.com",
        "phones": [{ "kind": "mobile", "number": "(737) 555-0110" }],
        "address": { "line1": "9 Elm St", "city": "Austin", "region": "tx", "postal_code": "78701" },
        "insurance": { "provider": "Aetna", "policy_number": "w123-456" }
    })
}

#[tokio::test]
async fn a_practice_adds_and_reads_a_patient_with_normalised_details() {
    let app = spawn_app().await;
    let r = app.post("/v1/admin/patients", patient(), Some(app.admin_key())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["email"], "lena.ortiz@example.com");
    assert_eq!(r.json["phones"][0]["number"], "+17375550110");
    assert_eq!(r.json["address"]["region"], "TX");
    assert_eq!(r.json["insurance"]["policy_number"], "W123-456");
    let id = r.json["id"].as_str().unwrap();
    let got = app.get(&format!("/v1/admin/patients/{id}"), Some(app.admin_key())).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json["external_id"], "EHR-77");
}

#[tokio::test]
async fn invalid_patient_fields_are_all_named() {
    let app = spawn_app().await;
    let mut bad = patient();
    bad["date_of_birth"] = json!("1991-13-02");
    bad["email"] = json!("lena@");
    bad["phones"][0]["number"] = json!("555");
    bad["address"]["postal_code"] = json!("7870");
    let r = app.post("/v1/admin/patients", bad, Some(app.admin_key())).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["date_of_birth", "email", "phones[0].number", "address.postal_code"]);
    let mut unknown_kind = patient();
    unknown_kind["phones"][0]["kind"] = json!("pager");
    let r = app.post("/v1/admin/patients", unknown_kind, Some(app.admin_key())).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["phones[0].kind"]);
}

#[tokio::test]
async fn the_admin_api_needs_a_practice_key() {
    let app = spawn_app().await;
    for key in [None, Some("mpk_wrong"), Some("not-a-key")] {
        let r = app.post("/v1/admin/patients", patient(), key).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{key:?}");
    }
    // A member's session is not an admin credential.
    let member = app.spouse_token().await;
    let r = app.get(&format!("/v1/admin/patients/{}", app.demo.spouse), Some(&member)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_practices_ids_are_indistinguishable_from_unknown_ones() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let key = app.admin_key();
    let cases = [
        (format!("/v1/admin/patients/{}", other.spouse), format!("/v1/admin/patients/mbr_{}", "0".repeat(32))),
        (
            format!("/v1/admin/memberships/{}", other.family_membership),
            format!("/v1/admin/memberships/msh_{}", "0".repeat(32)),
        ),
    ];
    for (foreign, unknown) in cases {
        let f = app.get(&foreign, Some(key)).await;
        let u = app.get(&unknown, Some(key)).await;
        assert_eq!(f.status, StatusCode::NOT_FOUND, "{foreign}");
        assert_eq!(f.json, u.json);
    }
    let r = app
        .put(
            &format!("/v1/admin/memberships/{}", other.family_membership),
            membership(app.demo.owner.as_str(), &[app.demo.owner.as_str()]),
            Some(key),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.put(&format!("/v1/admin/patients/{}", other.spouse), patient(), Some(key)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.post(&format!("/v1/admin/patients/{}/access-email", other.spouse), json!({}), Some(key)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(app.mail_to(&other.spouse_email).await.is_empty());
    // Malformed ids are just as unknown.
    assert_eq!(app.get("/v1/admin/patients/..%2F..", Some(key)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_practice_updates_a_patient_including_name_and_birth_date() {
    let app = spawn_app().await;
    let id =
        app.post("/v1/admin/patients", patient(), Some(app.admin_key())).await.json["id"].as_str().unwrap().to_owned();
    let mut changed = patient();
    changed["last_name"] = json!("Ortiz-Reyes");
    changed["date_of_birth"] = json!("1991-11-03");
    let r = app.put(&format!("/v1/admin/patients/{id}"), changed, Some(app.admin_key())).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["last_name"], "Ortiz-Reyes");
    assert_eq!(r.json["date_of_birth"], "1991-11-03");
    let mut bad = patient();
    bad["first_name"] = json!("");
    let r = app.put(&format!("/v1/admin/patients/{id}"), bad, Some(app.admin_key())).await;
    assert_eq!(r.fields(), ["first_name"]);
}

fn membership(owner: &str, members: &[&str]) -> Value {
    json!({
        "plan_name": "Adult Membership",
        "status": "active",
        "owner_id": owner,
        "enrollments": members.iter().map(|m| json!({ "member_id": m })).collect::<Vec<_>>(),
        "amount": "89.5",
        "billing_period": "monthly",
        "next_bill_date": "2027-01-01",
        "start_date": "2026-01-01"
    })
}

#[tokio::test]
async fn memberships_are_created_and_replaced_with_their_members_in_step() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let lena = app.post("/v1/admin/patients", patient(), Some(key)).await.json["id"].as_str().unwrap().to_owned();
    let r = app.post("/v1/admin/memberships", membership(&lena, &[&lena, app.demo.spouse.as_str()]), Some(key)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["amount"], "89.50");
    let id = r.json["id"].as_str().unwrap().to_owned();

    let spouse = app.spouse_token().await;
    let seen = app.get("/v1/memberships", Some(&spouse)).await;
    assert_eq!(seen.json["current"].as_array().unwrap().len(), 2);

    // Taking the spouse off removes it from their page in the same transaction.
    let r = app.put(&format!("/v1/admin/memberships/{id}"), membership(&lena, &[&lena]), Some(key)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["version"], 2);
    let seen = app.get("/v1/memberships", Some(&spouse)).await;
    assert_eq!(seen.json["current"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn memberships_refuse_members_of_other_practices_and_bad_fields() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let key = app.admin_key();
    let owner = app.demo.owner.as_str();
    let r = app
        .post("/v1/admin/memberships", membership(other.owner.as_str(), &[owner, other.spouse.as_str()]), Some(key))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["owner_id", "enrollments[1].member_id"]);

    let mut bad = membership(owner, &[owner]);
    bad["amount"] = json!("-5");
    bad["status"] = json!("ended");
    let r = app.post("/v1/admin/memberships", bad, Some(key)).await;
    assert_eq!(r.fields(), ["amount", "end_date", "next_bill_date"]);
    let mut wrong_type = membership(owner, &[owner]);
    wrong_type["billing_period"] = json!("weekly");
    assert_eq!(app.post("/v1/admin/memberships", wrong_type, Some(key)).await.fields(), ["billing_period"]);
}

#[tokio::test]
async fn an_access_email_needs_an_address_and_a_portal_path() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let mut no_email = patient();
    no_email["email"] = Value::Null;
    let id = app.post("/v1/admin/patients", no_email, Some(key)).await.json["id"].as_str().unwrap().to_owned();
    let r = app.post(&format!("/v1/admin/patients/{id}/access-email"), json!({}), Some(key)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["email"]);

    let path = format!("/v1/admin/patients/{}/access-email", app.demo.spouse);
    let r = app.post(&path, json!({ "next": "https://evil.example/" }), Some(key)).await;
    assert_eq!(r.fields(), ["next"]);
    let r = app.post(&path, json!({ "next": "/agreements" }), Some(key)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.json["sent_to"].as_str().unwrap().starts_with("d•••@"));
    let mail = app.mail_to(&app.demo.spouse_email).await;
    assert!(mail.last().unwrap().body.contains("https://portal.test/access?token="));
}
