//! Member Portal: the domain and everything the deployed functions share.
//!
//! Layers, each depending only on those above it in this list:
//! `domain` (types and rules) → `ports` (traits) → `crypto` → `services` (use
//! cases) → `http` (routers) → `adapters` (stores, mailers) → `config` / `lambda`.

pub mod adapters;
pub mod config;
pub mod crypto;
pub mod documents;
pub mod domain;
pub mod http;
pub mod lambda;
pub mod ports;
pub mod services;
pub mod telemetry;
