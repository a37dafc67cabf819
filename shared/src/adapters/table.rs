//! The single-table layout and every repository over it. Item ⇄ type
//! conversion happens here and nowhere else. See `dynamo/mod.rs` for the key
//! of each item type and the access patterns they serve.

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::domain::access::{AccessLink, Challenge, RateWindow, Session, RATE_WINDOW};
use crate::domain::agreements::{Agreement, AgreementDocument};
use crate::domain::audit::{sortable_time, AuditEvent};
use crate::domain::billing::{BillingProfile, Invoice, Payment, PaymentSource, PaymentStatus};
use crate::domain::contact::Email;
use crate::domain::household::EmailChange;
use crate::domain::ids::{
    AgreementId, ChallengeId, DocumentId, InvoiceId, MemberId, MembershipId, PaymentId, PracticeId, SessionId, SourceId,
};
use crate::domain::member::Member;
use crate::domain::membership::Membership;
use crate::domain::practice::Practice;
use crate::ports::{
    AccessRepo, AgreementRepo, ApiKey, AuditPage, AuditRepo, BillingRepo, MemberRepo, MembershipRepo, PracticeRepo,
    RateScope, StoreError, StoreResult,
};

/// An item: attribute name to JSON value (numbers become DynamoDB numbers).
pub type Item = Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

/// The condition a write depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    Always,
    NotExists,
    Exists,
    /// The stored item has this `version`.
    VersionIs(u64),
}

#[derive(Debug, Clone)]
pub enum Write {
    Put { item: Item, cond: Cond },
    Delete { key: Key, cond: Cond },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// The table's own `pk`/`sk`.
    Primary,
    /// `gsi1pk`/`gsi1sk`.
    Gsi1,
}

#[derive(Debug, Clone)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk: SkCond,
}

/// The sort-key condition of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkCond {
    Any,
    Prefix(String),
    /// Sort keys at or after this one.
    From(String),
}

/// Where a page ended: the key attributes of its last item (`pk`, `sk`, and for
/// index queries `gsi1pk`, `gsi1sk`). Opaque to callers.
pub type PageKey = Map<String, Value>;

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Set when more items may follow.
    pub last: Option<PageKey>,
}

/// The key attributes of `item` for a query on `index`.
pub fn page_key(index: Index, item: &Item) -> PageKey {
    let names: &[&str] = match index {
        Index::Primary => &["pk", "sk"],
        Index::Gsi1 => &["pk", "sk", "gsi1pk", "gsi1sk"],
    };
    names.iter().filter_map(|n| item.get(*n).map(|v| ((*n).to_owned(), v.clone()))).collect()
}

/// The few operations both stores provide. Several writes are one atomic
/// transaction: all conditions hold and all writes apply, or nothing does.
#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>>;
    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>>;
    /// Up to `limit` items (all when `None`) in ascending sort-key order, after `after`.
    async fn query_page(&self, query: &Query, limit: Option<usize>, after: Option<PageKey>) -> StoreResult<Page>;

    /// Every item the query matches, in ascending sort-key order.
    async fn query(&self, query: &Query) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut after = None;
        loop {
            let page = self.query_page(query, None, after).await?;
            items.extend(page.items);
            match page.last {
                Some(last) => after = Some(last),
                None => return Ok(items),
            }
        }
    }
    async fn write(&self, writes: Vec<Write>) -> StoreResult<()>;
}

/// Checks a condition against the stored item (used by the memory table; DynamoDB evaluates its own).
pub fn cond_holds(cond: Cond, stored: Option<&Item>) -> bool {
    match cond {
        Cond::Always => true,
        Cond::NotExists => stored.is_none(),
        Cond::Exists => stored.is_some(),
        Cond::VersionIs(v) => stored.and_then(|i| i.get("version")).and_then(Value::as_u64) == Some(v),
    }
}

/// Every repository, over any [`Table`].
pub struct TableStore<T> {
    table: T,
}

impl<T: Table> TableStore<T> {
    pub fn new(table: T) -> Self {
        Self { table }
    }

    pub fn table(&self) -> &T {
        &self.table
    }
}

// ---- keys -------------------------------------------------------------------

