use std::collections::BTreeMap;

use rustmq_controller::api::{PartitionView, TopicView};
use rustmq_controller::metadata::TopicConfig;

use super::*;

fn pod(i: i32, rev: &str, ready: bool) -> PodState {
    PodState {
        name: format!("rmq-broker-{i}"),
        ordinal: i,
        ready,
        revision: Some(rev.into()),
        terminating: false,
    }
}

/// One topic, RF 3, with the given ISRs (broker ids) per partition.
fn topic(isrs: &[&[u32]], min_isr: Option<u32>) -> Vec<TopicView> {
    let b = |id: &u32| format!("broker-{id}");
    vec![TopicView {
        name: "t".into(),
        partitions: isrs.len() as u32,
        replication_factor: 3,
        config: TopicConfig {
            min_insync_replicas: min_isr,
            ..Default::default()
        },
        created_at: String::new(),
        partition_assignments: isrs
            .iter()
            .enumerate()
            .map(|(i, isr)| PartitionView {
                partition: i as u32,
                leader: b(&isr[0]),
                replicas: [0u32, 1, 2].iter().map(b).collect(),
                in_sync_replicas: isr.iter().map(b).collect(),
                leader_epoch: 0,
                under_replicated: isr.len() < 3,
                target_replicas: None,
            })
            .collect(),
        under_replicated_partitions: 0,
    }]
}

#[test]
fn nothing_stale_is_done() {
    let pods = [pod(0, "new", true), pod(1, "new", true)];
    assert_eq!(next_broker(&pods, "new", &[], 2), RollStep::Done);
    assert_eq!(next_controller(&pods, "new", None, None), RollStep::Done);
}

#[test]
fn a_broker_that_is_not_ready_goes_first_unless_it_is_in_an_isr() {
    let pods = [
        pod(0, "old", true),
        pod(1, "old", false),
        pod(2, "old", true),
    ];
    // Broker 1 is in no ISR: it goes first, even though restarting broker 0 is refused.
    let topics = topic(&[&[0, 2]], Some(2));
    assert!(matches!(
        next_broker(&pods, "new", &topics, 2),
        RollStep::Restart { pod, .. } if pod == "rmq-broker-1"
    ));
    // Not ready but in an ISR at the minimum: it is not restarted; broker 2 may go.
    let topics = topic(&[&[0, 1]], Some(2));
    assert!(matches!(
        next_broker(&pods, "new", &topics, 2),
        RollStep::Restart { pod, .. } if pod == "rmq-broker-2"
    ));
}

#[test]
fn a_broker_whose_stop_would_break_min_isr_is_skipped_and_all_blocked_is_reported() {
    let pods = [
        pod(0, "old", true),
        pod(1, "old", true),
        pod(2, "old", true),
    ];
    // Partition 0 is in sync on 0 and 1 only: neither may stop with min ISR 2; 2 may.
    let topics = topic(&[&[0, 1]], Some(2));
    assert!(matches!(
        next_broker(&pods, "new", &topics, 1),
        RollStep::Restart { pod, .. } if pod == "rmq-broker-2"
    ));
    // Partition 0 in sync on 0 and 1, partition 1 on 1 and 2: every broker's stop would
    // leave one of them with a single in-sync replica.
    let topics = topic(&[&[0, 1], &[1, 2]], Some(2));
    match next_broker(&pods, "new", &topics, 1) {
        RollStep::Blocked { why, pending } => {
            assert!(why.contains("rmq-broker-0: t/0"), "{why}");
            assert!(why.contains("rmq-broker-2: t/1"), "{why}");
            assert_eq!(pending, ["rmq-broker-0", "rmq-broker-1", "rmq-broker-2"]);
        }
        other => panic!("{other:?}"),
    }
    // The topic's own setting wins over the default.
    assert!(matches!(
        next_broker(&pods, "new", &topic(&[&[0, 1]], Some(1)), 2),
        RollStep::Restart { .. }
    ));
}

