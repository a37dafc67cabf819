//! The DynamoDB [`Table`]: one table, generic keys, one overloaded GSI, TTL.
//!
//! # Items and keys
//!
//! Every key of practice data starts with the practice id, so no query can
//! cross practices. Items found by a secret (API key, link token) or by a
//! random id that only its holder knows (challenge, session) are keyed by it
//! and carry the practice they belong to.
//!
//! | item               | `pk`                         | `sk`            | `gsi1pk` / `gsi1sk`             | `ttl` |
//! |--------------------|------------------------------|-----------------|---------------------------------|-------|
//! | practice           | `P#{practice}`               | `PRACTICE`      |                                 |       |
//! | API key            | `KEY#{sha256(secret)}`       | `KEY`           |                                 |       |
//! | member profile     | `P#{practice}#M#{member}`    | `PROFILE`       | `P#{practice}#EMAIL#{email}` / `M#{member}` | |
//! | membership         | `P#{practice}#MS#{ms}`       | `MEMBERSHIP`    |                                 |       |
//! | membership view    | `P#{practice}#M#{member}`    | `MS#{ms}`       |                                 |       |
//! | access link        | `LINK#{sha256(token)}`       | `LINK`          |                                 | yes   |
//! | rate window        | `RATE#{EMAIL|LINK}#{hmac}`   | `RATE`          |                                 | yes   |
//! | code challenge     | `CHALLENGE#{challenge}`      | `CHALLENGE`     |                                 | yes   |
//! | session            | `SESSION#{session}`          | `SESSION`       |                                 | yes   |
//!
//! # Access patterns
//!
//! - Admin key check: GetItem `KEY#…`.
//! - Session check on every member request: GetItem `SESSION#…` (consistent).
//! - Sign-in by practice + email: Query GSI1 `P#…#EMAIL#…`, then BatchGetItem of the profiles
//!   (the index is eventually consistent; the profiles are read consistently).
//! - Memberships page: Query `P#…#M#{member}` with `sk` beginning `MS#` (the member's views of
//!   each membership they own or are enrolled in), then BatchGetItem of the names shown.
//! - `GET /v1/me`: GetItem of profile and practice.
//! - Admin membership update: one TransactWriteItems of the membership (conditional on its
//!   `version`) and every participant's view, deleting the views of members who left.
//!
//! Every write that replaces an item is conditional on the `version` it read
//! (or on the item not existing), so concurrent writers cannot lose updates.
//! TTL deletes hours late: code that reads links, challenges, rate windows and
//! sessions checks their expiry itself.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    KeysAndAttributes, Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

use super::table::{Cond, Index, Item, Key, Page, PageKey, Query, SkCond, Table, Write};
use crate::ports::{StoreError, StoreResult};

pub const GSI1: &str = "gsi1";

#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    name: String,
}

type Attrs = HashMap<String, AttributeValue>;

fn unavailable<E: std::fmt::Debug>(e: E) -> StoreError {
    StoreError::Unavailable(format!("{e:?}"))
}

