//! The `payments` function: serves the `payments` route group on AWS Lambda.

#[tokio::main]
async fn main() -> Result<(), portal::lambda::Error> {
    portal::lambda::run(portal::http::Group::Payments).await
}
