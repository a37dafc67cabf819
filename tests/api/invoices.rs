use axum::http::StatusCode;
use portal_tests::spawn_app;
use serde_json::{json, Value};

fn statuses(list: &Value) -> Vec<(String, String)> {
    list["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["number"].as_str().unwrap().to_owned(), i["status"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn the_owner_sees_invoices_in_every_state_with_what_is_owed_and_past_due() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let r = app.get("/v1/invoices", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(
        statuses(&r.json),
        [
            ("INV-000004".to_owned(), "open".to_owned()),
            ("INV-000003".to_owned(), "open".to_owned()),
            ("INV-000005".to_owned(), "void".to_owned()),
            ("INV-000002".to_owned(), "partially_paid".to_owned()),
            ("INV-000001".to_owned(), "paid".to_owned()),
        ]
    );
    assert_eq!(r.json["balance_due"], "425.00");
    assert_eq!(r.json["past_due"], "250.00");
    let partial = &r.json["invoices"][3];
    assert_eq!(
        (&partial["total"], &partial["paid"], &partial["balance"]),
        (&json!("175.00"), &json!("100.00"), &json!("75.00"))
    );
    assert_eq!(partial["past_due"], true);
    assert_eq!(r.json["invoices"][0]["past_due"], false);
    assert_eq!(r.json["invoices"][2]["balance"], "0.00");

    let open = app.get("/v1/invoices?status=open", Some(&token)).await;
    assert_eq!(open.json["invoices"].as_array().unwrap().len(), 3);
    let paid = app.get("/v1/invoices?status=paid", Some(&token)).await;
    assert_eq!(statuses(&paid.json), [("INV-000001".to_owned(), "paid".to_owned())]);
    let bad = app.get("/v1/invoices?status=overdue", Some(&token)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.fields(), ["status"]);
}

#[tokio::test]
async fn an_invoice_shows_numbered_lines_with_members_service_periods_and_payments() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let r = app.get(&format!("/v1/invoices/{}", app.demo.invoices.partially_paid), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let lines = r.json["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["number"], 1);
    assert_eq!(lines[1]["member_name"], "Daniel Alvarez");
    assert!(lines[2]["service_start"].as_str().is_some() && lines[2]["service_end"].as_str().is_some());
    assert_eq!(r.json["payments"][0]["amount"], "100.00");
    assert_eq!(r.json["balance"], "75.00");
}

#[tokio::test]
async fn another_members_or_practices_invoice_is_not_found() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let spouse = app.spouse_token().await;
    let owner = app.owner_token().await;
    let unknown = app.get(&format!("/v1/invoices/inv_{}", "0".repeat(32)), Some(&owner)).await;
    for (token, id) in [(&spouse, &app.demo.invoices.open), (&owner, &other.invoices.open)] {
        let r = app.get(&format!("/v1/invoices/{id}"), Some(token)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.json, unknown.json);
    }
    // The spouse is billed nothing: their list is empty.
    let r = app.get("/v1/invoices", Some(&spouse)).await;
    assert!(r.json["invoices"].as_array().unwrap().is_empty());
    assert_eq!(r.json["balance_due"], "0.00");
}

#[tokio::test]
async fn a_practice_issues_numbered_invoices_and_voids_unpaid_ones() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let body = json!({
        "member_id": app.demo.spouse,
        "due_date": "2099-01-15",
        "lines": [
            { "description": "Lab panel", "member_id": app.demo.spouse, "amount": "42.5" },
            { "description": "Flu shot", "amount": "20" }
        ]
    });
    let r = app.post("/v1/admin/invoices", body.clone(), Some(key)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["number"], "INV-000006");
    assert_eq!(r.json["total"], "62.50");
    assert_eq!(r.json["status"], "open");
    let id = r.json["id"].as_str().unwrap().to_owned();
    let r2 = app.post("/v1/admin/invoices", body, Some(key)).await;
    assert_eq!(r2.json["number"], "INV-000007");

    let spouse = app.spouse_token().await;
    assert_eq!(app.get("/v1/invoices", Some(&spouse)).await.json["balance_due"], "125.00");
    let v = app.post(&format!("/v1/admin/invoices/{id}/void"), json!({}), Some(key)).await;
    assert_eq!(v.status, StatusCode::OK, "{:?}", v.json);
    assert_eq!(v.json["status"], "void");
    let again = app.post(&format!("/v1/admin/invoices/{id}/void"), json!({}), Some(key)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let paid =
        app.post(&format!("/v1/admin/invoices/{}/void", app.demo.invoices.partially_paid), json!({}), Some(key)).await;
    assert_eq!(paid.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn invoices_with_bad_fields_or_foreign_patients_are_refused() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let key = app.admin_key();
    let r = app
        .post(
            "/v1/admin/invoices",
            json!({ "member_id": app.demo.owner, "due_date": "2020-13-01", "lines": [{ "description": "", "amount": "1.001" }] }),
            Some(key),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["due_date", "lines[0].description", "lines[0].amount"]);
    let r = app
        .post(
            "/v1/admin/invoices",
            json!({ "member_id": other.owner, "due_date": "2099-01-01", "lines": [{ "description": "X", "amount": "1" }] }),
            Some(key),
        )
        .await;
    assert_eq!(r.fields(), ["member_id"]);
    let r = app.post(&format!("/v1/admin/invoices/{}/void", other.invoices.open), json!({}), Some(key)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
