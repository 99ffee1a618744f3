//! The state machine as a whole: placement, fail-over, ISR changes, reassignment, offsets.

use super::*;

fn with_brokers(n: u32) -> ClusterMetadata {
    let mut m = ClusterMetadata::default();
    for id in 1..=n {
        m.apply(Command::RegisterBroker(BrokerRegistration {
            id,
            host: "127.0.0.1".into(),
            port_quic: 9092,
            port_rpc: 9093,
            rack_id: "r".into(),
            incarnation: 0,
            empty_log: false,
        }));
    }
    m
}

#[test]
fn placement_alternates_racks_and_skips_offline_brokers() {
    let mut m = ClusterMetadata::default();
    for (id, rack) in [
        (1, "a"),
        (2, "a"),
        (3, "a"),
        (4, "b"),
        (5, "b"),
        (6, "b"),
        (7, "c"),
    ] {
        m.apply(Command::RegisterBroker(BrokerRegistration {
            id,
            host: "h".into(),
            port_quic: 1,
            port_rpc: 2,
            rack_id: rack.into(),
            incarnation: 0,
            empty_log: false,
        }));
    }
    assert_eq!(m.rack_interleaved(), [1, 4, 7, 2, 5, 3, 6]);
    let CommandResult::TopicCreated(t) = m.apply(create("t", 12, 2)) else {
        panic!("created")
    };
    let rack = |b: u32| m.brokers[&b].rack_id.clone();
    for a in &t.assignments {
        assert_ne!(rack(a.replicas[0]), rack(a.replicas[1]), "{a:?}");
    }
    assert_eq!(
        m.apply(Command::SetBrokerOnline {
            id: 7,
            online: false
        }),
        CommandResult::Ok
    );
    assert_eq!(m.rack_interleaved(), [1, 4, 2, 5, 3, 6]);
    let CommandResult::TopicCreated(t) = m.apply(create("u", 20, 3)) else {
        panic!("created")
    };
    assert!(t.assignments.iter().all(|a| !a.replicas.contains(&7)));
    assert_eq!(
        m.apply(Command::SetBrokerOnline {
            id: 9,
            online: false
        }),
        CommandResult::Refused(MetadataError::UnknownBroker(9))
    );
    // Registering again is a sign of life.
    let b7 = m.brokers[&7].clone();
    m.apply(Command::RegisterBroker(b7));
    assert!(m.offline_brokers.is_empty());
}

fn create(name: &str, p: u32, rf: u32) -> Command {
    Command::CreateTopic {
        name: name.into(),
        partitions: p,
        replication_factor: rf,
        config: TopicConfig::default(),
        created_at: "t".into(),
    }
}

#[test]
fn failover_isr_changes_and_reassignment() {
    let mut m = with_brokers(3);
    m.apply(create("t", 1, 3));
    let a = |m: &ClusterMetadata| m.topics["t"].assignments[0].clone();
    let first = a(&m);
    let leader = first.leader;
    // A stale ISR change (old partition epoch) is refused; a current one applies.
    let shrink = |m: &mut ClusterMetadata, pe: i32, isr: Vec<u32>| {
        let cur = a(m);
        m.apply(Command::AlterIsr(IsrChange {
            topic_id: m.topics["t"].id,
            partition: 0,
            leader: cur.leader,
            leader_epoch: cur.leader_epoch,
            partition_epoch: pe,
            isr,
        }))
    };
    assert!(matches!(
        shrink(&mut m, 7, vec![leader]),
        CommandResult::Refused(MetadataError::StaleLeader { .. })
    ));
    let follower = *first.replicas.iter().find(|r| **r != leader).unwrap();
    assert!(matches!(
        shrink(&mut m, 0, vec![leader, follower]),
        CommandResult::Partition(_)
    ));
    assert_eq!(a(&m).isr.len(), 2);
    // The leader dies: the in-sync follower takes over with a new epoch; the replica
    // that was out of the ISR cannot.
    m.apply(Command::SetBrokerOnline {
        id: leader,
        online: false,
    });
    let now = a(&m);
    assert_eq!(now.leader, follower);
    assert_eq!(now.leader_epoch, 1);
    assert_eq!(now.isr, vec![follower]);
    assert_eq!(m.leader_elections, 1);
    // Reassign to the two others: completes once the new replicas are in sync.
    let others: Vec<u32> = (1..=3).filter(|b| *b != follower).collect();
    m.apply(Command::SetBrokerOnline {
        id: leader,
        online: true,
    });
    assert_eq!(
        m.apply(Command::ReassignPartitions {
            topic: "t".into(),
            targets: vec![(0, others.clone())],
        }),
        CommandResult::Ok
    );
    assert!(a(&m).target_replicas.is_some());
    let cur = a(&m);
    let mut isr = others.clone();
    isr.push(follower);
    m.apply(Command::AlterIsr(IsrChange {
        topic_id: m.topics["t"].id,
        partition: 0,
        leader: cur.leader,
        leader_epoch: cur.leader_epoch,
        partition_epoch: cur.partition_epoch,
        isr,
    }));
    let done = a(&m);
    assert_eq!(done.replicas, others);
    assert!(done.target_replicas.is_none());
    assert!(others.contains(&done.leader), "{done:?}");
    assert_eq!(done.leader_epoch, 2);
}

