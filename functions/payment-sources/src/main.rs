//! The `payment-sources` function: serves the `payment-sources` route group on AWS Lambda.

#[tokio::main]
async fn main() -> Result<(), portal::lambda::Error> {
    portal::lambda::run(portal::http::Group::PaymentSources).await
}
