use axum::http::{Method, Request, StatusCode};
use portal::domain::access::{CODES_PER_EMAIL, CODES_PER_LINK, MAX_CODE_TRIES};
use portal_tests::{code_in, send_request, spawn_app, TestApp};
use serde_json::json;
use time::Duration;

async fn verify(app: &TestApp, challenge: &str, code: &str) -> portal_tests::TestResponse {
    app.post("/v1/auth/session", json!({ "challenge_id": challenge, "code": code }), None).await
}

fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn signing_in_with_the_emailed_code_opens_a_session() {
    let app = spawn_app().await;
    let email = app.demo.spouse_email.clone();
    let challenge = app.request_code(&email).await;
    let mail = app.mail_to(&email).await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0].subject.contains("Hillside Direct Primary Care"));
    let code = code_in(&mail[0].body).expect("the body carries the code");

    let r = verify(&app, &challenge, &code).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let session = &r.json["session"];
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["member_id"], app.demo.spouse.as_str());
    let token = session["access_token"].as_str().unwrap();

    let me = app.get("/v1/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json["member"]["first_name"], "Daniel");
    assert_eq!(me.json["practice"]["contact_phone"], "+15125550100");
    assert_eq!(me.json["permissions"]["manage_household"], false);
    assert_eq!(me.json["permissions"]["sign_for_minors"], false);
}

#[tokio::test]
async fn a_code_typed_with_spaces_is_accepted() {
    let app = spawn_app().await;
    let challenge = app.request_code(&app.demo.spouse_email).await;
    let code = app.latest_code(&app.demo.spouse_email).await;
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    assert_eq!(verify(&app, &challenge, &spaced).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_wrong_code_is_refused_with_the_tries_left() {
    let app = spawn_app().await;
    let challenge = app.request_code(&app.demo.spouse_email).await;
    let code = app.latest_code(&app.demo.spouse_email).await;
    let r = verify(&app, &challenge, &wrong(&code)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.problem(), "/problems/code-incorrect");
    assert_eq!(r.json["remaining_tries"], MAX_CODE_TRIES - 1);
    assert_eq!(r.content_type(), "application/problem+json");
    // The right code still works after a wrong one.
    assert_eq!(verify(&app, &challenge, &code).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_app().await;
    let challenge = app.request_code(&app.demo.spouse_email).await;
    let code = app.latest_code(&app.demo.spouse_email).await;
    app.clock.advance(Duration::minutes(10));
    let r = verify(&app, &challenge, &code).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.problem(), "/problems/code-expired");
}

#[tokio::test]
async fn a_used_code_cannot_be_used_again() {
    let app = spawn_app().await;
    let challenge = app.request_code(&app.demo.spouse_email).await;
    let code = app.latest_code(&app.demo.spouse_email).await;
    assert_eq!(verify(&app, &challenge, &code).await.status, StatusCode::CREATED);
    let again = verify(&app, &challenge, &code).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.problem(), "/problems/code-used");
}

#[tokio::test]
async fn the_sixth_try_is_refused_even_with_the_right_code() {
    let app = spawn_app().await;
    let challenge = app.request_code(&app.demo.spouse_email).await;
    let code = app.latest_code(&app.demo.spouse_email).await;
    for left in (0..MAX_CODE_TRIES).rev() {
        let r = verify(&app, &challenge, &wrong(&code)).await;
        assert_eq!(r.json["remaining_tries"], left);
    }
    let sixth = verify(&app, &challenge, &code).await;
    assert_eq!(sixth.status, StatusCode::UNAUTHORIZED);
    assert_eq!(sixth.problem(), "/problems/code-locked");
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_answer_and_no_mail() {
    let app = spawn_app().await;
    let unknown = format!("nobody+{}@example.com", &app.demo.practice_id.as_str()[4..12]);
    let known = app
        .post("/v1/auth/code", json!({ "practice_id": app.demo.practice_id, "email": app.demo.spouse_email }), None)
        .await;
    let r = app.post("/v1/auth/code", json!({ "practice_id": app.demo.practice_id, "email": unknown }), None).await;
    assert_eq!(r.status, known.status);
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&r.json), keys(&known.json));
    assert!(app.mail_to(&unknown).await.is_empty());
    // Any code for it fails exactly like a wrong code.
    let v = verify(&app, r.json["challenge_id"].as_str().unwrap(), "123456").await;
    assert_eq!(v.problem(), "/problems/code-incorrect");
}

