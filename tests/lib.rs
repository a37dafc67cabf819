//! The test harness: a fresh app per test over the real routers, on the
//! embedded store (default) or DynamoDB and SES (`PORTAL_TEST_STORE=dynamodb`
//! with `PORTAL_TEST_DYNAMODB_ENDPOINT` and `PORTAL_TEST_SES_ENDPOINT`, as
//! `./infra/test.sh` sets them against moto's server).
//!
//! Each app seeds its own practice with a random id, so tests share one table
//! without seeing each other's data.

use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use portal::adapters::dynamo::DynamoTable;
use portal::adapters::mail::{Outbox, SesMailer};
use portal::adapters::memory::MemoryTable;
use portal::adapters::sandbox::SandboxGateway;
use portal::adapters::system::{ManualClock, SecureRandom};
use portal::adapters::TableStore;
use portal::config::local_context;
use portal::domain::ids::PracticeId;
use portal::http::Group;
use portal::ports::{Mailer, Random, SharedStore};
use portal::services::Ctx;
use portal_local::Demo;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

pub const TABLE: &str = "portal-tests";
pub const MAIL_FROM: &str = "portal@tests.example";
/// The address and user agent every test request comes from.
pub const TEST_IP: &str = "203.0.113.7";
pub const TEST_USER_AGENT: &str = "portal-tests/1.0";

/// Which store this test run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Dynamo { dynamodb: String, ses: String },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn backend() -> Backend {
    match env("PORTAL_TEST_STORE").as_deref() {
        Some("dynamodb") => {
            let dynamodb = env("PORTAL_TEST_DYNAMODB_ENDPOINT")
                .expect("PORTAL_TEST_STORE=dynamodb needs PORTAL_TEST_DYNAMODB_ENDPOINT");
            let ses = env("PORTAL_TEST_SES_ENDPOINT").unwrap_or_else(|| dynamodb.clone());
            Backend::Dynamo { dynamodb, ses }
        }
        None | Some("memory") => Backend::Memory,
        Some(other) => panic!("unknown PORTAL_TEST_STORE `{other}` (memory or dynamodb)"),
    }
}

async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// A DynamoDB table of its own for one app, so tests neither see each other's
/// data (reconciliation reads a table-wide index) nor slow each other down.
pub async fn dynamo_table(endpoint: &str) -> DynamoTable {
    let config = aws_config().await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config).endpoint_url(endpoint).build(),
    );
    let name = format!("{TABLE}-{}", &random_practice_id().as_str()[4..16]);
    let table = DynamoTable::new(client, name);
    table.ensure_table().await.expect("create a test table");
    table
}

async fn ses_mailer(endpoint: &str) -> SesMailer {
    static VERIFIED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let config = aws_config().await;
    let client =
        aws_sdk_ses::Client::from_conf(aws_sdk_ses::config::Builder::from(&config).endpoint_url(endpoint).build());
    VERIFIED
        .get_or_init(|| async {
            client.verify_email_identity().email_address(MAIL_FROM).send().await.expect("verify the sender in SES");
        })
        .await;
    SesMailer::new(client, MAIL_FROM)
}

/// A message as a test reads it back from the outbox or from SES.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// A plain HTTP/1.1 GET on loopback (moto's inspection API); no client crate needed.
async fn http_get(base: &str, path: &str) -> String {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect to the mail server");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n.min(rest.len())]);
        body = rest.get(n + 2..).unwrap_or("");
    }
    out
}

pub enum MailSource {
    Outbox(Arc<Outbox>),
    Ses { endpoint: String },
}

impl MailSource {
    pub async fn all(&self) -> Vec<SentMail> {
        match self {
            MailSource::Outbox(o) => o
                .messages()
                .into_iter()
                .map(|m| SentMail { to: m.to.as_str().to_owned(), subject: m.subject, body: m.body })
                .collect(),
            MailSource::Ses { endpoint } => {
                // moto's inspection API: every model it holds, SES messages among them.
                let data: Value =
                    serde_json::from_str(&http_get(endpoint, "/moto-api/data.json").await).unwrap_or(json!({}));
                data["ses"]["Message"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|m| {
                        Some(SentMail {
                            to: m["destinations"]["ToAddresses"].get(0)?.as_str()?.to_owned(),
                            subject: m["subject"].as_str()?.to_owned(),
                            body: m["body"].as_str()?.to_owned(),
                        })
                    })
                    .collect()
            }
        }
    }
}

