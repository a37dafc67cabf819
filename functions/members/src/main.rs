//! The `members` function: serves the `members` route group on AWS Lambda.

#[tokio::main]
async fn main() -> Result<(), portal::lambda::Error> {
    portal::lambda::run(portal::http::Group::Members).await
}
