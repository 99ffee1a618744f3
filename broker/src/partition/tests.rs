//! A leader hands followers batches before its own fsync: what it remembers of that, and
//! why a failed write of such batches fences the partition instead of reusing the offsets.

use std::time::Duration;

use super::*;

const ME: u32 = 1;

fn leader_of_three() -> Arc<PartitionLog> {
    let p = PartitionLog::new(
        "t".into(),
        7,
        0,
        0,
        0,
        WriteCache::new(1 << 20),
        UploadBacklog::new(1 << 20),
        ReplicaSettings {
            broker_id: ME,
            max_lag: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(10),
        },
    );
    assert_eq!(
        p.set_assignment(ME, 3, 1, &[1, 2, 3], &[1, 2, 3]),
        RoleChange::BecameLeader
    );
    p
}

/// Queues `records` offsets as one batch (as `queue` does), not yet written by the WAL.
fn queue_unwritten(p: &PartitionLog, records: i64) -> (u64, i64, i64) {
    let mut s = p.state.lock();
    let (base, last) = (s.next_offset, s.next_offset + records - 1);
    let epoch = s.leader_epoch;
    s.note_epoch(epoch, base);
    s.entries.push_back(IndexEntry {
        base,
        last,
        max_timestamp: 0,
        size: 100,
        location: None,
        cached: Some(Bytes::from(vec![0u8; 100])),
        uploaded: false,
        appended_at: Instant::now(),
    });
    s.bytes += 100;
    s.next_offset = last + 1;
    (s.generation, base, last)
}

fn written(p: &PartitionLog, (generation, base, last): (u64, i64, i64)) {
    let at = WalLocation {
        segment: 1,
        offset: base as u64 * 100,
        len: 100,
    };
    p.on_durable(generation, base, last, at);
}

#[test]
fn followers_are_handed_batches_before_the_leader_has_written_them() {
    let p = leader_of_three();
    let first = queue_unwritten(&p, 10);
    let plan = p.plan_read_upto(0, 1 << 20, true).unwrap();
    assert_eq!(
        plan.batches.len(),
        1,
        "the unwritten batch goes to followers"
    );
    assert!(matches!(plan.batches[0], BatchSource::Memory(_)));
    // Consumers still see nothing: the high watermark has not moved.
    assert!(p.plan_read(0, 1 << 20).unwrap().batches.is_empty());
    // A follower's log that already holds it does not diverge from the leader's.
    assert_eq!(p.end_offset_for_epoch(3), 10);

    // Both followers wrote it before the leader did: not acknowledged yet.
    p.follower_fetched(2, 10);
    p.follower_fetched(3, 10);
    assert_eq!(p.ack_state(9, 3, AckNeed::All), AckState::Waiting);
    assert_eq!(p.ack_state(9, 3, AckNeed::Replicas(2)), AckState::Waiting);
    written(&p, first);
    assert_eq!(p.ack_state(9, 3, AckNeed::All), AckState::Done);
    assert_eq!(p.ack_state(9, 3, AckNeed::Replicas(2)), AckState::Done);
    assert_eq!(p.bounds().1, 10);
}

#[test]
fn a_failed_write_of_batches_followers_have_fences_the_partition() {
    let p = leader_of_three();
    let first = queue_unwritten(&p, 10);
    written(&p, first);
    let second = queue_unwritten(&p, 5);
    assert_eq!(
        p.plan_read_upto(10, 1 << 20, true).unwrap().batches.len(),
        1
    );

    assert!(
        p.on_failed(second.0),
        "the WAL must stop: a follower has offsets 10..15"
    );
    assert!(!p.is_leader(), "fenced until a new epoch elsewhere");
    assert!(matches!(p.ack_state(9, 3, AckNeed::All), AckState::Lost(_)));
    // Nothing is written at the handed-out offsets in this epoch.
    let s = p.state.lock();
    assert!(s.fenced);
    assert_eq!(s.next_offset, 10);
}

#[test]
fn a_failed_write_nobody_fetched_truncates_and_keeps_leading() {
    let p = leader_of_three();
    let first = queue_unwritten(&p, 10);
    p.plan_read_upto(0, 1 << 20, true).unwrap();
    written(&p, first);
    // Handed out only up to what is durable now; the next batch fails before any fetch.
    let second = queue_unwritten(&p, 5);
    assert!(!p.on_failed(second.0));
    assert!(p.is_leader());
    assert_eq!(p.state.lock().next_offset, 10);
}

#[test]
fn what_was_handed_out_in_an_earlier_epoch_does_not_fence() {
    let p = leader_of_three();
    let first = queue_unwritten(&p, 10);
    p.plan_read_upto(0, 1 << 20, true).unwrap();
    // Re-elected in a new epoch before the write failed: batches of epoch 4 at the same
    // offsets are told apart from epoch 3's by the followers' epoch check.
    p.set_assignment(ME, 4, 2, &[1, 2, 3], &[1, 2, 3]);
    assert!(!p.on_failed(first.0));
    assert!(p.is_leader());
    assert_eq!(p.end_offset_for_epoch(3), 0);
}
