//! `cargo run --release -p portal-bench [iterations]`
//!
//! Times `GET /v1/invoices` and `POST /v1/payments` through the real router on
//! the embedded store (sandbox processor), for a member with two years of
//! monthly invoices, and counts the store calls each request makes. Every
//! store call is one DynamoDB request on the DynamoDB store (a query page, a
//! GetItem, a BatchGetItem of up to 100 keys, a PutItem/DeleteItem or one
//! TransactWriteItems), so the counts are the DynamoDB requests per call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use portal::adapters::mail::Outbox;
use portal::adapters::memory::MemoryTable;
use portal::adapters::sandbox::SandboxGateway;
use portal::adapters::system::{SecureRandom, SystemClock};
use portal::adapters::table::{Item, Key, Page, PageKey, Query, Table, Write};
use portal::adapters::TableStore;
use portal::config::local_context;
use portal::domain::billing::{InvoiceInput, InvoiceLineInput};
use portal::domain::ids::PracticeId;
use portal::ports::{Random, StoreResult};
use portal::services::{access, billing, AdminCaller};
use serde_json::{json, Value};
use time::Duration as Span;
use tower::ServiceExt;

/// The system allocator, counting bytes in use and the peak since the last reset.
struct Counted;

static IN_USE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

unsafe impl std::alloc::GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size() as u64, Ordering::Relaxed) + layout.size() as u64;
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        IN_USE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counted = Counted;

/// Counts calls per kind: each is one DynamoDB request.
#[derive(Default)]
struct Counts {
    get: AtomicU64,
    batch_get: AtomicU64,
    query: AtomicU64,
    write: AtomicU64,
}

impl Counts {
    fn total(&self) -> u64 {
        [&self.get, &self.batch_get, &self.query, &self.write].iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn snapshot(&self) -> [u64; 4] {
        [&self.get, &self.batch_get, &self.query, &self.write].map(|c| c.load(Ordering::Relaxed))
    }
}

struct Counting {
    inner: MemoryTable,
    counts: Arc<Counts>,
}

#[async_trait]
impl Table for Counting {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.counts.get.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }

    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        self.counts.batch_get.fetch_add(keys.len().div_ceil(100) as u64, Ordering::Relaxed);
        self.inner.batch_get(keys).await
    }

    async fn query_page(&self, query: &Query, limit: Option<usize>, after: Option<PageKey>) -> StoreResult<Page> {
        self.counts.query.fetch_add(1, Ordering::Relaxed);
        self.inner.query_page(query, limit, after).await
    }

    async fn write(&self, writes: Vec<Write>) -> StoreResult<()> {
        self.counts.write.fetch_add(1, Ordering::Relaxed);
        self.inner.write(writes).await
    }
}