/// A response, with the body parsed as JSON where it is JSON.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl TestResponse {
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The problem `type`, for error answers.
    pub fn problem(&self) -> &str {
        self.json["type"].as_str().unwrap_or("")
    }

    /// The fields named by a validation problem.
    pub fn fields(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

pub struct TestApp {
    pub app: Router,
    pub ctx: Arc<Ctx>,
    pub clock: Arc<ManualClock>,
    pub mail: MailSource,
    pub demo: Demo,
    pub backend: Backend,
    pub gateway: Arc<SandboxGateway>,
}

/// The store for a new app on this run's backend.
pub async fn test_store() -> (SharedStore, Backend) {
    let backend = backend();
    let store: SharedStore = match &backend {
        Backend::Memory => Arc::new(TableStore::new(MemoryTable::new())),
        Backend::Dynamo { dynamodb, .. } => Arc::new(TableStore::new(dynamo_table(dynamodb).await)),
    };
    (store, backend)
}

pub fn random_practice_id() -> PracticeId {
    PracticeId::from_random(SecureRandom.bytes16())
}

/// A fresh app with the demo household in a practice of its own.
pub async fn spawn_app() -> TestApp {
    let (store, backend) = test_store().await;
    let (mailer, mail): (Arc<dyn Mailer>, MailSource) = match &backend {
        Backend::Memory => {
            let outbox = Arc::new(Outbox::new());
            (outbox.clone(), MailSource::Outbox(outbox))
        }
        Backend::Dynamo { ses, .. } => (Arc::new(ses_mailer(ses).await), MailSource::Ses { endpoint: ses.clone() }),
    };
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let gateway = Arc::new(SandboxGateway::new());
    let ctx = Arc::new(local_context(store, mailer, gateway.clone(), clock.clone(), "https://portal.test"));
    let practice = random_practice_id();
    let key = format!("mpk_test_{}", &practice.as_str()[4..]);
    let tag = &practice.as_str()[4..16];
    let demo = portal_local::seed(&ctx, &practice, &key, Some(tag)).await.expect("seed the demo household");
    TestApp { app: portal::http::app(ctx.clone()), ctx, clock, mail, demo, backend, gateway }
}

impl TestApp {
    /// One request through the full app, as API Gateway would route it.
    pub async fn request(&self, method: Method, path: &str, body: Option<Value>, bearer: Option<&str>) -> TestResponse {
        send(&self.app, method, path, body, bearer).await
    }

    /// A request with extra headers (e.g. `Idempotency-Key`).
    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        send_with(&self.app, method, path, body, bearer, headers).await
    }

    /// `POST /v1/payments` with an idempotency key.
    pub async fn pay(&self, token: &str, key: &str, body: Value) -> TestResponse {
        self.request_with(Method::POST, "/v1/payments", Some(body), Some(token), &[("idempotency-key", key)]).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> TestResponse {
        self.request(Method::GET, path, None, bearer).await
    }

    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> TestResponse {
        self.request(Method::POST, path, Some(body), bearer).await
    }

    pub async fn put(&self, path: &str, body: Value, bearer: Option<&str>) -> TestResponse {
        self.request(Method::PUT, path, Some(body), bearer).await
    }

    pub async fn patch(&self, path: &str, body: Value, bearer: Option<&str>) -> TestResponse {
        self.request(Method::PATCH, path, Some(body), bearer).await
    }

    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> TestResponse {
        self.request(Method::DELETE, path, None, bearer).await
    }

    pub fn admin_key(&self) -> &str {
        &self.demo.api_key
    }

    /// Mail sent to `to` since the app started, oldest first.
    pub async fn mail_to(&self, to: &str) -> Vec<SentMail> {
        self.mail.all().await.into_iter().filter(|m| m.to == to).collect()
    }

    /// The code in the latest mail to `to`.
    pub async fn latest_code(&self, to: &str) -> String {
        let mail = self.mail_to(to).await;
        let last = mail.last().unwrap_or_else(|| panic!("no mail to {to}"));
        code_in(&last.subject).unwrap_or_else(|| panic!("no code in {:?}", last.subject))
    }

    /// Asks for a code by practice and email; returns the challenge id.
    pub async fn request_code(&self, email: &str) -> String {
        let r = self.post("/v1/auth/code", json!({ "practice_id": self.demo.practice_id, "email": email }), None).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json);
        r.json["challenge_id"].as_str().expect("challenge id").to_owned()
    }

    /// Signs in by email as `member` (needed when the address is shared); returns the session tokens.
    pub async fn sign_in(&self, email: &str, member: Option<&str>) -> Value {
        let challenge = self.request_code(email).await;
        let code = self.latest_code(email).await;
        let mut body = json!({ "challenge_id": challenge, "code": code });
        if let Some(m) = member {
            body["member_id"] = json!(m);
        }
        let r = self.post("/v1/auth/session", body, None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        r.json["session"].clone()
    }

    /// An access token for `member` signed in with `email`.
    pub async fn token_for(&self, email: &str, member: &str) -> String {
        self.sign_in(email, Some(member)).await["access_token"].as_str().expect("access token").to_owned()
    }

    /// Signed in as the demo spouse (the only member at that address).
    pub async fn spouse_token(&self) -> String {
        self.token_for(&self.demo.spouse_email, self.demo.spouse.as_str()).await
    }

    /// Signed in as the demo owner.
    pub async fn owner_token(&self) -> String {
        self.token_for(&self.demo.owner_email, self.demo.owner.as_str()).await
    }
}

/// The first run of six digits in `text`.
pub fn code_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5))
        .find(|&i| bytes[i..i + 6].iter().all(u8::is_ascii_digit) && (i == 0 || !bytes[i - 1].is_ascii_digit()))
        .map(|i| text[i..i + 6].to_owned())
}