#[tokio::test]
async fn codes_per_email_are_rate_limited_whether_or_not_the_email_is_known() {
    let app = spawn_app().await;
    let unknown = format!("nobody+{}@example.com", &app.demo.practice_id.as_str()[4..12]);
    for email in [app.demo.spouse_email.clone(), unknown] {
        for _ in 0..CODES_PER_EMAIL {
            app.request_code(&email).await;
        }
        let r = app.post("/v1/auth/code", json!({ "practice_id": app.demo.practice_id, "email": email }), None).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.problem(), "/problems/rate-limited");
        assert!(r.headers.get("retry-after").is_some());
    }
    app.clock.advance(Duration::minutes(15));
    app.request_code(&app.demo.spouse_email).await;
}

#[tokio::test]
async fn a_shared_mailbox_chooses_whom_to_act_as() {
    let app = spawn_app().await;
    let email = app.demo.owner_email.clone();
    let challenge = app.request_code(&email).await;
    let code = app.latest_code(&email).await;
    let r = verify(&app, &challenge, &code).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let choice = &r.json["choose_member"];
    let names: Vec<&str> =
        choice["members"].as_array().unwrap().iter().map(|m| m["first_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Maria", "Sofia"]);
    let token = choice["selection_token"].as_str().unwrap();

    let chosen =
        app.post("/v1/auth/session", json!({ "selection_token": token, "member_id": app.demo.child }), None).await;
    assert_eq!(chosen.status, StatusCode::CREATED, "{:?}", chosen.json);
    let access = chosen.json["session"]["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/me", Some(access)).await.json["member"]["first_name"], "Sofia");

    let reused =
        app.post("/v1/auth/session", json!({ "selection_token": token, "member_id": app.demo.owner }), None).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn choosing_someone_the_mailbox_does_not_serve_is_refused() {
    let app = spawn_app().await;
    let email = app.demo.owner_email.clone();
    let challenge = app.request_code(&email).await;
    let code = app.latest_code(&email).await;
    // Naming the spouse with the owner's code counts as a wrong try.
    let r = app
        .post(
            "/v1/auth/session",
            json!({ "challenge_id": challenge, "code": code, "member_id": app.demo.spouse }),
            None,
        )
        .await;
    assert_eq!(r.problem(), "/problems/code-incorrect");
    let r = verify(&app, &challenge, &code).await;
    let token = r.json["choose_member"]["selection_token"].as_str().unwrap();
    let r = app.post("/v1/auth/session", json!({ "selection_token": token, "member_id": app.demo.spouse }), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["member_id"]);
}

async fn send_link(app: &TestApp, next: Option<&str>) -> String {
    let body = match next {
        Some(n) => json!({ "next": n }),
        None => json!({}),
    };
    let r =
        app.post(&format!("/v1/admin/patients/{}/access-email", app.demo.spouse), body, Some(app.admin_key())).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json);
    let mail = app.mail_to(&app.demo.spouse_email).await;
    let body = &mail.last().unwrap().body;
    let start = body.find("token=").expect("a link with a token") + "token=".len();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn an_access_link_sends_a_code_to_the_address_on_file() {
    let app = spawn_app().await;
    let token = send_link(&app, Some("/agreements")).await;
    let r = app.post("/v1/auth/code", json!({ "link_token": token }), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json);
    assert_eq!(r.json["next"], "/agreements");
    assert_eq!(r.json["sent_to"], format!("d•••@{}", app.demo.spouse_email.split('@').nth(1).unwrap()));
    let code = app.latest_code(&app.demo.spouse_email).await;
    let s = verify(&app, r.json["challenge_id"].as_str().unwrap(), &code).await;
    assert_eq!(s.status, StatusCode::CREATED);
    assert_eq!(s.json["session"]["next"], "/agreements");
    assert_eq!(s.json["session"]["member_id"], app.demo.spouse.as_str());
}

