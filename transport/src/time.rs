//! Waiting on optional deadlines inside `select!` loops.

use tokio::time::Instant;

/// Sleeps until `deadline`, or forever when there is none (a `select!` arm that never fires).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use rustmq_transport::time::sleep_until_opt;
/// let soon = tokio::time::Instant::now() + std::time::Duration::from_millis(1);
/// tokio::select! {
///     _ = sleep_until_opt(None) => unreachable!("no deadline never fires"),
///     _ = sleep_until_opt(Some(soon)) => {}
/// }
/// # }
/// ```
pub async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
