//! The embedded store: a [`Table`] in process memory with DynamoDB's semantics
//! for keys, conditions, transactions and the email index.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;

use super::table::{cond_holds, Index, Item, Key, Query, Table, Write};
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
    Ok(Key {
        pk: get("pk")?,
        sk: get("sk")?,
    })
}

#[async_trait]
impl Table for MemoryTable {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        Ok(self.lock().items.get(key).cloned())
    }

    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        let state = self.lock();
        Ok(keys
            .iter()
            .filter_map(|k| state.items.get(k).cloned())
            .collect())
    }

    async fn query(&self, query: &Query) -> StoreResult<Vec<Item>> {
        let state = self.lock();
        let prefix = query.sk_prefix.as_deref().unwrap_or("");
        Ok(match query.index {
            Index::Primary => {
                let start = Key::new(query.pk.clone(), prefix);
                state
                    .items
                    .range(start..)
                    .take_while(|(k, _)| k.pk == query.pk && k.sk.starts_with(prefix))
                    .map(|(_, v)| v.clone())
                    .collect()
            }
            Index::Gsi1 => {
                let start = (
                    query.pk.clone(),
                    prefix.to_owned(),
                    String::new(),
                    String::new(),
                );
                state
                    .gsi1
                    .range(start..)
                    .take_while(|((gpk, gsk, _, _), _)| gpk == &query.pk && gsk.starts_with(prefix))
                    .filter_map(|((_, _, pk, sk), _)| {
                        state.items.get(&Key::new(pk.clone(), sk.clone())).cloned()
                    })
                    .collect()
            }
        })
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
