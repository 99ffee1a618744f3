//! Waiting on optional deadlines inside `select!` loops.

use tokio::time::Instant;

/// Sleeps until `deadline`, or forever when there is none (a `select!` arm that never fires).
pub(crate) async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
