//! The `reconcile` function: runs on a schedule and settles payments left
//! pending by a crash or timeout, by asking the payment processor.

#[tokio::main]
async fn main() -> Result<(), portal::lambda::Error> {
    portal::lambda::run_reconcile().await
}