async fn call(app: &axum::Router, request: Request<Body>) -> (u16, Value) {
    let response = app.clone().oneshot(request).await.expect("router");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

struct Stats {
    name: &'static str,
    samples: Vec<Duration>,
    store_calls: [u64; 4],
}

impl Stats {
    fn print(&self) {
        let mut s = self.samples.clone();
        s.sort();
        let n = s.len();
        let total: Duration = s.iter().sum();
        let pct = |p: f64| s[((n as f64 * p) as usize).min(n - 1)];
        let per = |c: u64| c as f64 / n as f64;
        let [g, b, q, w] = self.store_calls;
        println!(
            "{:<22} n={n:<5} mean {:>8.1} µs  p50 {:>8.1} µs  p95 {:>8.1} µs  p99 {:>8.1} µs  {:>7.0} req/s   DynamoDB requests per call: {:.1} (GetItem {:.1}, BatchGetItem {:.1}, Query {:.1}, writes {:.1})",
            self.name,
            total.as_secs_f64() * 1e6 / n as f64,
            pct(0.50).as_secs_f64() * 1e6,
            pct(0.95).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6,
            n as f64 / total.as_secs_f64(),
            per(g + b + q + w),
            per(g),
            per(b),
            per(q),
            per(w),
        );
    }
}

/// Page objects in a PDF: `/Type /Page` (with or without the space), not `/Pages`.
fn count_pages(pdf: &[u8]) -> usize {
    [&b"/Type /Page"[..], &b"/Type/Page"[..]]
        .iter()
        .map(|pat| pdf.windows(pat.len() + 1).filter(|w| &w[..pat.len()] == *pat && w[pat.len()] != b's').count())
        .sum()
}

#[tokio::main]
async fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let counts = Arc::new(Counts::default());
    let store = Arc::new(TableStore::new(Counting { inner: MemoryTable::new(), counts: counts.clone() }));
    let outbox = Arc::new(Outbox::new());
    let ctx = Arc::new(local_context(
        store,
        outbox.clone(),
        Arc::new(SandboxGateway::new()),
        Arc::new(SystemClock),
        "http://bench",
    ));
    let practice = PracticeId::from_random(SecureRandom.bytes16());
    let demo = portal_local::seed(&ctx, &practice, "mpk_bench", None).await.expect("seed");

    // Two years of monthly invoices, and one large open one to pay against.
    let admin = AdminCaller { practice_id: practice.clone() };
    let today = ctx.store.get_practice(&practice).await.unwrap().unwrap().today(ctx.clock.now());
    for month in 0..24 {
        let issued = today - Span::days(30 * (month + 4));
        let input = InvoiceInput {
            member_id: demo.owner.to_string(),
            issue_date: Some(issued.to_string()),
            due_date: (issued + Span::days(14)).to_string(),
            lines: vec![InvoiceLineInput {
                description: "Family Membership".into(),
                member_id: Some(demo.owner.to_string()),
                service_start: Some(issued.to_string()),
                service_end: Some((issued + Span::days(29)).to_string()),
                amount: "175.00".into(),
            }],
        };
        billing::issue(&ctx, &admin, &input).await.expect("invoice");
    }
    let one_off = |amount: &str| InvoiceInput {
        member_id: demo.owner.to_string(),
        issue_date: None,
        due_date: (today + Span::days(30)).to_string(),
        lines: vec![InvoiceLineInput {
            description: "Visit".into(),
            member_id: None,
            service_start: None,
            service_end: None,
            amount: amount.into(),
        }],
    };
    billing::issue(&ctx, &admin, &one_off("99.00")).await.expect("invoice");

    // Sign in as the owner through the services (the code comes from the outbox).
    let sent = access::request_code(
        &ctx,
        access::CodeRequest::Email {
            practice_id: practice.clone(),
            email: portal::domain::contact::Email::parse(&demo.owner_email).unwrap(),
        },
    )
    .await
    .unwrap();
    let mail = outbox.messages().pop().unwrap();
    let code: String = mail.subject.chars().take(6).collect();
    let token = match access::verify_code(&ctx, &sent.challenge_id, &code, Some(&demo.owner)).await.unwrap() {
        access::SignIn::Session(s) => s.access_token,
        access::SignIn::ChooseMember(_) => unreachable!("a member was named"),
    };
    let app = portal::http::app(ctx.clone());
    let auth = format!("Bearer {token}");

    let list = || Request::get("/v1/invoices").header("authorization", &auth).body(Body::empty()).unwrap();
    for _ in 0..50 {
        call(&app, list()).await;
    }
    let before = counts.snapshot();
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        let (status, body) = call(&app, list()).await;
        samples.push(t.elapsed());
        assert_eq!(status, 200);
        assert_eq!(body["invoices"].as_array().map(Vec::len), Some(30));
    }
    let after = counts.snapshot();
    let list_stats =
        Stats { name: "GET /v1/invoices", samples, store_calls: std::array::from_fn(|i| after[i] - before[i]) };

    // One invoice per payment (as in life: a handful of payments per invoice).
    let mut targets = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        targets.push(billing::issue(&ctx, &admin, &one_off("25.00")).await.expect("invoice").summary.id);
    }
    let before = counts.snapshot();
    let mut samples = Vec::with_capacity(iterations);
    for (n, target) in targets.iter().enumerate() {
        let body = json!({ "allocations": [{ "invoice_id": target, "amount": "25.00" }] }).to_string();
        let request = Request::post("/v1/payments")
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .header("idempotency-key", format!("bench-{n}"))
            .body(Body::from(body))
            .unwrap();
        let t = Instant::now();
        let (status, body) = call(&app, request).await;
        samples.push(t.elapsed());
        assert_eq!(status, 201, "{body}");
    }
    let after = counts.snapshot();
    let pay_stats =
        Stats { name: "POST /v1/payments", samples, store_calls: std::array::from_fn(|i| after[i] - before[i]) };

    // A statement of five years of monthly invoices, each paid: JSON, then PDF and CSV.
    let spouse = portal::services::Caller {
        practice_id: practice.clone(),
        member_id: demo.spouse.clone(),
        session_id: portal::domain::ids::SessionId::parse("ses_bench").unwrap(),
    };
    let card = portal::services::payment_sources::add(
        &ctx,
        &spouse,
        &portal::services::payment_sources::AddSource {
            payment_method_id: "pm_card_visa".into(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap()
    .source
    .id;
    let first = today - Span::days(30 * 60);
    for m in 0..60 {
        let issued = first + Span::days(30 * m);
        let input = InvoiceInput {
            member_id: demo.spouse.to_string(),
            issue_date: Some(issued.to_string()),
            due_date: (issued + Span::days(10)).to_string(),
            lines: vec![InvoiceLineInput {
                description: "Adult Membership".into(),
                member_id: None,
                service_start: None,
                service_end: None,
                amount: "89.00".into(),
            }],
        };
        let invoice = billing::issue(&ctx, &admin, &input).await.unwrap().summary.id;
        let request = portal::services::payments::PaymentRequest {
            allocations: vec![portal::services::payments::AllocationBody {
                invoice_id: invoice.to_string(),
                amount: "89.00".into(),
            }],
            source_id: Some(card.to_string()),
            ..Default::default()
        };
        portal::services::payments::pay(&ctx, &spouse, &format!("stmt-{m}"), &request).await.unwrap();
    }
    let renders = (iterations / 20).max(10);
    let (mut json_t, mut pdf_t, mut csv_t) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut pages, mut size, mut peak) = (0, 0, 0);
    for _ in 0..renders {
        let (from, to) = (first.to_string(), today.to_string());
        let t = Instant::now();
        let (view, p, member) = portal::services::statements::statement(
            &ctx,
            &spouse,
            portal::services::statements::Period { preset: None, from: Some(&from), to: Some(&to) },
        )
        .await
        .unwrap();
        json_t += t.elapsed();
        let base = IN_USE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t = Instant::now();
        let pdf = portal::services::statements::statement_pdf(&view, &p, &member).unwrap();
        pdf_t += t.elapsed();
        peak = peak.max(PEAK.load(Ordering::Relaxed) - base);
        size = pdf.bytes.len();
        pages = count_pages(&pdf.bytes);
        let t = Instant::now();
        let _ = portal::services::statements::statement_csv(&view);
        csv_t += t.elapsed();
        assert_eq!(view.entries.len(), 120);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / renders as f64;

    println!("Member Portal benchmark — embedded store, sandbox processor, {iterations} calls each");
    println!(
        "GET /v1/invoices lists an owner's 30 invoices; POST /v1/payments pays one invoice in full with the saved card"
    );
    list_stats.print();
    pay_stats.print();
    println!(
        "Statement, 5 years (60 invoices, 60 payments, {renders} renders): build {:.2} ms, PDF {:.2} ms ({} KiB, {} pages counted, peak heap during render {:.1} MiB), CSV {:.3} ms",
        ms(json_t),
        ms(pdf_t),
        size / 1024,
        pages,
        peak as f64 / (1024.0 * 1024.0),
        ms(csv_t)
    );
    println!("(store calls in total: {})", counts.total());
}