#[test]
fn a_restart_moves_leadership_and_an_empty_disk_also_leaves_the_isr() {
    let mut m = with_brokers(3);
    m.apply(create("t", 1, 3));
    let leader = m.topics["t"].assignments[0].leader;
    let mut b = m.brokers[&leader].clone();
    b.incarnation = 1;
    m.apply(Command::RegisterBroker(b.clone()));
    let a = m.topics["t"].assignments[0].clone();
    assert_ne!(a.leader, leader);
    assert!(
        a.isr.contains(&leader),
        "its fsynced WAL still counts: {a:?}"
    );
    b.incarnation = 2;
    b.empty_log = true;
    m.apply(Command::RegisterBroker(b));
    let a = m.topics["t"].assignments[0].clone();
    assert!(!a.isr.contains(&leader), "{a:?}");
}

#[test]
fn create_delete_recreate_gets_new_id() {
    let mut m = with_brokers(3);
    let CommandResult::TopicCreated(t) = m.apply(create("a", 6, 3)) else {
        panic!("not created")
    };
    assert_eq!(t.assignments.len(), 6);
    assert!(t.assignments.iter().all(|a| a.replicas.len() == 3));
    assert_eq!(
        m.apply(create("a", 1, 1)),
        CommandResult::Refused(MetadataError::TopicExists("a".into()))
    );
    assert_eq!(
        m.apply(Command::DeleteTopic {
            name: "a".into(),
            deleted_at_ms: 0
        }),
        CommandResult::Ok
    );
    let CommandResult::TopicCreated(t2) = m.apply(create("a", 1, 1)) else {
        panic!("not created")
    };
    assert_ne!(t.id, t2.id);
}

#[test]
fn offsets_commit_validate_and_go_with_their_topic() {
    let mut m = with_brokers(1);
    m.apply(create("t", 2, 1));
    let commit = |p: u32, o: i64| OffsetCommit {
        topic: "t".into(),
        partition: p,
        offset: o,
        metadata: String::new(),
    };
    let r = m.apply(Command::CommitOffsets {
        group: "g".into(),
        offsets: vec![commit(0, 5), commit(1, 7), commit(9, 1), commit(0, -3)],
        committed_at_ms: 1,
    });
    assert_eq!(r, CommandResult::OffsetsCommitted(2));
    assert_eq!(m.group_offsets["g"]["t"][&0].offset, 5);
    m.apply(Command::DeleteTopic {
        name: "t".into(),
        deleted_at_ms: 0,
    });
    assert!(m.group_offsets.is_empty());
}

#[test]
fn uploads_of_deleted_topics_are_not_cataloged() {
    use crate::catalog::{PartitionRange, Registered, UploadedObject};
    let mut m = with_brokers(1);
    m.apply(create("live", 1, 1));
    let live = m.topics["live"].id;
    let range = |topic_id| PartitionRange {
        topic_id,
        partition: 0,
        base_offset: 0,
        last_offset: 9,
        max_timestamp: 0,
        byte_start: 0,
        byte_len: 10,
    };
    let obj = |key: &str, ranges| UploadedObject {
        key: key.into(),
        size: 20,
        index_start: 20,
        index_len: 0,
        broker_id: 1,
        level: 0,
        created_at_ms: 0,
        ranges,
    };
    let r = m.apply(Command::RegisterObject(obj(
        "a",
        vec![range(live), range(99)],
    )));
    assert_eq!(r, CommandResult::ObjectRegistered(Registered::Accepted(1)));
    let r = m.apply(Command::RegisterObject(obj("b", vec![range(99)])));
    assert_eq!(r, CommandResult::ObjectRegistered(Registered::Redundant));
    assert_eq!(m.catalog.partitions.len(), 1);
}

