//! The embedded store: a [`Table`] in process memory with DynamoDB's semantics
//! for keys, conditions, transactions and the email index.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;

use std::ops::Bound;

use super::table::{cond_holds, page_key, Index, Item, Key, Page, PageKey, Query, SkCond, Table, Write};
use crate::ports::{StoreError, StoreResult};

#[derive(Default)]
struct State {
    items: BTreeMap<Key, Item>,
    /// (gsi1pk, gsi1sk, pk, sk) for items that carry the index attributes.
    gsi1: BTreeMap<(String, String, String, String), ()>,
}

impl State {
    fn gsi1_entry(key: &Key, item: &Item) -> Option<(String, String, String, String)> {
        let pk = item.get("gsi1pk")?.as_str()?;
        let sk = item.get("gsi1sk")?.as_str()?;
        Some((pk.to_owned(), sk.to_owned(), key.pk.clone(), key.sk.clone()))
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.items.remove(key) {
            if let Some(e) = Self::gsi1_entry(key, &old) {
                self.gsi1.remove(&e);
            }
        }
    }

    fn insert(&mut self, key: Key, item: Item) {
        self.remove(&key);
        if let Some(e) = Self::gsi1_entry(&key, &item) {
            self.gsi1.insert(e, ());
        }
        self.items.insert(key, item);
    }
}

#[derive(Default)]
pub struct MemoryTable {
    state: Mutex<State>,
}

impl MemoryTable {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied write: writes
        // are checked first and applied after, so the data is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn key_of(item: &Item) -> StoreResult<Key> {
    let get = |name: &str| {
        item.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Corrupt(format!("item without {name}")))
    };
    Ok(Key { pk: get("pk")?, sk: get("sk")? })
}

#[async_trait]
impl Table for MemoryTable {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        Ok(self.lock().items.get(key).cloned())
    }

    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        let state = self.lock();
        Ok(keys.iter().filter_map(|k| state.items.get(k).cloned()).collect())
    }

    async fn query_page(&self, query: &Query, limit: Option<usize>, after: Option<PageKey>) -> StoreResult<Page> {
        let state = self.lock();
        let text = |k: &PageKey, n: &str| k.get(n).and_then(Value::as_str).unwrap_or("").to_owned();
        let matches = |sk: &str| match &query.sk {
            SkCond::Any => true,
            SkCond::Prefix(p) => sk.starts_with(p.as_str()),
            SkCond::From(f) => sk >= f.as_str(),
        };
        let start_sk = match &query.sk {
            SkCond::Any => String::new(),
            SkCond::Prefix(p) | SkCond::From(p) => p.clone(),
        };
        let limit = limit.unwrap_or(usize::MAX);
        let mut items: Vec<Item> = match query.index {
            Index::Primary => {
                let lower = match &after {
                    Some(k) => Bound::Excluded(Key::new(text(k, "pk"), text(k, "sk"))),
                    None => Bound::Included(Key::new(query.pk.clone(), start_sk)),
                };
                state
                    .items
                    .range((lower, Bound::Unbounded))
                    .take_while(|(k, _)| k.pk == query.pk)
                    .filter(|(k, _)| matches(&k.sk))
                    .take(limit.saturating_add(1))
                    .map(|(_, v)| v.clone())
                    .collect()
            }
            Index::Gsi1 => {
                let lower = match &after {
                    Some(k) => Bound::Excluded((text(k, "gsi1pk"), text(k, "gsi1sk"), text(k, "pk"), text(k, "sk"))),
                    None => Bound::Included((query.pk.clone(), start_sk, String::new(), String::new())),
                };
                state
                    .gsi1
                    .range((lower, Bound::Unbounded))
                    .take_while(|((gpk, _, _, _), _)| gpk == &query.pk)
                    .filter(|((_, gsk, _, _), _)| matches(gsk))
                    .take(limit.saturating_add(1))
                    .filter_map(|((_, _, pk, sk), _)| state.items.get(&Key::new(pk.clone(), sk.clone())).cloned())
                    .collect()
            }
        };
        let more = items.len() > limit;
        items.truncate(limit);
        let last = if more { items.last().map(|i| page_key(query.index, i)) } else { None };
        Ok(Page { items, last })
    }

    async fn write(&self, writes: Vec<Write>) -> StoreResult<()> {
        let mut state = self.lock();
        let mut planned = Vec::with_capacity(writes.len());
        for w in writes {
            let (key, cond) = match &w {
                Write::Put { item, cond } => (key_of(item)?, *cond),
                Write::Delete { key, cond } => (key.clone(), *cond),
            };
            if !cond_holds(cond, state.items.get(&key)) {
                return Err(StoreError::Conflict);
            }
            planned.push((key, w));
        }
        for (key, w) in planned {
            match w {
                Write::Put { item, .. } => state.insert(key, item),
                Write::Delete { .. } => state.remove(&key),
            }
        }
        Ok(())
    }
}
