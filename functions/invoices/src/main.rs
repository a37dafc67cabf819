//! The `invoices` function: serves the `invoices` route group on AWS Lambda.

#[tokio::main]
async fn main() -> Result<(), portal::lambda::Error> {
    portal::lambda::run(portal::http::Group::Invoices).await
}
