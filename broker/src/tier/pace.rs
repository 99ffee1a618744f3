//! Pacing of background copying (building upload objects, writing them to a local store).
//!
//! Under a CPU quota (a pod's `limits.cpu`, cgroup `cpu.max`) a low nice value does not
//! help: every thread of the broker draws on one quota, and a 64 MiB upload copied in one
//! go spends it in a burst, after which the kernel stops the request threads too until the
//! next period (up to 100 ms). Work done in steps, with a rest after each in proportion to
//! the step, spends the same CPU spread out, so the quota is not exhausted early.
//!
//! Owns: how long to rest after a step. Never: decides what to upload (the uploader does).

use std::time::Duration;

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
}
