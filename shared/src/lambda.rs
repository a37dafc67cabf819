//! Serving one route group on AWS Lambda.

use std::sync::Arc;

use crate::config::Config;
use crate::http::{self, Group};
use crate::telemetry;

pub use lambda_http::Error;

/// The whole of a function's `main`: logs, configuration, clients built once, then the router.
pub async fn run(group: Group) -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env(crate::config::Needs::of(group))?;
    let ctx = config.context().await?;
    lambda_http::run(http::router(group, Arc::new(ctx))).await
}

/// The scheduled reconciliation function: settles payments left pending.
pub async fn run_reconcile() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env(crate::config::Needs::RECONCILE)?;
    let ctx = Arc::new(config.context().await?);
    lambda_http::lambda_runtime::run(lambda_http::lambda_runtime::service_fn(
        move |_: lambda_http::lambda_runtime::LambdaEvent<serde_json::Value>| {
            let ctx = ctx.clone();
            async move {
                let report = crate::services::payments::reconcile(&ctx).await.map_err(|e| e.to_string())?;
                tracing::info!(?report, "reconciliation finished");
                Ok::<_, lambda_http::Error>(serde_json::to_value(report)?)
            }
        },
    ))
    .await
}
