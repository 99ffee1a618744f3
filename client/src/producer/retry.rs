//! Batches that must be sent again, and the order they go in: a partition's retries leave
//! one at a time, earliest dispatched first, and only once nothing else of the partition
//! is in flight. Retried independently, a later batch could reach a new leader first; one
//! that holds no state for the producer (its batches were all uploaded before a restart)
//! would take it as the start of the sequence and refuse the earlier one for good. Kafka's
//! producer resends in sequence order for the same reason.

use std::collections::BTreeMap;

use backon::BackoffBuilder;
use bytes::Bytes;
use tokio::time::Instant;

use super::Pending;
use crate::config::ProducerConfig;

/// One partition's batch, encoded and stamped: what a request carries, and what comes back
/// to the accumulator when it has to go again (the same bytes, so a retry is a duplicate
/// the leader recognises).
pub(super) struct Flight {
    pub partition: u32,
    /// Dispatch order among the producer's batches; a partition's sequences follow it.
    pub order: u64,
    pub bytes: Bytes,
    pub msgs: Vec<Pending>,
    /// Producer id the batch is stamped with (-1: not idempotent).
    pub producer: i64,
    /// The idempotence generation its sequence was taken under.
    pub generation: u64,
    /// The leader that had acknowledged this producer on the partition when the batch was
    /// dispatched behind others still in flight. It is sent only to that leader: another
    /// may hold no state for the producer and could append it before its predecessors.
    pub pipelined_to: Option<u32>,
    pub retry: Retrying,
    /// When the batch's first message was queued.
    pub first_at: tokio::time::Instant,
}

/// How often and until when a batch may still be retried.
pub(super) struct Retrying {
    backoff: backon::ExponentialBackoff,
    give_up_at: Instant,
    /// Not sent again before this.
    pub not_before: Instant,
}

impl Retrying {
    /// Retries with exponential backoff and jitter, up to `max_retries` times and until
    /// `within` after the first attempt.
    pub fn new(config: &ProducerConfig, within: std::time::Duration) -> Self {
        let now = Instant::now();
        Self {
            backoff: backon::ExponentialBuilder::default()
                .with_min_delay(config.retry_base_delay)
                .with_max_delay(config.retry_max_delay)
                .with_jitter()
                .with_max_times(config.max_retries as usize)
                .build(),
            give_up_at: now + within,
            not_before: now,
        }
    }

    /// Schedules the next attempt after a failure; false when none is left.
    pub fn failed(&mut self) -> bool {
        let now = Instant::now();
        match self.backoff.next().filter(|_| now < self.give_up_at) {
            Some(delay) => {
                self.not_before = now + delay;
                true
            }
            None => false,
        }
    }
}

/// The batches waiting to be retried, by partition, earliest dispatched first.
#[derive(Default)]
pub(super) struct RetryQueue {
    by_partition: BTreeMap<u32, BTreeMap<u64, Flight>>,
}

impl RetryQueue {
    pub fn push(&mut self, mut f: Flight) {
        // It goes again alone (nothing else of its partition in flight), to whoever leads.
        f.pipelined_to = None;
        self.by_partition
            .entry(f.partition)
            .or_default()
            .insert(f.order, f);
    }

    /// Whether partition `p` has a batch waiting to go again (new batches wait behind it).
    pub fn holds(&self, p: u32) -> bool {
        self.by_partition.contains_key(&p)
    }

    /// Whether a batch of `p` dispatched before `order` waits to go again.
    pub fn holds_before(&self, p: u32, order: u64) -> bool {
        self.by_partition
            .get(&p)
            .and_then(|q| q.keys().next())
            .is_some_and(|o| *o < order)
    }

    /// The partitions whose earliest retry may leave now that nothing of theirs is in
    /// flight (`idle`), with when it may.
    pub fn heads<'a>(
        &'a self,
        idle: impl Fn(u32) -> bool + 'a,
    ) -> impl Iterator<Item = (u32, Instant)> + 'a {
        self.by_partition
            .iter()
            .filter(move |(p, _)| idle(**p))
            .filter_map(|(p, q)| q.values().next().map(|f| (*p, f.retry.not_before)))
    }

    /// Takes partition `p`'s earliest retry.
    pub fn pop(&mut self, p: u32) -> Option<Flight> {
        let q = self.by_partition.get_mut(&p)?;
        let f = q.pop_first().map(|(_, f)| f);
        if q.is_empty() {
            self.by_partition.remove(&p);
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight(partition: u32, order: u64) -> Flight {
        Flight {
            partition,
            order,
            bytes: Bytes::new(),
            msgs: Vec::new(),
            producer: 7,
            generation: 0,
            pipelined_to: None,
            retry: Retrying::new(
                &ProducerConfig::default(),
                std::time::Duration::from_secs(5),
            ),
            first_at: tokio::time::Instant::now(),
        }
    }

    #[test]
    fn retries_leave_earliest_first_whatever_order_they_failed_in() {
        let mut q = RetryQueue::default();
        // Batches 4, 2 and 3 of partition 0 came back in that order; 1 of partition 1.
        for (p, o) in [(0, 4), (0, 2), (1, 1), (0, 3)] {
            q.push(flight(p, o));
        }
        assert!(q.holds(0) && q.holds(1) && !q.holds(2));
        assert!(q.holds_before(0, 3) && !q.holds_before(0, 2));
        let heads: Vec<u32> = q.heads(|_| true).map(|(p, _)| p).collect();
        assert_eq!(heads, vec![0, 1]);
        // A partition with a batch still in flight offers nothing.
        let heads: Vec<u32> = q.heads(|p| p != 0).map(|(p, _)| p).collect();
        assert_eq!(heads, vec![1]);
        let popped: Vec<Flight> = std::iter::from_fn(|| q.pop(0)).collect();
        assert_eq!(
            popped.iter().map(|f| f.order).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        // Pipelined to a leader the first time, a retry goes to whoever leads now.
        assert!(popped.iter().all(|f| f.pipelined_to.is_none()));
        assert!(!q.holds(0) && q.holds(1));
    }

    #[test]
    fn a_batch_is_retried_until_its_attempts_run_out() {
        let config = ProducerConfig {
            max_retries: 2,
            retry_base_delay: std::time::Duration::from_millis(1),
            ..Default::default()
        };
        let mut r = Retrying::new(&config, std::time::Duration::from_secs(60));
        assert!(r.failed());
        assert!(r.not_before > Instant::now() - std::time::Duration::from_secs(1));
        assert!(r.failed());
        assert!(!r.failed(), "a third retry is one too many");
    }

    #[test]
    fn a_batch_is_not_retried_past_its_deadline() {
        let mut r = Retrying::new(&ProducerConfig::default(), std::time::Duration::ZERO);
        assert!(!r.failed());
    }
}