fn to_attrs(item: Item) -> StoreResult<Attrs> {
    serde_dynamo::to_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_attrs(attrs: Attrs) -> StoreResult<Item> {
    serde_dynamo::from_item(attrs).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
        ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// A condition as DynamoDB expression parts.
struct Expr {
    text: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<Attrs>,
}

fn expr(cond: Cond) -> Expr {
    match cond {
        Cond::Always => Expr { text: None, names: None, values: None },
        Cond::NotExists => Expr { text: Some("attribute_not_exists(pk)".into()), names: None, values: None },
        Cond::Exists => Expr { text: Some("attribute_exists(pk)".into()), names: None, values: None },
        Cond::VersionIs(v) => Expr {
            text: Some("#version = :version".into()),
            names: Some(HashMap::from([("#version".into(), "version".into())])),
            values: Some(HashMap::from([(":version".into(), AttributeValue::N(v.to_string()))])),
        },
    }
}

impl DynamoTable {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self { client, name: name.into() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the table as `template.yaml` declares it, if it does not exist (local runs and tests).
    pub async fn ensure_table(&self) -> StoreResult<()> {
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(unavailable)
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(unavailable)
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash)?)
            .key_schema(key("gsi1sk", KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(unavailable)?;
        let result = self
            .client
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .global_secondary_indexes(gsi)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn put(&self, item: Item, cond: Cond) -> StoreResult<Put> {
        let e = expr(cond);
        Put::builder()
            .table_name(&self.name)
            .set_item(Some(to_attrs(item)?))
            .set_condition_expression(e.text)
            .set_expression_attribute_names(e.names)
            .set_expression_attribute_values(e.values)
            .build()
            .map_err(unavailable)
    }

    fn delete(&self, key: &Key, cond: Cond) -> StoreResult<Delete> {
        let e = expr(cond);
        Delete::builder()
            .table_name(&self.name)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(e.text)
            .set_expression_attribute_names(e.names)
            .set_expression_attribute_values(e.values)
            .build()
            .map_err(unavailable)
    }
}

/// Maps a failed single-item write: a failed condition is a conflict, anything else an outage.
fn write_error<E, R>(e: SdkError<E, R>, is_condition: impl Fn(&E) -> bool) -> StoreError
where
    E: std::fmt::Debug,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(s) if is_condition(s) => StoreError::Conflict,
        _ => unavailable(e),
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(from_attrs).transpose()
    }

    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|k| key_attrs(k)).collect()))
                .consistent_read(true)
                .build()
                .map_err(unavailable)?;
            for attempt in 0..8 {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.name, request.clone())
                    .send()
                    .await
                    .map_err(unavailable)?;
                for attrs in out.responses.and_then(|mut r| r.remove(&self.name)).unwrap_or_default() {
                    found.push(from_attrs(attrs)?);
                }
                match out.unprocessed_keys.and_then(|mut u| u.remove(&self.name)) {
                    Some(rest) if !rest.keys.is_empty() => {
                        request = rest;
                        tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    async fn query_page(&self, query: &Query, limit: Option<usize>, after: Option<PageKey>) -> StoreResult<Page> {
        let (pk_name, sk_name) = match query.index {
            Index::Primary => ("pk", "sk"),
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        };
        let mut names = HashMap::from([("#pk".to_owned(), pk_name.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(query.pk.clone()))]);
        let mut condition = "#pk = :pk".to_owned();
        match &query.sk {
            SkCond::Any => {}
            SkCond::Prefix(prefix) => {
                names.insert("#sk".into(), sk_name.into());
                values.insert(":sk".into(), AttributeValue::S(prefix.clone()));
                condition.push_str(" AND begins_with(#sk, :sk)");
            }
            SkCond::From(from) => {
                names.insert("#sk".into(), sk_name.into());
                values.insert(":sk".into(), AttributeValue::S(from.clone()));
                condition.push_str(" AND #sk >= :sk");
            }
        }
        let mut items = Vec::new();
        let mut start: Option<Attrs> = after.map(to_attrs).transpose()?;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression(&condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start.take());
            if let Some(limit) = limit {
                // Ask for what is still missing; DynamoDB may return fewer per page.
                let missing = limit.saturating_sub(items.len()).max(1);
                request = request.limit(i32::try_from(missing).unwrap_or(i32::MAX));
            }
            request = match query.index {
                Index::Primary => request.consistent_read(true),
                Index::Gsi1 => request.index_name(GSI1),
            };
            let out = request.send().await.map_err(unavailable)?;
            for attrs in out.items.unwrap_or_default() {
                items.push(from_attrs(attrs)?);
            }
            let last = out.last_evaluated_key.filter(|k| !k.is_empty());
            let full = limit.is_some_and(|l| items.len() >= l);
            match last {
                Some(k) if full => {
                    let last = from_attrs(k)?;
                    return Ok(Page { items, last: Some(last) });
                }
                Some(k) => start = Some(k),
                None => return Ok(Page { items, last: None }),
            }
        }
    }

    async fn write(&self, writes: Vec<Write>) -> StoreResult<()> {
        if writes.len() == 1 {
            return match writes.into_iter().next().expect("one write") {
                Write::Put { item, cond } => {
                    let e = expr(cond);
                    self.client
                        .put_item()
                        .table_name(&self.name)
                        .set_item(Some(to_attrs(item)?))
                        .set_condition_expression(e.text)
                        .set_expression_attribute_names(e.names)
                        .set_expression_attribute_values(e.values)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| write_error(e, |s| s.is_conditional_check_failed_exception()))
                }
                Write::Delete { key, cond } => {
                    let e = expr(cond);
                    self.client
                        .delete_item()
                        .table_name(&self.name)
                        .set_key(Some(key_attrs(&key)))
                        .set_condition_expression(e.text)
                        .set_expression_attribute_names(e.names)
                        .set_expression_attribute_values(e.values)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| write_error(e, |s| s.is_conditional_check_failed_exception()))
                }
            };
        }
        let mut items = Vec::with_capacity(writes.len());
        for w in writes {
            items.push(match w {
                Write::Put { item, cond } => TransactWriteItem::builder().put(self.put(item, cond)?).build(),
                Write::Delete { key, cond } => TransactWriteItem::builder().delete(self.delete(&key, cond)?).build(),
            });
        }
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map(|_| ()).map_err(|e| {
            // A cancelled transaction is a conflict when a condition failed or another
            // transaction held one of the items; anything else is an outage.
            write_error(e, |s| match s {
                TransactWriteItemsError::TransactionCanceledException(c) => {
                    let reasons = c.cancellation_reasons();
                    reasons.is_empty()
                        || reasons
                            .iter()
                            .any(|r| matches!(r.code(), Some("ConditionalCheckFailed" | "TransactionConflict")))
                }
                _ => false,
            })
        })
    }
}
