//! Pacing of background copying (building upload objects, writing them to a local store).
//!
//! Under a CPU quota (a pod's `limits.cpu`, cgroup `cpu.max`) a low nice value does not
//! help: every thread of the broker draws on one quota, and a 64 MiB upload copied in one
//! go spends it in a burst, after which the kernel stops the request threads too until the
//! next period (up to 100 ms). Work done in steps, with a rest after each in proportion to
//! the step, spends the same CPU spread out, so the quota is not exhausted early.
//!
//! A step is measured by the CPU time its thread spent on it, not by the clock on the
//! wall: on a core the request threads keep busy, the low-priority copier is preempted
//! mid-step, and resting in proportion to the wall time would slow it to a fraction of its
//! share until it fell behind and ran at full speed (in bursts, which is what pacing avoids).
//!
//! Owns: how long to rest after a step. Never: decides what to upload (the uploader does).

use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Bytes copied between rests.
pub const STEP_BYTES: usize = 1 << 20;

/// The longest rest after one step: a slow step (a stalled disk) must not stall uploads
/// for long.
const MAX_REST: Duration = Duration::from_millis(50);

/// The share of one CPU background copying may take while it rests between steps.
///
/// ```
/// use std::time::Duration;
/// use rustmq_broker::tier::pace::Pace;
/// // At half a CPU a 4 ms step is followed by a 4 ms rest.
/// assert_eq!(Pace::new(0.5).rest_after(Duration::from_millis(4)), Duration::from_millis(4));
/// assert_eq!(Pace::FULL.rest_after(Duration::from_millis(4)), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    share: f64,
}

impl Pace {
    /// No rests: the uploader is behind and must catch up.
    pub const FULL: Pace = Pace { share: 1.0 };

    /// At most `share` of a CPU (clamped to 0.01..=1).
    pub fn new(share: f64) -> Self {
        Self {
            share: if share.is_finite() {
                share.clamp(0.01, 1.0)
            } else {
                1.0
            },
        }
    }

    /// Whether rests are taken at all.
    pub fn is_paced(&self) -> bool {
        self.share < 1.0
    }

    /// The rest after a step that took `worked`, so that work and rest keep to the share.
    pub fn rest_after(&self, worked: Duration) -> Duration {
        if !self.is_paced() {
            return Duration::ZERO;
        }
        worked
            .mul_f64((1.0 - self.share) / self.share)
            .min(MAX_REST)
    }
}

/// One step of paced work, from its start: what it cost is the CPU time its thread spent
/// since (the wall time when the step moved to another thread, or where the platform has
/// no thread clock).
///
/// ```
/// use rustmq_broker::tier::pace::{Pace, Step};
/// let step = Step::start();
/// let _work: u64 = (0..100_000u64).sum();
/// let rest = Pace::new(0.5).rest_after(step.worked());
/// assert!(rest <= step.worked() + std::time::Duration::from_millis(1));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Step {
    wall: Instant,
    cpu: Option<(ThreadId, Duration)>,
}

impl Step {
    /// A step starting now on this thread.
    pub fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: thread_cpu_time().map(|t| (std::thread::current().id(), t)),
        }
    }

    /// What the step has cost so far.
    pub fn worked(&self) -> Duration {
        match (self.cpu, thread_cpu_time()) {
            (Some((thread, began)), Some(now)) if thread == std::thread::current().id() => {
                now.saturating_sub(began)
            }
            _ => self.wall.elapsed(),
        }
    }
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Some(Duration::new(
            u64::try_from(t.tv_sec).ok()?,
            u32::try_from(t.tv_nsec).ok()?,
        ))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rests_keep_work_to_its_share_and_are_bounded() {
        let ms = Duration::from_millis;
        assert_eq!(Pace::new(0.25).rest_after(ms(2)), ms(6));
        assert_eq!(Pace::new(1.0).rest_after(ms(2)), Duration::ZERO);
        assert!(!Pace::new(3.0).is_paced());
        assert!(!Pace::new(f64::NAN).is_paced());
        // A step stalled on the disk does not turn into a long rest.
        assert_eq!(Pace::new(0.1).rest_after(ms(200)), MAX_REST);
        // A share of 0 would never finish: it is taken as 1%.
        assert_eq!(
            Pace::new(0.0).rest_after(Duration::from_micros(100)),
            Duration::from_micros(9900)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_step_costs_its_threads_cpu_time_not_the_time_it_waited() {
        let step = Step::start();
        std::thread::sleep(Duration::from_millis(30));
        // Sleeping took 30 ms on the wall and next to nothing of the CPU.
        assert!(
            step.worked() < Duration::from_millis(15),
            "{:?}",
            step.worked()
        );
        let step = Step::start();
        let mut x = 0u64;
        let spun = Instant::now();
        while spun.elapsed() < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        // Spinning is all CPU (a preempted spin counts less, never more).
        assert!(step.worked() > Duration::ZERO);
        assert!(step.worked() <= spun.elapsed() + Duration::from_millis(1));
    }

    #[test]
    fn a_step_finished_on_another_thread_costs_its_wall_time() {
        let step = Step::start();
        std::thread::sleep(Duration::from_millis(20));
        let worked = std::thread::spawn(move || step.worked()).join().unwrap();
        assert!(worked >= Duration::from_millis(20), "{worked:?}");
    }
}