#[tokio::test]
async fn opening_an_access_link_consumes_nothing_and_is_rate_limited() {
    let app = spawn_app().await;
    let token = send_link(&app, None).await;
    for _ in 0..CODES_PER_LINK {
        let r = app.post("/v1/auth/code", json!({ "link_token": token }), None).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json);
    }
    let r = app.post("/v1/auth/code", json!({ "link_token": token }), None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_expired_or_unknown_link_is_refused() {
    let app = spawn_app().await;
    let token = send_link(&app, None).await;
    let r = app.post("/v1/auth/code", json!({ "link_token": "not-a-real-token" }), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.problem(), "/problems/access-link-invalid");
    app.clock.advance(Duration::days(7));
    let r = app.post("/v1/auth/code", json!({ "link_token": token }), None).await;
    assert_eq!(r.problem(), "/problems/access-link-invalid");
}

#[tokio::test]
async fn refresh_rotates_tokens_and_a_spent_refresh_token_ends_the_session() {
    let app = spawn_app().await;
    let session = app.sign_in(&app.demo.spouse_email, None).await;
    let first = session["refresh_token"].as_str().unwrap();
    let r = app.post("/v1/auth/refresh", json!({ "refresh_token": first }), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let second = r.json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/v1/me", Some(&access)).await.status, StatusCode::OK);

    // Replaying the spent token means it was copied: the whole session ends.
    let replay = app.post("/v1/auth/refresh", json!({ "refresh_token": first }), None).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.post("/v1/auth/refresh", json!({ "refresh_token": second }), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/v1/me", Some(&access)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logging_out_ends_the_session_for_every_token() {
    let app = spawn_app().await;
    let session = app.sign_in(&app.demo.spouse_email, None).await;
    let access = session["access_token"].as_str().unwrap();
    assert_eq!(app.delete("/v1/auth/session", Some(access)).await.status, StatusCode::NO_CONTENT);
    let after = app.get("/v1/memberships", Some(access)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.problem(), "/problems/unauthenticated");
    let refresh = app.post("/v1/auth/refresh", json!({ "refresh_token": session["refresh_token"] }), None).await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.delete("/v1/auth/session", Some(access)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn access_tokens_expire_and_sessions_end_after_twelve_hours() {
    let app = spawn_app().await;
    let session = app.sign_in(&app.demo.spouse_email, None).await;
    let access = session["access_token"].as_str().unwrap();
    app.clock.advance(Duration::minutes(16));
    assert_eq!(app.get("/v1/me", Some(access)).await.status, StatusCode::UNAUTHORIZED);
    let r = app.post("/v1/auth/refresh", json!({ "refresh_token": session["refresh_token"] }), None).await;
    assert_eq!(r.status, StatusCode::OK);
    app.clock.advance(Duration::hours(12));
    let r2 = app.post("/v1/auth/refresh", json!({ "refresh_token": r.json["refresh_token"] }), None).await;
    assert_eq!(r2.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let app = spawn_app().await;
    for bearer in [None, Some("garbage"), Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), Some(app.admin_key())] {
        let r = app.get("/v1/memberships", bearer).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bearer:?}");
        assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer");
    }
    // A token from another deployment (another signing key) is refused too.
    let other = spawn_app().await;
    let foreign = other.spouse_token().await;
    assert_eq!(app.get("/v1/me", Some(&foreign)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_bodies_get_a_problem_naming_what_is_wrong() {
    let app = spawn_app().await;
    let raw = |body: &'static str, content_type: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/auth/code")
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let r = send_request(&app.app, raw("{not json", "application/json")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.problem(), "/problems/malformed-json");
    let r = send_request(&app.app, raw("{}", "text/plain")).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r =
        send_request(&app.app, raw(r#"{"practice_id":"prc_x","email":"x@example.com","extra":1}"#, "application/json"))
            .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), ["extra"]);
    let r = app.post("/v1/auth/code", json!({ "practice_id": app.demo.practice_id }), None).await;
    assert_eq!(r.fields(), ["email"]);
    let r = app.post("/v1/auth/code", json!({ "practice_id": "nope", "email": "not-an-email" }), None).await;
    assert_eq!(r.fields(), ["practice_id", "email"]);
    let r = app.post("/v1/auth/code", json!({ "practice_id": 7, "email": "a@example.com" }), None).await;
    assert_eq!(r.fields(), ["practice_id"]);
    let r = app.post("/v1/auth/session", json!({ "challenge_id": "chl_abc", "code": "12" }), None).await;
    assert_eq!(r.fields(), ["code"]);
    let r =
        app.post("/v1/auth/code", json!({ "practice_id": "prc_doesnotexist", "email": "a@example.com" }), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
