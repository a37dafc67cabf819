//! Logs carry ids, routes, statuses and timings: never PHI, codes or tokens.

use portal_tests::{captured_logs, spawn_app};
use serde_json::json;

#[tokio::test]
async fn a_full_sign_in_logs_no_personal_data_codes_or_tokens() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let email = app.demo.owner_email.clone();
    let challenge = app.request_code(&email).await;
    let code = app.latest_code(&email).await;
    let wrong = app.post("/v1/auth/session", json!({ "challenge_id": challenge, "code": "000000" }), None).await;
    assert_eq!(wrong.status.as_u16(), 401);
    let session = app
        .post("/v1/auth/session", json!({ "challenge_id": challenge, "code": code, "member_id": app.demo.owner }), None)
        .await;
    let session = &session.json["session"];
    let access = session["access_token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    app.get("/v1/me", Some(&access)).await;
    app.get("/v1/memberships", Some(&access)).await;
    let refreshed = app.post("/v1/auth/refresh", json!({ "refresh_token": refresh }), None).await;
    app.post(&format!("/v1/admin/patients/{}/access-email", app.demo.owner), json!({}), Some(app.admin_key())).await;
    app.delete("/v1/auth/session", Some(refreshed.json["access_token"].as_str().unwrap())).await;

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let mine: Vec<&str> = text.lines().collect();
    assert!(mine.iter().any(|l| l.contains("/v1/auth/session")), "request lines are logged");
    let secrets = [
        email.as_str(),
        "Maria",
        "Alvarez",
        "1984-03-12",
        "+15125550142",
        "555-0142",
        "Bluebonnet",
        "XJH884512377",
        code.as_str(),
        access.as_str(),
        refresh.as_str(),
        app.admin_key(),
        &challenge,
    ];
    for line in &mine {
        serde_json::from_str::<serde_json::Value>(line).expect("every log line is JSON");
        for secret in secrets {
            assert!(!line.contains(secret), "a log line contains {secret:?}: {line}");
        }
    }
}
