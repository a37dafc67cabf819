use axum::http::StatusCode;
use portal_tests::spawn_app;
use serde_json::{json, Value};

fn plans(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|m| m["plan_name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_owner_sees_current_and_previous_memberships_with_members_dates_and_amounts() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let r = app.get("/v1/memberships", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(plans(&r.json["current"]), ["Family Membership"]);
    assert_eq!(plans(&r.json["previous"]), ["Individual Membership"]);

    let family = &r.json["current"][0];
    assert_eq!(family["status"], "active");
    assert_eq!(family["is_owner"], true);
    assert_eq!(family["amount"], "175.00");
    assert_eq!(family["currency"], "USD");
    assert_eq!(family["billing_period"], "monthly");
    assert!(family["next_bill_date"].as_str().unwrap().ends_with("-01"));
    let members: Vec<(&str, &str)> = family["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["first_name"].as_str().unwrap(), m["start_date"].as_str().unwrap()))
        .collect();
    assert_eq!(members, [("Maria", "2024-01-01"), ("Daniel", "2024-01-01"), ("Sofia", "2024-03-01")]);

    let past = &r.json["previous"][0];
    assert_eq!(past["status"], "ended");
    assert_eq!(past["end_date"], "2023-12-31");
    assert_eq!(past["members"][0]["end_date"], "2023-12-31");
    assert_eq!(past["next_bill_date"], Value::Null);
}

#[tokio::test]
async fn a_member_sees_only_the_memberships_they_are_on() {
    let app = spawn_app().await;
    let token = app.spouse_token().await;
    let r = app.get("/v1/memberships", Some(&token)).await;
    assert_eq!(plans(&r.json["current"]), ["Family Membership"]);
    assert_eq!(r.json["current"][0]["is_owner"], false);
    assert_eq!(r.json["current"][0]["owner"]["first_name"], "Maria");
    assert!(r.json["previous"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_member_who_left_a_membership_sees_it_among_previous_ones() {
    let app = spawn_app().await;
    let path = format!("/v1/admin/memberships/{}", app.demo.family_membership);
    let mut m = app.get(&path, Some(app.admin_key())).await.json;
    let enrollments = m["enrollments"].as_array_mut().unwrap();
    for e in enrollments.iter_mut() {
        if e["member_id"] == app.demo.spouse.as_str() {
            e["end_date"] = json!("2024-06-30");
        }
    }
    let body = json!({
        "plan_name": m["plan_name"], "status": m["status"], "owner_id": m["owner_id"],
        "enrollments": m["enrollments"], "amount": m["amount"], "billing_period": m["billing_period"],
        "next_bill_date": m["next_bill_date"], "start_date": m["start_date"],
    });
    let r = app.put(&path, body, Some(app.admin_key())).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);

    let spouse = app.get("/v1/memberships", Some(&app.spouse_token().await)).await;
    assert!(spouse.json["current"].as_array().unwrap().is_empty());
    assert_eq!(plans(&spouse.json["previous"]), ["Family Membership"]);
    let owner = app.get("/v1/memberships", Some(&app.owner_token().await)).await;
    assert_eq!(plans(&owner.json["current"]), ["Family Membership"]);
}

#[tokio::test]
async fn members_of_another_practice_see_only_their_own_practice() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let token = app.token_in(&other, &other.spouse_email, other.spouse.as_str()).await;
    let r = app.get("/v1/memberships", Some(&token)).await;
    let ids: Vec<&str> = r.json["current"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [other.family_membership.as_str()]);
    let me = app.get("/v1/me", Some(&token)).await;
    assert_eq!(me.json["practice"]["id"], other.practice_id.as_str());
}

#[tokio::test]
async fn me_tells_the_owner_they_manage_the_household() {
    let app = spawn_app().await;
    let r = app.get("/v1/me", Some(&app.owner_token().await)).await;
    assert_eq!(r.json["member"]["id"], app.demo.owner.as_str());
    assert_eq!(r.json["member"]["phones"][0]["number"], "+15125550142");
    assert_eq!(r.json["permissions"]["manage_household"], true);
    assert_eq!(r.json["permissions"]["edit_name_and_date_of_birth"], false);
    assert_eq!(r.json["permissions"]["sign_for_minors"], true);
    assert_eq!(r.json["permissions"]["pay_invoices"], true);
    assert_eq!(r.json["practice"]["contact_email"], "hello@hillside-dpc.example");
}