fn practice_key(p: &PracticeId) -> Key {
    Key::new(format!("P#{p}"), "PRACTICE")
}
fn api_key_key(hash: &str) -> Key {
    Key::new(format!("KEY#{hash}"), "KEY")
}
fn member_partition(p: &PracticeId, m: &MemberId) -> String {
    format!("P#{p}#M#{m}")
}
fn member_key(p: &PracticeId, m: &MemberId) -> Key {
    Key::new(member_partition(p, m), "PROFILE")
}
fn email_index(p: &PracticeId, e: &Email) -> String {
    format!("P#{p}#EMAIL#{}", e.as_str())
}
fn membership_key(p: &PracticeId, ms: &MembershipId) -> Key {
    Key::new(format!("P#{p}#MS#{ms}"), "MEMBERSHIP")
}
fn membership_view_key(p: &PracticeId, m: &MemberId, ms: &MembershipId) -> Key {
    Key::new(member_partition(p, m), format!("MS#{ms}"))
}
fn email_change_key(p: &PracticeId, m: &MemberId) -> Key {
    Key::new(member_partition(p, m), "EMAIL_CHANGE")
}
fn audit_partition(p: &PracticeId) -> String {
    format!("P#{p}#AUDIT")
}
fn audit_member_index(p: &PracticeId, m: &MemberId) -> String {
    format!("P#{p}#AUDIT#M#{m}")
}
fn link_key(hash: &str) -> Key {
    Key::new(format!("LINK#{hash}"), "LINK")
}
fn rate_key(scope: RateScope, hash: &str) -> Key {
    let s = match scope {
        RateScope::Email => "EMAIL",
        RateScope::Link => "LINK",
    };
    Key::new(format!("RATE#{s}#{hash}"), "RATE")
}
fn challenge_key(id: &ChallengeId) -> Key {
    Key::new(format!("CHALLENGE#{id}"), "CHALLENGE")
}
fn session_key(id: &SessionId) -> Key {
    Key::new(format!("SESSION#{id}"), "SESSION")
}

// ---- item ⇄ type ------------------------------------------------------------

/// A typed value as an item under `key`, tagged with its `kind`.
fn to_item<V: Serialize>(value: &V, key: &Key, kind: &str) -> StoreResult<Item> {
    let mut item = match serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))? {
        Value::Object(map) => map,
        _ => return Err(StoreError::Corrupt(format!("{kind} is not an object"))),
    };
    item.insert("pk".into(), Value::String(key.pk.clone()));
    item.insert("sk".into(), Value::String(key.sk.clone()));
    item.insert("kind".into(), Value::String(kind.into()));
    Ok(item)
}

/// Marks an item for DynamoDB's TTL sweeper (which runs late: readers check expiry themselves).
fn with_ttl(mut item: Item, expires: OffsetDateTime) -> Item {
    item.insert("ttl".into(), Value::from(expires.unix_timestamp()));
    item
}