/// One request through any router.
pub async fn send(
    router: &Router,
    method: Method,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> TestResponse {
    send_with(router, method, path, body, bearer, &[]).await
}

pub async fn send_with(
    router: &Router,
    method: Method,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
) -> TestResponse {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("user-agent", TEST_USER_AGENT)
        .extension(portal::http::extract::PeerAddr(TEST_IP.parse().expect("ip")));
    if let Some(token) = bearer {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = match body {
        Some(b) => builder.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request");
    send_request(router, request).await
}

pub async fn send_request<B>(router: &Router, request: Request<B>) -> TestResponse
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = router.clone().oneshot(request.map(Body::new)).await.expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    TestResponse { status, headers, bytes, json }
}

/// The router a single function serves.
pub fn group_router(ctx: Arc<Ctx>, group: Group) -> Router {
    portal::http::router(group, ctx)
}

/// Log lines captured from this test process (installed on first use).
pub fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        portal::telemetry::init_with_writer(move || LogWriter(writer.clone()));
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl TestApp {
    /// Another practice with its own demo household, in the same store and app.
    pub async fn other_practice(&self) -> Demo {
        let practice = random_practice_id();
        let key = format!("mpk_test_{}", &practice.as_str()[4..]);
        let tag = &practice.as_str()[4..16];
        portal_local::seed(&self.ctx, &practice, &key, Some(tag)).await.expect("seed another practice")
    }

    /// Signs in to `demo`'s practice by email as `member`; returns the access token.
    pub async fn token_in(&self, demo: &Demo, email: &str, member: &str) -> String {
        let r = self.post("/v1/auth/code", json!({ "practice_id": demo.practice_id, "email": email }), None).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json);
        let code = self.latest_code(email).await;
        let body = json!({ "challenge_id": r.json["challenge_id"], "code": code, "member_id": member });
        let r = self.post("/v1/auth/session", body, None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        r.json["session"]["access_token"].as_str().expect("token").to_owned()
    }
}

/// The text of a PDF, as `pdftotext -layout` extracts it (poppler-utils; `./infra/test.sh` installs it).
pub fn pdf_text(bytes: &[u8]) -> String {
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    let path = std::env::temp_dir().join(format!("portal-test-{}.pdf", &random_practice_id().as_str()[4..]));
    std::fs::write(&path, bytes).expect("write the PDF");
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext is needed for the document tests: apt-get install poppler-utils (./infra/test.sh does)");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 text")
}

/// US-style money as the documents print it: `$1,234.50`.
pub fn dollars(amount: &str) -> String {
    let (whole, cents) = amount.split_once('.').unwrap_or((amount, "00"));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("${grouped}.{cents}")
}
