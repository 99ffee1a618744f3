//! Status conditions as Kubernetes defines them: a transition time that only moves when the
//! status changes, so `kubectl wait` and dashboards see real transitions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Condition `type_` with `status`, reason and message, at `generation`; the transition
/// time is kept from `previous` when the status did not change.
///
/// ```
/// use rustmq_operator::conditions::condition;
/// let first = condition(&[], "Ready", false, "Starting", "pods starting", Some(1));
/// let again = condition(&[first.clone()], "Ready", false, "Starting", "2 of 3 ready", Some(1));
/// assert_eq!(first.last_transition_time, again.last_transition_time);
/// assert_eq!(again.status, "False");
/// ```
pub fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    let status = if status { "True" } else { "False" };
    let since = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(Timestamp::now()));
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: since,
    }
}

/// Whether `conditions` has `type_` with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}
