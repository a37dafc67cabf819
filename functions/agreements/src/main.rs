//! The `agreements` function: serves the `agreements` route group on AWS Lambda.

#[tokio::main]
async fn main() -> Result<(), portal::lambda::Error> {
    portal::lambda::run(portal::http::Group::Agreements).await
}
