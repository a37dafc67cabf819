use axum::http::StatusCode;
use portal_tests::spawn_app;
use serde_json::json;

#[tokio::test]
async fn sources_are_listed_added_made_default_and_removed() {
    let app = spawn_app().await;
    let token = app.owner_token().await;
    let list = app.get("/v1/payment-sources", Some(&token)).await;
    assert_eq!(list.status, StatusCode::OK);
    let card = &list.json["sources"][0];
    assert_eq!(
        (&card["kind"], &card["brand"], &card["last4"], &card["is_default"]),
        (&json!("card"), &json!("visa"), &json!("4242"), &json!(true))
    );
    assert_eq!((&card["exp_month"], &card["exp_year"]), (&json!(12), &json!(2034)));
    assert_eq!(list.json["can_remove"], false);

    let setup = app.post("/v1/payment-sources/setup", json!({}), Some(&token)).await;
    assert_eq!(setup.status, StatusCode::OK, "{:?}", setup.json);
    assert!(setup.json["client_secret"].as_str().unwrap().contains("_secret_"));

    app.clock.advance(time::Duration::seconds(1));
    let added = app.post("/v1/payment-sources", json!({ "payment_method_id": "pm_usBankAccount" }), Some(&token)).await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.json);
    assert_eq!(added.json["source"]["kind"], "bank_account");
    assert_eq!(added.json["source"]["is_default"], false);
    let bank = added.json["source"]["id"].as_str().unwrap().to_owned();

    let r = app.put(&format!("/v1/payment-sources/{bank}/default"), json!({}), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["sources"][1]["is_default"], true);
    assert_eq!(r.json["can_remove"], true);

    // Removing the default makes the other one the default; the last one stays.
    assert_eq!(app.delete(&format!("/v1/payment-sources/{bank}"), Some(&token)).await.status, StatusCode::NO_CONTENT);
    let list = app.get("/v1/payment-sources", Some(&token)).await;
    assert_eq!(list.json["sources"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["sources"][0]["is_default"], true);
    let last = app.delete(&format!("/v1/payment-sources/{}", app.demo.card), Some(&token)).await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    assert_eq!(last.problem(), "/problems/last-payment-source");
}

#[tokio::test]
async fn bad_methods_and_foreign_sources_are_refused() {
    let app = spawn_app().await;
    let other = app.other_practice().await;
    let token = app.owner_token().await;
    let r = app.post("/v1/payment-sources", json!({ "payment_method_id": "4242424242424242" }), Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["payment_method_id"]);
    let r = app.post("/v1/payment-sources", json!({ "card_number": "4242424242424242" }), Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = app.delete(&format!("/v1/payment-sources/src_{}", "0".repeat(32)), Some(&token)).await;
    for path in [format!("/v1/payment-sources/{}", other.card), format!("/v1/payment-sources/{}/default", other.card)] {
        let r = if path.ends_with("default") {
            app.put(&path, json!({}), Some(&token)).await
        } else {
            app.delete(&path, Some(&token)).await
        };
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.json, unknown.json);
    }
    // The spouse cannot touch the owner's card.
    let spouse = app.spouse_token().await;
    let r = app.delete(&format!("/v1/payment-sources/{}", app.demo.card), Some(&spouse)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
