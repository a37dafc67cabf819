//! `cargo run -p portal-local`: every route group in one HTTP server on
//! 127.0.0.1, on the embedded store with the demo household, printing sent mail.
//!
//! Subcommands:
//! - `serve` (default)
//! - `create-practice --name N --time-zone TZ --currency USD --phone P --email E [--label L]`:
//!   creates a practice and prints its first API key (against DynamoDB when
//!   `PORTAL_DYNAMODB_ENDPOINT` or `PORTAL_USE_AWS=1` is set).
//! - `keygen`: prints a fresh Ed25519 key pair and code pepper for deployment.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::routing::get;
use axum::Router;
use portal::adapters::dynamo::DynamoTable;
use portal::adapters::mail::Outbox;
use portal::adapters::memory::MemoryTable;
use portal::adapters::sandbox::SandboxGateway;
use portal::adapters::system::{SecureRandom, SystemClock};
use portal::adapters::TableStore;
use portal::config::local_context;
use portal::domain::ids::PracticeId;
use portal::domain::practice::PracticeInput;
use portal::http::extract::PeerAddr;
use portal::ports::{Random, SharedStore};
use portal::services::admin;
use portal_local::{seed, DEMO_API_KEY, DEMO_OWNER_EMAIL, DEMO_PRACTICE_ID, DEMO_SPOUSE_EMAIL};

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The embedded store, or DynamoDB when an endpoint is configured (or real AWS when asked).
async fn store() -> Result<(SharedStore, String), Failure> {
    let endpoint = env("PORTAL_DYNAMODB_ENDPOINT");
    if endpoint.is_none() && env("PORTAL_USE_AWS").is_none() {
        return Ok((Arc::new(TableStore::new(MemoryTable::new())), "embedded (in memory)".into()));
    }
    if endpoint.is_some() {
        // A local DynamoDB-compatible server accepts any credentials.
        for (k, v) in [("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"), ("AWS_REGION", "us-east-1")]
        {
            if env(k).is_none() {
                // SAFETY: set before any thread reads the environment (single-threaded start-up).
                unsafe { std::env::set_var(k, v) };
            }
        }
    }
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&aws);
    if let Some(e) = &endpoint {
        builder = builder.endpoint_url(e);
    }
    let name = env("PORTAL_TABLE_NAME").unwrap_or_else(|| "member-portal-local".into());
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::from_conf(builder.build()), &name);
    if endpoint.is_some() {
        table.ensure_table().await?;
    }
    let label = format!("DynamoDB table {name} at {}", endpoint.as_deref().unwrap_or("AWS"));
    Ok((Arc::new(TableStore::new(table)), label))
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

async fn mailbox(State(outbox): State<Arc<Outbox>>) -> axum::Json<serde_json::Value> {
    let mut mail: Vec<_> = outbox.messages().into_iter().map(|m| serde_json::json!(m)).collect();
    mail.reverse();
    axum::Json(serde_json::json!({ "messages": mail }))
}

/// Records the connection's address where audit events look for it (API Gateway supplies it on Lambda).
async fn peer_addr(
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    request.extensions_mut().insert(PeerAddr(addr.ip()));
    next.run(request).await
}

async fn serve() -> Result<(), Failure> {
    portal::telemetry::init();
    let port: u16 = env("PORTAL_PORT").map(|p| p.parse()).transpose()?.unwrap_or(3000);
    let (store, store_label) = store().await?;
    let outbox = Arc::new(Outbox::printing());
    let base = format!("http://127.0.0.1:{port}");
    let portal_url = env("PORTAL_URL").unwrap_or_else(|| base.clone());
    let ctx = Arc::new(local_context(
        store,
        outbox.clone(),
        Arc::new(SandboxGateway::new()),
        Arc::new(SystemClock),
        &portal_url,
    ));
    // What the scheduled reconcile function does in AWS, every minute here.
    let reconciler = ctx.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = portal::services::payments::reconcile(&reconciler).await {
                eprintln!("reconciliation failed: {e}");
            }
        }
    });

    let practice = PracticeId::parse(DEMO_PRACTICE_ID)?;
    let seeded = match ctx.store.get_practice(&practice).await? {
        Some(_) => None,
        None => Some(seed(&ctx, &practice, DEMO_API_KEY, None).await?),
    };

    let app = portal::http::app(ctx)
        .merge(Router::new().route("/local/mailbox", get(mailbox)).with_state(outbox))
        .layer(axum::middleware::from_fn(peer_addr));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;

    println!("\nMember Portal (local) on {base}  —  store: {store_label}");
    if let Some(demo) = &seeded {
        println!("Demo practice {DEMO_PRACTICE_ID}; admin API key: {DEMO_API_KEY}");
        println!("Demo household: owner {} ({DEMO_OWNER_EMAIL}), spouse {} ({DEMO_SPOUSE_EMAIL}), child {} (shares the owner's email)", demo.owner, demo.spouse, demo.child);
    }
    println!(
        r#"
Sign in as the spouse:
  curl -s -X POST {base}/v1/auth/code -H 'content-type: application/json' \
       -d '{{"practice_id":"{DEMO_PRACTICE_ID}","email":"{DEMO_SPOUSE_EMAIL}"}}'
  # the code is printed below as mail; then, with the challenge_id from the answer:
  curl -s -X POST {base}/v1/auth/session -H 'content-type: application/json' \
       -d '{{"challenge_id":"chl_…","code":"123456"}}'
  curl -s {base}/v1/memberships -H 'authorization: Bearer <access_token>'
(The owner's address is shared with the child: signing in with it asks whom to act as.)
Sent mail: printed here and at {base}/local/mailbox. API document: {base}/v1/openapi.json
"#
    );
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn create_practice(args: &[String]) -> Result<(), Failure> {
    let need = |name: &str| flag(args, name).ok_or_else(|| format!("{name} is required"));
    let input = PracticeInput {
        name: need("--name")?,
        time_zone: need("--time-zone")?,
        currency: flag(args, "--currency").unwrap_or_else(|| "USD".into()),
        contact_phone: need("--phone")?,
        contact_email: need("--email")?,
    };
    let (store, label) = store().await?;
    let ctx = local_context(
        store,
        Arc::new(Outbox::new()),
        Arc::new(SandboxGateway::new()),
        Arc::new(SystemClock),
        "http://127.0.0.1",
    );
    let label_arg = flag(args, "--label").unwrap_or_else(|| "first key".into());
    let (practice, key) = admin::create_practice(&ctx, None, &input, &label_arg).await.map_err(|e| match e {
        portal::services::Error::Validation(errors) => {
            errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    })?;
    println!("Created practice {} in {label}.\nAPI key (shown once; store it as a secret): {key}", practice.id);
    Ok(())
}

fn keygen() {
    let (private, public) = portal::crypto::generate_ed25519_pem();
    let mut pepper = [0u8; 32];
    SecureRandom.fill(&mut pepper);
    println!("JwtPrivateKey (auth function only):\n{private}");
    println!("JwtPublicKey (every function):\n{public}");
    println!("CodePepper (auth function only):\n{}\n", portal::crypto::hex(&pepper));
    println!("Pass them to `sam deploy --parameter-overrides` (PEMs on one line with \\n), or better, as Secrets Manager references.");
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("create-practice") => create_practice(&args).await,
        Some("keygen") => {
            keygen();
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`: use serve, create-practice or keygen").into()),
    }
}
