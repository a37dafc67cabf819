//! Black-box API tests over the real routers. `./infra/test.sh` runs them once
//! on the embedded store and once on DynamoDB and SES (moto's server).

mod admin;
mod agreements;
mod auth;
mod concurrency;
mod documents;
mod invoices;
mod logs;
mod members;
mod memberships;
mod payment_sources;
mod payments;
mod routes;
mod store;
mod stripe;
