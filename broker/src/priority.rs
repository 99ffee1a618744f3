//! CPU priority of the broker's background threads (cold reads, bulk connections): they lower
//! their own priority so that produce handling and the WAL writer win the CPU.
//!
//! Owns: the calls that change a thread's scheduling policy or nice value. Never: raises a
//! priority (that needs privileges the broker does not ask for).

/// Lowers the calling thread's CPU priority: Linux's `SCHED_IDLE` when `idle` (the kernel
/// runs it only when no ordinary thread wants the CPU, and preempts it at once when one
/// wakes), else nice `nice` (Linux threads have their own). Either only ever lowers it,
/// which needs no privileges; a failure is logged and the thread runs as it was.
///
/// ```
/// std::thread::spawn(|| rustmq_broker::priority::lower_this_thread(10, true)).join().unwrap();
/// ```
pub fn lower_this_thread(nice: i32, idle: bool) {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        if idle {
            // SCHED_IDLE ignores nice; `Min` keeps the nice value it sets harmless.
            let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
            match set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy) {
                Ok(()) => return,
                Err(e) => tracing::debug!(error = ?e, "could not set SCHED_IDLE; using nice"),
            }
        }
        if nice != 0
            && let Err(e) =
                rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice)
        {
            tracing::debug!(nice, error = %e, "could not lower the thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (nice, idle);
}

/// Whether the calling thread runs under `SCHED_IDLE`.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn this_thread_is_idle() -> bool {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
    matches!(
        thread_priority::thread_schedule_policy(),
        Ok(ThreadSchedulePolicy::Normal(
            NormalThreadSchedulePolicy::Idle
        ))
    )
}
