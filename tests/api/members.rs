use axum::http::StatusCode;
use portal_tests::{spawn_app, TestApp, TEST_IP, TEST_USER_AGENT};
use serde_json::{json, Value};
use time::Duration;

fn contact(app: &TestApp, id: &impl std::fmt::Display) -> String {
    let _ = app;
    format!("/v1/members/{id}/contact")
}

/// The audit feed without the demo's own signed agreement (the agreements tests cover signatures).
async fn audit(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/v1/admin/audit{query}"), Some(app.admin_key())).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let mut feed = r.json;
    if let Some(events) = feed["events"].as_array_mut() {
        events.retain(|e| e["field"] != "agreement_signature");
    }
    feed
}

fn fields(feed: &Value) -> Vec<(String, String)> {
    feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["member_id"].as_str().unwrap().to_owned(), e["field"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn the_owner_sees_everyone_on_the_membership_and_a_member_only_themselves() {
    let app = spawn_app().await;
    let owner = app.get("/v1/members", Some(&app.owner_token().await)).await;
    assert_eq!(owner.status, StatusCode::OK, "{:?}", owner.json);
    let names: Vec<&str> =
        owner.json["members"].as_array().unwrap().iter().map(|m| m["first_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Maria", "Daniel", "Sofia"]);
    let sofia = &owner.json["members"][2];
    assert_eq!(sofia["date_of_birth"], "2015-06-02");
    assert_eq!(sofia["memberships"][0]["plan_name"], "Family Membership");
    assert_eq!(sofia["memberships"][0]["start_date"], "2024-03-01");
    assert_eq!(owner.json["members"][0]["is_you"], true);
    assert_eq!(owner.json["members"][0]["insurance"]["provider"], "Blue Cross Blue Shield of Texas");
    assert_eq!(owner.json["practice_contact"]["phone"], "+15125550100");

    let spouse = app.get("/v1/members", Some(&app.spouse_token().await)).await;
    let names: Vec<&str> =
        spouse.json["members"].as_array().unwrap().iter().map(|m| m["first_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Daniel"]);
}

#[tokio::test]
async fn the_owner_edits_the_spouse_and_the_child_and_each_change_is_audited_once() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let r = app
        .patch(
            &contact(&app, &app.demo.spouse),
            json!({ "phones": [{ "kind": "work", "number": "512.555.0111" }] }),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["member"]["phones"], json!([{ "kind": "work", "number": "+15125550111" }]));
    app.clock.advance(Duration::seconds(1));
    let address = json!({ "line1": "10 Oak Ave", "line2": "Apt 2", "city": "Round Rock", "region": "TX", "postal_code": "78664-1234" });
    let r = app.patch(&contact(&app, &app.demo.child), json!({ "address": address }), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["member"]["address"]["city"], "Round Rock");
    // The same values again change nothing and add no event.
    let r = app.patch(&contact(&app, &app.demo.child), json!({ "address": address }), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);

    let feed = audit(&app, "").await;
    assert_eq!(
        fields(&feed),
        [(app.demo.spouse.to_string(), "phones".to_owned()), (app.demo.child.to_string(), "address".to_owned())]
    );
    let first = &feed["events"][0];
    assert_eq!(first["actor_id"], app.demo.owner.as_str());
    assert_eq!(first["old_value"], json!([{ "kind": "mobile", "number": "+15125550167" }]));
    assert_eq!(first["new_value"], json!([{ "kind": "work", "number": "+15125550111" }]));
    assert_eq!(first["ip"], TEST_IP);
    assert_eq!(first["user_agent"], TEST_USER_AGENT);
    assert!(first["at"].as_str().is_some());
}

#[tokio::test]
async fn a_member_edits_their_own_details_but_not_another_household_members() {
    let app = spawn_app().await;
    let token = app.spouse_token().await;
    let r = app.patch(&contact(&app, &app.demo.spouse), json!({ "address": null }), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert!(r.json["member"].get("address").is_none());
    for other in [&app.demo.owner, &app.demo.child] {
        let r = app.patch(&contact(&app, other), json!({ "phones": [] }), Some(&token)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{other}");
        let r = app.put(&format!("/v1/members/{other}/insurance"), json!({ "insurance": null }), Some(&token)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(fields(&audit(&app, "").await), [(app.demo.spouse.to_string(), "address".to_owned())]);
}

#[tokio::test]
async fn another_practices_members_are_indistinguishable_from_unknown_ones() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let token = app.owner_token().await;
    let foreign = app.patch(&contact(&app, &other.spouse), json!({ "phones": [] }), Some(&token)).await;
    let unknown =
        app.patch(&format!("/v1/members/mbr_{}/contact", "0".repeat(32)), json!({ "phones": [] }), Some(&token)).await;
    let malformed = app.patch("/v1/members/nonsense/contact", json!({ "phones": [] }), Some(&token)).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign.json, unknown.json);
    assert_eq!(foreign.json, malformed.json);
    let r =
        app.put(&format!("/v1/members/{}/insurance", other.owner), json!({ "insurance": null }), Some(&token)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(&format!("/v1/members/{}/email-confirmation", other.owner), json!({ "code": "123456" }), Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The other practice's owner cannot reach this household either, and its feed stays empty.
    let theirs = app.token_in(&other, &other.owner_email, other.owner.as_str()).await;
    let r = app.patch(&contact(&app, &app.demo.child), json!({ "phones": [] }), Some(&theirs)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.patch(&contact(&app, &other.child), json!({ "phones": [] }), Some(&theirs)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(fields(&audit(&app, "").await).is_empty(), "nothing from another practice appears");
}

#[tokio::test]
async fn name_and_birth_date_changes_are_refused_with_the_practices_contact_details() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let r = app
        .patch(
            &contact(&app, &app.demo.child),
            json!({ "first_name": "Sophia", "date_of_birth": "2014-06-02" }),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.problem(), "/problems/contact-practice");
    assert_eq!(r.fields(), ["first_name", "date_of_birth"]);
    assert_eq!(r.json["contact"]["phone"], "+15125550100");
    assert_eq!(r.json["contact"]["email"], "hello@hillside-dpc.example");
    assert!(r.json["detail"].as_str().unwrap().contains("+15125550100"));
    let members = app.get("/v1/members", Some(&token)).await;
    assert_eq!(members.json["members"][2]["first_name"], "Sofia");
}

#[tokio::test]
async fn invalid_email_phone_and_postal_code_are_rejected_with_the_field() {
    let app = spawn_app().await;
    let token = app.spouse_token().await;
    let body = json!({
        "email": "daniel@",
        "phones": [{ "kind": "mobile", "number": "12345" }],
        "address": { "line1": "1 Main", "city": "Austin", "region": "TX", "postal_code": "ABCDE" }
    });
    let r = app.patch(&contact(&app, &app.demo.spouse), body, Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["email", "phones[0].number", "address.postal_code"]);
    let r = app.patch(&contact(&app, &app.demo.spouse), json!({ "nickname": "Dan" }), Some(&token)).await;
    assert_eq!(r.fields(), ["nickname"]);
    assert!(fields(&audit(&app, "").await).is_empty(), "a refused change records nothing");
}

#[tokio::test]
async fn an_email_change_waits_for_the_new_address_to_confirm_and_tells_the_old_one() {
    let app = spawn_app().await;
    let token = app.spouse_token().await;
    let old = app.demo.spouse_email.clone();
    let new = old.replace("daniel.alvarez", "dan.alvarez");
    let r = app.patch(&contact(&app, &app.demo.spouse), json!({ "email": new }), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["member"]["email"], old.as_str(), "unchanged until confirmed");
    assert_eq!(r.json["pending_email_change"]["email"], new.as_str());
    let household = app.get("/v1/members", Some(&token)).await;
    assert_eq!(household.json["members"][0]["pending_email_change"]["email"], new.as_str());
    // Signing in still uses the old address meanwhile.
    let code = app.latest_code(&new).await;
    let confirm = format!("/v1/members/{}/email-confirmation", app.demo.spouse);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let r = app.post(&confirm, json!({ "code": wrong }), Some(&token)).await;
    assert_eq!(r.problem(), "/problems/code-incorrect");
    let r = app.post(&confirm, json!({ "code": code }), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["email"], new.as_str());
    let r = app.post(&confirm, json!({ "code": code }), Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the code is spent");

    let told = app.mail_to(&old).await;
    assert!(told.last().unwrap().subject.contains("was changed"));
    assert!(!told.last().unwrap().body.contains(&new), "the old address sees only a masked new one");
    // The new address now signs in; the old one reaches nobody.
    app.token_for(&new, app.demo.spouse.as_str()).await;
    let r = app.post("/v1/auth/code", json!({ "practice_id": app.demo.practice_id, "email": old }), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(app.mail_to(&old).await.len(), told.len(), "no code goes to the old address");
    let feed = audit(&app, &format!("?member_id={}", app.demo.spouse)).await;
    assert_eq!(fields(&feed), [(app.demo.spouse.to_string(), "email".to_owned())]);
    assert_eq!(feed["events"][0]["old_value"], old.as_str());
}

#[tokio::test]
async fn an_unconfirmed_email_change_expires() {
    let app = spawn_app().await;
    let token = app.spouse_token().await;
    let new = app.demo.spouse_email.replace("daniel", "d");
    app.patch(&contact(&app, &app.demo.spouse), json!({ "email": new }), Some(&token)).await;
    let code = app.latest_code(&new).await;
    app.clock.advance(Duration::minutes(10));
    // A fresh session: the first access token has expired by now too.
    let token = app.spouse_token().await;
    let r = app
        .post(&format!("/v1/members/{}/email-confirmation", app.demo.spouse), json!({ "code": code }), Some(&token))
        .await;
    assert_eq!(r.problem(), "/problems/code-expired");
    let me = app.get("/v1/me", Some(&token)).await;
    assert_eq!(me.json["member"]["email"], app.demo.spouse_email.as_str());
}

#[tokio::test]
async fn insurance_is_set_validated_and_cleared() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let path = format!("/v1/members/{}/insurance", app.demo.child);
    let body = json!({ "insurance": { "provider": "Aetna", "policy_number": "w123 456", "group_number": "G-1", "subscriber_id": "XJH884512377" } });
    let r = app.put(&path, body, Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["insurance"]["policy_number"], "W123 456");
    app.clock.advance(Duration::seconds(1));
    let bad = json!({ "insurance": { "provider": "", "policy_number": "12/34", "group_number": "x".repeat(31) } });
    let r = app.put(&path, bad, Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["insurance.provider", "insurance.policy_number", "insurance.group_number"]);
    let r = app.put(&path, json!({}), Some(&token)).await;
    assert_eq!(r.fields(), ["insurance"]);
    let r = app.put(&path, json!({ "insurance": null }), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json.get("insurance").is_none());
    let feed = audit(&app, "").await;
    assert_eq!(
        fields(&feed),
        [(app.demo.child.to_string(), "insurance".to_owned()), (app.demo.child.to_string(), "insurance".to_owned())]
    );
    assert_eq!(feed["events"][1]["new_value"], Value::Null);
}

#[tokio::test]
async fn the_audit_feed_pages_and_filters() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    // Start after the demo seed's own events.
    app.clock.advance(Duration::seconds(1));
    let start = app.ctx.clock.now().format(&time::format_description::well_known::Rfc3339).unwrap().replace('+', "%2B");
    for n in 0..5 {
        let phones = json!({ "phones": [{ "kind": "home", "number": format!("(512) 555-01{n:02}") }] });
        assert_eq!(app.patch(&contact(&app, &app.demo.owner), phones, Some(&token)).await.status, StatusCode::OK);
        app.clock.advance(Duration::seconds(1));
    }
    let first = audit(&app, &format!("?limit=2&since={start}")).await;
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    let mut seen = first["events"].as_array().unwrap().clone();
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = audit(&app, &format!("?limit=2&since={start}&cursor={c}")).await;
        seen.extend(page["events"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 5);
    let times: Vec<&str> = seen.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "oldest first: {times:?}");

    let since = seen[3]["at"].as_str().unwrap();
    let later = audit(&app, &format!("?since={}", since.replace('+', "%2B"))).await;
    assert_eq!(later["events"].as_array().unwrap().len(), 2);
    assert!(fields(&audit(&app, &format!("?member_id={}", app.demo.child)).await).is_empty());

    for bad in ["?limit=0", "?limit=abc", "?since=yesterday", "?member_id=nope", "?cursor=bm90LWEtY3Vyc29y"] {
        let r = app.get(&format!("/v1/admin/audit{bad}"), Some(app.admin_key())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {:?}", r.json);
    }
    // A cursor from another practice's feed is refused, not followed.
    let other = app.other_practice().await;
    let r = app
        .get(&format!("/v1/admin/audit?cursor={}", first["next_cursor"].as_str().unwrap()), Some(&other.api_key))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["cursor"]);
}