#[test]
fn refusals_are_typed() {
    let mut m = with_brokers(1);
    assert!(matches!(
        m.apply(create("x", 1, 2)),
        CommandResult::Refused(MetadataError::InsufficientBrokers {
            requested: 2,
            available: 1,
            registered: 1,
        })
    ));
    assert!(matches!(
        m.apply(create("x", 0, 1)),
        CommandResult::Refused(MetadataError::InvalidPartitions(0))
    ));
    assert!(matches!(
        m.apply(create("no/slash", 1, 1)),
        CommandResult::Refused(MetadataError::InvalidTopicName { .. })
    ));
    assert!(matches!(
        m.apply(Command::DeleteTopic {
            name: "nope".into(),
            deleted_at_ms: 0,
        }),
        CommandResult::Refused(MetadataError::UnknownTopic(_))
    ));
    assert!(m.topics.is_empty());
}

#[test]
fn an_isr_change_logged_as_a_struct_variant_still_decodes() {
    let logged = r#"{"AlterIsr":{"topic_id":4,"partition":2,"leader":1,"leader_epoch":3,"partition_epoch":5,"isr":[1,2]}}"#;
    let cmd: Command = serde_json::from_str(logged).unwrap();
    let Command::AlterIsr(change) = &cmd else {
        panic!("decoded as {cmd:?}");
    };
    assert_eq!(change.isr, [1, 2]);
    assert_eq!(change.partition_epoch, 5);
    assert_eq!(serde_json::to_string(&cmd).unwrap(), logged);
}

#[test]
fn a_topic_grows_partitions_and_changes_config_but_never_shrinks() {
    let mut m = with_brokers(3);
    let CommandResult::TopicCreated(t) = m.apply(create("t", 2, 2)) else {
        panic!("created")
    };
    let mut config = TopicConfig::default();
    config.set("retention.ms", "60000").unwrap();
    let CommandResult::TopicAltered(grown) = m.apply(Command::AlterTopic {
        name: "t".into(),
        partitions: Some(5),
        config: Some(config.clone()),
    }) else {
        panic!("altered")
    };
    assert_eq!(grown.partitions, 5);
    assert_eq!(grown.config.retention_ms, Some(60000));
    // The existing partitions keep their replicas; the new ones are placed like the first.
    assert_eq!(grown.assignments[..2], t.assignments[..]);
    for (p, a) in grown.assignments.iter().enumerate() {
        assert_eq!(a.partition, p as u32);
        assert_eq!(a.replicas.len(), 2);
        assert_eq!(a.isr, a.replicas);
    }
    assert_eq!(m.topics["t"], grown);
    assert_eq!(
        m.apply(Command::AlterTopic {
            name: "t".into(),
            partitions: Some(4),
            config: None,
        }),
        CommandResult::Refused(MetadataError::PartitionsCannotShrink {
            topic: "t".into(),
            current: 5,
            requested: 4
        })
    );
    // A refused change leaves the topic as it was.
    assert_eq!(m.topics["t"], grown);
    // Config alone, and the whole config: keys left out go back to their defaults.
    let CommandResult::TopicAltered(reset) = m.apply(Command::AlterTopic {
        name: "t".into(),
        partitions: None,
        config: Some(TopicConfig::default()),
    }) else {
        panic!("altered")
    };
    assert_eq!(reset.config.retention_ms, None);
    assert_eq!(reset.partitions, 5);
    assert!(matches!(
        m.apply(Command::AlterTopic {
            name: "nope".into(),
            partitions: Some(9),
            config: None,
        }),
        CommandResult::Refused(MetadataError::UnknownTopic(_))
    ));
}

#[test]
fn producer_ids_start_at_one_and_never_repeat() {
    let mut m = ClusterMetadata::default();
    let ids: Vec<i64> = (0..3)
        .map(|_| match m.apply(Command::InitProducerId) {
            CommandResult::ProducerId(id) => id,
            other => panic!("{other:?}"),
        })
        .collect();
    // 0 is proto3's unset value: a client could not tell it from "no id".
    assert_eq!(ids, [1, 2, 3]);
}