fn from_item<V: DeserializeOwned>(item: Item) -> StoreResult<V> {
    serde_json::from_value(Value::Object(item)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn version_cond(previous: Option<u64>) -> Cond {
    match previous {
        None | Some(0) => Cond::NotExists,
        Some(v) => Cond::VersionIs(v),
    }
}

fn member_item(member: &Member) -> StoreResult<Item> {
    let mut item = to_item(member, &member_key(&member.practice_id, &member.id), "member")?;
    if let Some(email) = &member.email {
        item.insert("gsi1pk".into(), Value::String(email_index(&member.practice_id, email)));
        item.insert("gsi1sk".into(), Value::String(format!("M#{}", member.id)));
    }
    Ok(item)
}

fn audit_write(event: &AuditEvent) -> StoreResult<Write> {
    let sk = format!("{}#{}", sortable_time(event.at), event.id);
    let mut item = to_item(event, &Key::new(audit_partition(&event.practice_id), sk.clone()), "audit")?;
    item.insert("gsi1pk".into(), Value::String(audit_member_index(&event.practice_id, &event.member_id)));
    item.insert("gsi1sk".into(), Value::String(sk));
    Ok(Write::Put { item, cond: Cond::NotExists })
}

/// A page key as an opaque cursor: base64url of its JSON.
fn encode_cursor(key: &PageKey) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// A cursor back to a page key, refused unless it belongs to this very query.
fn decode_cursor(cursor: &str, index: Index, pk: &str) -> StoreResult<PageKey> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| StoreError::InvalidCursor)?;
    let key: PageKey = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let partition = match index {
        Index::Primary => "pk",
        Index::Gsi1 => "gsi1pk",
    };
    let expected: Vec<&str> = match index {
        Index::Primary => vec!["pk", "sk"],
        Index::Gsi1 => vec!["gsi1pk", "gsi1sk", "pk", "sk"],
    };
    let well_formed = key.len() == expected.len() && expected.iter().all(|n| key.get(*n).is_some_and(Value::is_string));
    if well_formed && key.get(partition).and_then(Value::as_str) == Some(pk) {
        Ok(key)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

impl<T: Table> TableStore<T> {
    async fn get_as<V: DeserializeOwned>(&self, key: &Key) -> StoreResult<Option<V>> {
        self.table.get(key).await?.map(from_item).transpose()
    }
}

#[async_trait]
impl<T: Table> PracticeRepo for TableStore<T> {
    async fn get_practice(&self, id: &PracticeId) -> StoreResult<Option<Practice>> {
        self.get_as(&practice_key(id)).await
    }

    async fn create_practice(&self, practice: &Practice, key_hash: &str, key: &ApiKey) -> StoreResult<()> {
        self.table
            .write(vec![
                Write::Put { item: to_item(practice, &practice_key(&practice.id), "practice")?, cond: Cond::NotExists },
                Write::Put { item: to_item(key, &api_key_key(key_hash), "api_key")?, cond: Cond::NotExists },
            ])
            .await
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.get_as(&api_key_key(key_hash)).await
    }
}

#[async_trait]
impl<T: Table> MemberRepo for TableStore<T> {
    async fn get_member(&self, practice: &PracticeId, id: &MemberId) -> StoreResult<Option<Member>> {
        self.get_as(&member_key(practice, id)).await
    }

    async fn get_members(&self, practice: &PracticeId, ids: &[MemberId]) -> StoreResult<Vec<Member>> {
        let keys: Vec<Key> = ids.iter().map(|m| member_key(practice, m)).collect();
        self.table.batch_get(&keys).await?.into_iter().map(from_item).collect()
    }

    async fn save_member(&self, member: &Member, previous: Option<&Member>, audit: &[AuditEvent]) -> StoreResult<()> {
        let mut writes =
            vec![Write::Put { item: member_item(member)?, cond: version_cond(previous.map(|p| p.version)) }];
        for event in audit {
            writes.push(audit_write(event)?);
        }
        self.table.write(writes).await
    }

    async fn members_with_email(&self, practice: &PracticeId, email: &Email) -> StoreResult<Vec<Member>> {
        let found = self
            .table
            .query(&Query { index: Index::Gsi1, pk: email_index(practice, email), sk: SkCond::Prefix("M#".into()) })
            .await?;
        // The index is eventually consistent: re-read each member to act on current data.
        let ids: Vec<MemberId> = found
            .into_iter()
            .map(from_item::<Member>)
            .collect::<StoreResult<Vec<_>>>()?
            .into_iter()
            .map(|m| m.id)
            .collect();
        let mut members = self.get_members(practice, &ids).await?;
        members.retain(|m| m.email.as_ref() == Some(email));
        members.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(members)
    }

    async fn put_email_change(&self, change: &EmailChange) -> StoreResult<()> {
        let key = email_change_key(&change.practice_id, &change.member_id);
        let item = with_ttl(to_item(change, &key, "email_change")?, change.code.expires_at);
        self.table.write(vec![Write::Put { item, cond: Cond::Always }]).await
    }

    async fn get_email_change(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Option<EmailChange>> {
        self.get_as(&email_change_key(practice, member)).await
    }

    async fn update_email_change(&self, next: &EmailChange) -> StoreResult<()> {
        let key = email_change_key(&next.practice_id, &next.member_id);
        let item = with_ttl(to_item(next, &key, "email_change")?, next.code.expires_at);
        self.table.write(vec![Write::Put { item, cond: Cond::VersionIs(next.version - 1) }]).await
    }

    async fn complete_email_change(
        &self,
        member: &Member,
        previous: &Member,
        change: &EmailChange,
        audit: &[AuditEvent],
    ) -> StoreResult<()> {
        let mut writes = vec![
            Write::Put { item: member_item(member)?, cond: Cond::VersionIs(previous.version) },
            Write::Delete {
                key: email_change_key(&change.practice_id, &change.member_id),
                cond: Cond::VersionIs(change.version),
            },
        ];
        for event in audit {
            writes.push(audit_write(event)?);
        }
        self.table.write(writes).await
    }
}

#[async_trait]
impl<T: Table> AuditRepo for TableStore<T> {
    async fn audit_page(
        &self,
        practice: &PracticeId,
        member: Option<&MemberId>,
        since: Option<OffsetDateTime>,
        limit: usize,
        cursor: Option<&str>,
    ) -> StoreResult<AuditPage> {
        let (index, pk) = match member {
            None => (Index::Primary, audit_partition(practice)),
            Some(m) => (Index::Gsi1, audit_member_index(practice, m)),
        };
        let sk = match since {
            Some(t) => SkCond::From(sortable_time(t)),
            None => SkCond::Any,
        };
        let after = cursor.map(|c| decode_cursor(c, index, &pk)).transpose()?;
        let page = self.table.query_page(&Query { index, pk, sk }, Some(limit), after).await?;
        Ok(AuditPage {
            events: page.items.into_iter().map(from_item).collect::<StoreResult<_>>()?,
            next_cursor: page.last.map(|k| encode_cursor(&k)),
        })
    }
}

#[async_trait]
impl<T: Table> MembershipRepo for TableStore<T> {
    async fn get_membership(&self, practice: &PracticeId, id: &MembershipId) -> StoreResult<Option<Membership>> {
        self.get_as(&membership_key(practice, id)).await
    }

    async fn save_membership(&self, membership: &Membership, previous: Option<&Membership>) -> StoreResult<()> {
        let p = &membership.practice_id;
        let mut writes = vec![Write::Put {
            item: to_item(membership, &membership_key(p, &membership.id), "membership")?,
            cond: version_cond(previous.map(|m| m.version)),
        }];
        let participants = membership.participants();
        for member in &participants {
            writes.push(Write::Put {
                item: to_item(membership, &membership_view_key(p, member, &membership.id), "membership_view")?,
                cond: Cond::Always,
            });
        }
        for gone in previous.map(Membership::participants).unwrap_or_default() {
            if !participants.contains(&gone) {
                writes.push(Write::Delete { key: membership_view_key(p, &gone, &membership.id), cond: Cond::Always });
            }
        }
        self.table.write(writes).await
    }

    async fn memberships_of(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Vec<Membership>> {
        self.table
            .query(&Query {
                index: Index::Primary,
                pk: member_partition(practice, member),
                sk: SkCond::Prefix("MS#".into()),
            })
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }
}

#[async_trait]
impl<T: Table> AccessRepo for TableStore<T> {
    async fn put_link(&self, token_hash: &str, link: &AccessLink) -> StoreResult<()> {
        let item = with_ttl(to_item(link, &link_key(token_hash), "access_link")?, link.expires_at);
        self.table.write(vec![Write::Put { item, cond: Cond::NotExists }]).await
    }

    async fn get_link(&self, token_hash: &str) -> StoreResult<Option<AccessLink>> {
        self.get_as(&link_key(token_hash)).await
    }

    async fn get_rate_window(&self, scope: RateScope, key_hash: &str) -> StoreResult<Option<RateWindow>> {
        self.get_as(&rate_key(scope, key_hash)).await
    }

    async fn put_rate_window(&self, scope: RateScope, key_hash: &str, next: &RateWindow) -> StoreResult<()> {
        let item = with_ttl(to_item(next, &rate_key(scope, key_hash), "rate_window")?, next.started_at + RATE_WINDOW);
        let cond = if next.version == 0 { Cond::NotExists } else { Cond::VersionIs(next.version - 1) };
        self.table.write(vec![Write::Put { item, cond }]).await
    }

    async fn create_challenge(&self, challenge: &Challenge) -> StoreResult<()> {
        let item = with_ttl(to_item(challenge, &challenge_key(&challenge.id), "challenge")?, challenge.expires_at());
        self.table.write(vec![Write::Put { item, cond: Cond::NotExists }]).await
    }

    async fn get_challenge(&self, id: &ChallengeId) -> StoreResult<Option<Challenge>> {
        self.get_as(&challenge_key(id)).await
    }

    async fn update_challenge(&self, next: &Challenge) -> StoreResult<()> {
        let item = with_ttl(to_item(next, &challenge_key(&next.id), "challenge")?, next.expires_at());
        self.table.write(vec![Write::Put { item, cond: Cond::VersionIs(next.version - 1) }]).await
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let item = with_ttl(to_item(session, &session_key(&session.id), "session")?, session.expires_at);
        self.table.write(vec![Write::Put { item, cond: Cond::NotExists }]).await
    }

    async fn get_session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        self.get_as(&session_key(id)).await
    }

    async fn update_session(&self, next: &Session) -> StoreResult<()> {
        let item = with_ttl(to_item(next, &session_key(&next.id), "session")?, next.expires_at);
        self.table.write(vec![Write::Put { item, cond: Cond::VersionIs(next.version - 1) }]).await
    }

    async fn delete_session(&self, id: &SessionId) -> StoreResult<()> {
        self.table.write(vec![Write::Delete { key: session_key(id), cond: Cond::Always }]).await
    }
}

// ---- billing ----------------------------------------------------------------------

fn invoice_key(p: &PracticeId, m: &MemberId, id: &InvoiceId) -> Key {
    Key::new(member_partition(p, m), format!("INV#{id}"))
}
fn invoice_pointer_key(p: &PracticeId, id: &InvoiceId) -> Key {
    Key::new(format!("P#{p}#INV#{id}"), "INVOICE")
}
fn invoice_counter_key(p: &PracticeId) -> Key {
    Key::new(format!("P#{p}"), "INVOICE_SEQ")
}
fn billing_key(p: &PracticeId, m: &MemberId) -> Key {
    Key::new(member_partition(p, m), "BILLING")
}
fn source_key(p: &PracticeId, m: &MemberId, id: &SourceId) -> Key {
    Key::new(member_partition(p, m), format!("SRC#{id}"))
}
fn payment_key(p: &PracticeId, m: &MemberId, id: &PaymentId) -> Key {
    Key::new(member_partition(p, m), format!("PAY#{id}"))
}
fn idempotency_key(p: &PracticeId, m: &MemberId, key: &str) -> Key {
    Key::new(member_partition(p, m), format!("IDEM#{}", crate::crypto::sha256_hex(key.as_bytes())))
}
/// The sparse index of payments awaiting the processor's answer (read by reconciliation).
const PENDING_PAYMENTS: &str = "PAYMENT#PENDING";

#[derive(serde::Serialize, serde::Deserialize)]
struct Counter {
    value: u64,
    version: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Pointer {
    member_id: MemberId,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IdempotencyRecord {
    payment_id: PaymentId,
}

fn invoice_write(invoice: &Invoice) -> StoreResult<Write> {
    let item = to_item(invoice, &invoice_key(&invoice.practice_id, &invoice.member_id, &invoice.id), "invoice")?;
    Ok(Write::Put { item, cond: version_cond(Some(invoice.version - 1)) })
}

fn payment_item(payment: &Payment) -> StoreResult<Item> {
    let mut item = to_item(payment, &payment_key(&payment.practice_id, &payment.member_id, &payment.id), "payment")?;
    if payment.status == PaymentStatus::Pending {
        item.insert("gsi1pk".into(), Value::String(PENDING_PAYMENTS.into()));
        item.insert("gsi1sk".into(), Value::String(format!("{}#{}", sortable_time(payment.created_at), payment.id)));
    }
    Ok(item)
}

fn profile_write(profile: &BillingProfile) -> StoreResult<Write> {
    let item = to_item(profile, &billing_key(&profile.practice_id, &profile.member_id), "billing_profile")?;
    Ok(Write::Put { item, cond: version_cond(Some(profile.version - 1)) })
}

#[async_trait]
impl<T: Table> BillingRepo for TableStore<T> {
    async fn invoice_sequence(&self, practice: &PracticeId) -> StoreResult<u64> {
        Ok(self.get_as::<Counter>(&invoice_counter_key(practice)).await?.map_or(0, |c| c.value))
    }

    async fn create_invoice(&self, invoice: &Invoice, sequence: u64) -> StoreResult<()> {
        let p = &invoice.practice_id;
        let counter = Counter { value: sequence, version: sequence };
        let writes = vec![
            Write::Put {
                item: to_item(&counter, &invoice_counter_key(p), "invoice_counter")?,
                cond: version_cond(Some(sequence - 1)),
            },
            Write::Put {
                item: to_item(invoice, &invoice_key(p, &invoice.member_id, &invoice.id), "invoice")?,
                cond: Cond::NotExists,
            },
            Write::Put {
                item: to_item(
                    &Pointer { member_id: invoice.member_id.clone() },
                    &invoice_pointer_key(p, &invoice.id),
                    "invoice_pointer",
                )?,
                cond: Cond::NotExists,
            },
        ];
        self.table.write(writes).await
    }

    async fn get_invoice(
        &self,
        practice: &PracticeId,
        member: &MemberId,
        id: &InvoiceId,
    ) -> StoreResult<Option<Invoice>> {
        self.get_as(&invoice_key(practice, member, id)).await
    }

    async fn find_invoice(&self, practice: &PracticeId, id: &InvoiceId) -> StoreResult<Option<Invoice>> {
        match self.get_as::<Pointer>(&invoice_pointer_key(practice, id)).await? {
            Some(p) => self.get_invoice(practice, &p.member_id, id).await,
            None => Ok(None),
        }
    }

    async fn invoices_of(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Vec<Invoice>> {
        let query =
            Query { index: Index::Primary, pk: member_partition(practice, member), sk: SkCond::Prefix("INV#".into()) };
        self.table.query(&query).await?.into_iter().map(from_item).collect()
    }

    async fn get_invoices(
        &self,
        practice: &PracticeId,
        member: &MemberId,
        ids: &[InvoiceId],
    ) -> StoreResult<Vec<Invoice>> {
        let keys: Vec<Key> = ids.iter().map(|id| invoice_key(practice, member, id)).collect();
        self.table.batch_get(&keys).await?.into_iter().map(from_item).collect()
    }

    async fn save_invoice(&self, next: &Invoice) -> StoreResult<()> {
        self.table.write(vec![invoice_write(next)?]).await
    }

    async fn billing_profile(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Option<BillingProfile>> {
        self.get_as(&billing_key(practice, member)).await
    }

    async fn save_billing_profile(&self, next: &BillingProfile) -> StoreResult<()> {
        self.table.write(vec![profile_write(next)?]).await
    }

    async fn sources_of(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Vec<PaymentSource>> {
        let query =
            Query { index: Index::Primary, pk: member_partition(practice, member), sk: SkCond::Prefix("SRC#".into()) };
        self.table.query(&query).await?.into_iter().map(from_item).collect()
    }

    async fn add_source(&self, source: &PaymentSource, profile: &BillingProfile) -> StoreResult<()> {
        let key = source_key(&source.practice_id, &source.member_id, &source.id);
        self.table
            .write(vec![
                Write::Put { item: to_item(source, &key, "payment_source")?, cond: Cond::NotExists },
                profile_write(profile)?,
            ])
            .await
    }

    async fn remove_source(&self, source: &PaymentSource, profile: &BillingProfile) -> StoreResult<()> {
        let key = source_key(&source.practice_id, &source.member_id, &source.id);
        self.table.write(vec![Write::Delete { key, cond: Cond::Exists }, profile_write(profile)?]).await
    }

    async fn get_payment(
        &self,
        practice: &PracticeId,
        member: &MemberId,
        id: &PaymentId,
    ) -> StoreResult<Option<Payment>> {
        self.get_as(&payment_key(practice, member, id)).await
    }

    async fn payment_for_key(
        &self,
        practice: &PracticeId,
        member: &MemberId,
        key: &str,
    ) -> StoreResult<Option<PaymentId>> {
        Ok(self.get_as::<IdempotencyRecord>(&idempotency_key(practice, member, key)).await?.map(|r| r.payment_id))
    }

    async fn start_payment(&self, payment: &Payment, invoices: &[Invoice]) -> StoreResult<()> {
        let (p, m) = (&payment.practice_id, &payment.member_id);
        let record = IdempotencyRecord { payment_id: payment.id.clone() };
        let mut writes = vec![
            Write::Put {
                item: to_item(&record, &idempotency_key(p, m, &payment.idempotency_key), "idempotency_key")?,
                cond: Cond::NotExists,
            },
            Write::Put { item: payment_item(payment)?, cond: Cond::NotExists },
        ];
        for invoice in invoices {
            writes.push(invoice_write(invoice)?);
        }
        self.table.write(writes).await
    }

    async fn settle_payment(
        &self,
        payment: &Payment,
        invoices: &[Invoice],
        saved: Option<(&PaymentSource, &BillingProfile)>,
    ) -> StoreResult<()> {
        let mut writes = vec![Write::Put { item: payment_item(payment)?, cond: Cond::VersionIs(payment.version - 1) }];
        for invoice in invoices {
            writes.push(invoice_write(invoice)?);
        }
        if let Some((source, profile)) = saved {
            let key = source_key(&source.practice_id, &source.member_id, &source.id);
            writes.push(Write::Put { item: to_item(source, &key, "payment_source")?, cond: Cond::NotExists });
            writes.push(profile_write(profile)?);
        }
        self.table.write(writes).await
    }

    async fn pending_payments(&self, before: OffsetDateTime) -> StoreResult<Vec<Payment>> {
        let query = Query { index: Index::Gsi1, pk: PENDING_PAYMENTS.into(), sk: SkCond::Any };
        let cutoff = sortable_time(before);
        let mut payments = Vec::new();
        for item in self.table.query(&query).await? {
            if item.get("gsi1sk").and_then(Value::as_str).is_some_and(|sk| sk < cutoff.as_str()) {
                // The index is eventually consistent: act on the payment as stored now.
                let p: Payment = from_item(item)?;
                if let Some(current) = self.get_payment(&p.practice_id, &p.member_id, &p.id).await? {
                    if current.status == PaymentStatus::Pending {
                        payments.push(current);
                    }
                }
            }
        }
        Ok(payments)
    }
}

// ---- agreements ---------------------------------------------------------------------

fn document_key(p: &PracticeId, id: &DocumentId) -> Key {
    Key::new(format!("P#{p}#DOC"), format!("DOC#{id}"))
}
fn agreement_key(p: &PracticeId, m: &MemberId, id: &AgreementId) -> Key {
    Key::new(member_partition(p, m), format!("AGR#{id}"))
}

#[async_trait]
impl<T: Table> AgreementRepo for TableStore<T> {
    async fn put_document(&self, document: &AgreementDocument) -> StoreResult<()> {
        let item = to_item(document, &document_key(&document.practice_id, &document.id), "document")?;
        self.table.write(vec![Write::Put { item, cond: Cond::NotExists }]).await
    }

    async fn get_document(&self, practice: &PracticeId, id: &DocumentId) -> StoreResult<Option<AgreementDocument>> {
        self.get_as(&document_key(practice, id)).await
    }

    async fn documents(&self, practice: &PracticeId) -> StoreResult<Vec<AgreementDocument>> {
        let query = Query { index: Index::Primary, pk: format!("P#{practice}#DOC"), sk: SkCond::Prefix("DOC#".into()) };
        self.table.query(&query).await?.into_iter().map(from_item).collect()
    }

    async fn create_agreement(&self, agreement: &Agreement) -> StoreResult<()> {
        let key = agreement_key(&agreement.practice_id, &agreement.member_id, &agreement.id);
        self.table.write(vec![Write::Put { item: to_item(agreement, &key, "agreement")?, cond: Cond::NotExists }]).await
    }

    async fn agreements_of(&self, practice: &PracticeId, member: &MemberId) -> StoreResult<Vec<Agreement>> {
        let query =
            Query { index: Index::Primary, pk: member_partition(practice, member), sk: SkCond::Prefix("AGR#".into()) };
        self.table.query(&query).await?.into_iter().map(from_item).collect()
    }

    async fn get_agreement(
        &self,
        practice: &PracticeId,
        member: &MemberId,
        id: &AgreementId,
    ) -> StoreResult<Option<Agreement>> {
        self.get_as(&agreement_key(practice, member, id)).await
    }

    async fn sign_agreement(&self, signed: &Agreement, audit: &AuditEvent) -> StoreResult<()> {
        let key = agreement_key(&signed.practice_id, &signed.member_id, &signed.id);
        self.table
            .write(vec![
                Write::Put { item: to_item(signed, &key, "agreement")?, cond: Cond::VersionIs(signed.version - 1) },
                audit_write(audit)?,
            ])
            .await
    }
}