#[test]
fn the_next_broker_waits_for_the_restarted_one_to_be_ready_and_in_sync() {
    let topics = topic(&[&[0, 1, 2]], Some(2));
    let pods = [
        pod(0, "new", false),
        pod(1, "old", true),
        pod(2, "old", true),
    ];
    assert!(
        matches!(next_broker(&pods, "new", &topics, 2), RollStep::Wait { why, .. } if why.contains("rmq-broker-0 is restarting"))
    );
    let pods = [
        pod(0, "new", true),
        pod(1, "old", true),
        pod(2, "old", true),
    ];
    let behind = topic(&[&[1, 2]], Some(2));
    assert!(
        matches!(next_broker(&pods, "new", &behind, 2), RollStep::Wait { why, .. } if why.contains("catching up"))
    );
    let mut terminating = pod(1, "old", true);
    terminating.terminating = true;
    let pods = [pod(0, "new", true), terminating, pod(2, "old", true)];
    assert!(matches!(
        next_broker(&pods, "new", &topics, 2),
        RollStep::Wait { .. }
    ));
}

#[test]
fn controllers_roll_followers_first_and_only_with_the_others_caught_up() {
    let c = |i: i32| PodState {
        name: format!("rmq-controller-{i}"),
        ..pod(i, "old", true)
    };
    let pods = [c(0), c(1), c(2)];
    let caught_up: BTreeMap<i32, u64> = [(0, 0), (1, 3), (2, 0)].into();
    match next_controller(&pods, "new", Some(1), Some(&caught_up)) {
        RollStep::Restart { pod, pending, .. } => {
            assert_eq!(pod, "rmq-controller-0");
            assert_eq!(
                pending,
                ["rmq-controller-2", "rmq-controller-1"],
                "leader last"
            );
        }
        other => panic!("{other:?}"),
    }
    let lagging: BTreeMap<i32, u64> = [(0, 0), (1, 0), (2, 5000)].into();
    assert!(matches!(
        next_controller(&pods, "new", Some(1), Some(&lagging)),
        RollStep::Wait { why, .. } if why.contains("rmq-controller-2 (5000 entries)")
    ));
    assert!(matches!(
        next_controller(&pods, "new", None, None),
        RollStep::Wait { .. }
    ));
    // Only the leader is left: it goes once the others caught up.
    let pods = [
        PodState {
            revision: Some("new".into()),
            ..c(0)
        },
        c(1),
        PodState {
            revision: Some("new".into()),
            ..c(2)
        },
    ];
    assert!(matches!(
        next_controller(&pods, "new", Some(1), Some(&caught_up)),
        RollStep::Restart { pod, .. } if pod == "rmq-controller-1"
    ));
}

#[test]
fn a_pod_deleted_and_not_created_again_yet_holds_the_roll() {
    let c = |i: i32| PodState {
        name: format!("rmq-controller-{i}"),
        ..pod(i, "old", true)
    };
    // rmq-controller-1 was restarted; the StatefulSet controller has not created it again.
    // The leader still reports it caught up (it has not noticed yet).
    let restarted = ["rmq-controller-1".to_string()];
    let pods = with_missing(vec![c(0), c(2)], "rmq-controller", 3, &restarted);
    let caught_up: BTreeMap<i32, u64> = [(0, 0), (1, 0), (2, 0)].into();
    assert!(matches!(
        next_controller(&pods, "new", Some(0), Some(&caught_up)),
        RollStep::Wait { why, .. } if why.contains("rmq-controller-1")
    ));
    // The same for brokers.
    let restarted_brokers = [
        "rmq-controller-0".to_string(),
        "rmq-broker-0".to_string(),
        "rmq-broker-1".to_string(),
    ];
    let pods = with_missing(
        vec![pod(0, "new", true), pod(2, "old", true)],
        "rmq-broker",
        3,
        &restarted_brokers,
    );
    assert_eq!(pods.len(), 3, "only the broker set's missing pod: {pods:?}");
    assert!(matches!(
        next_broker(&pods, "new", &topic(&[&[0, 2]], None), 1),
        RollStep::Wait { why, .. } if why.contains("rmq-broker-1")
    ));
    // Pods the roll did not delete (a scale-out's new ones) and ordinals at or above the
    // replicas (a scale-in) get none.
    assert_eq!(with_missing(vec![c(0)], "rmq-controller", 3, &[]).len(), 1);
    assert_eq!(
        with_missing(vec![c(0)], "rmq-controller", 1, &restarted).len(),
        1
    );
    assert_eq!(
        with_missing(vec![c(0)], "rmq-controller", 3, &restarted).len(),
        2
    );
}
