//! Serving one route group on AWS Lambda.

use std::sync::Arc;

use crate::config::Config;
use crate::http::{self, Group};
use crate::telemetry;

pub use lambda_http::Error;

/// The whole of a function's `main`: logs, configuration, clients built once, then the router.
pub async fn run(group: Group) -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env(group)?;
    let ctx = config.context().await?;
    lambda_http::run(http::router(group, Arc::new(ctx))).await
}
