//! Implementations of the ports.
//!
//! The store is built in two parts: `table` is the one place where domain types
//! become items (keys, conditions, transactions), written once over a small
//! [`table::Table`] trait; `memory` and `dynamo` implement only that trait. So
//! the embedded store and DynamoDB share every key, condition and transaction,
//! and the contract tests exercise the same repository code on both.

pub mod dynamo;
pub mod mail;
pub mod memory;
pub mod sandbox;
pub mod stripe;
pub mod system;
pub mod table;

pub use table::TableStore;
