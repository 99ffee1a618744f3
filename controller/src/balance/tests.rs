use std::collections::BTreeMap;

use super::*;
use crate::metadata::{BrokerRegistration, ClusterMetadata, Command, LeaderMove, TopicConfig};

fn broker(id: u32, rack: &str) -> Command {
    Command::RegisterBroker(BrokerRegistration {
        id,
        host: "h".into(),
        port_quic: 1,
        port_rpc: 2,
        rack_id: rack.into(),
        incarnation: 0,
        empty_log: false,
    })
}

fn topic(md: &mut ClusterMetadata, name: &str, partitions: u32, rf: u32) {
    md.apply(Command::CreateTopic {
        name: name.into(),
        partitions,
        replication_factor: rf,
        config: TopicConfig::default(),
        created_at: String::new(),
    });
}

/// Applies a plan as the controller does: leader moves, then reassignments, then every new
/// replica catches up (the ISR grows) so the reassignments finish.
fn execute(md: &mut ClusterMetadata, p: &RebalancePlan) {
    md.apply(Command::MoveLeaders {
        moves: p.leader_moves.clone(),
    });
    for m in &p.replica_moves {
        md.apply(Command::ReassignPartitions {
            topic: m.topic.clone(),
            targets: vec![(m.partition, m.replicas.clone())],
        });
        let a = md.topics[&m.topic].assignments[m.partition as usize].clone();
        let mut isr = a.isr.clone();
        isr.push(m.to);
        md.apply(Command::AlterIsr(crate::metadata::IsrChange {
            topic_id: md.topics[&m.topic].id,
            partition: m.partition,
            leader: a.leader,
            leader_epoch: a.leader_epoch,
            partition_epoch: a.partition_epoch,
            isr,
        }));
    }
}

fn leaders_of(md: &ClusterMetadata) -> BTreeMap<u32, usize> {
    let mut n = BTreeMap::new();
    for a in md.topics.values().flat_map(|t| &t.assignments) {
        *n.entry(a.leader).or_default() += 1;
    }
    n
}

fn all_to(md: &mut ClusterMetadata, to: u32) {
    let moves = md
        .topics
        .values()
        .flat_map(|t| {
            t.assignments.iter().map(|a| LeaderMove {
                topic: t.name.clone(),
                partition: a.partition,
                from: a.leader,
                to,
            })
        })
        .collect();
    md.apply(Command::MoveLeaders { moves });
}

#[test]
fn leaders_piled_on_one_broker_are_spread_and_the_next_plan_is_empty() {
    let mut md = ClusterMetadata::default();
    for id in 1..=3 {
        md.apply(broker(id, &format!("zone-{id}")));
    }
    topic(&mut md, "a", 6, 3);
    topic(&mut md, "b", 3, 3);
    all_to(&mut md, 1);
    assert_eq!(leaders_of(&md)[&1], 9);
    let p = plan(&md, &BTreeMap::new(), PlanLimits::default());
    assert!(p.replica_moves.is_empty(), "replicas are even already");
    assert_eq!(p.leader_moves.len(), 6, "{:?}", p.leader_moves);
    assert!(trigger(&p, &BalancerOptions::default()).is_some());
    execute(&mut md, &p);
    assert!(
        leaders_of(&md).values().all(|n| *n == 3),
        "{:?}",
        leaders_of(&md)
    );
    let again = plan(&md, &BTreeMap::new(), PlanLimits::default());
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(trigger(&again, &BalancerOptions::default()), None);
}

#[test]
fn a_hot_partition_weighs_more_than_a_quiet_one() {
    let mut md = ClusterMetadata::default();
    for id in 1..=2 {
        md.apply(broker(id, "r"));
    }
    topic(&mut md, "t", 4, 2);
    all_to(&mut md, 1);
    let id = md.topics["t"].id;
    // Partition 0 carries all the traffic: it alone should weigh as much as the other three.
    let loads = BTreeMap::from([(
        1,
        BrokerLoad {
            partitions: vec![PartitionLoad {
                topic_id: id,
                partition: 0,
                bytes_in_per_sec: 1e6,
            }],
            ..Default::default()
        },
    )]);
    let p = plan(&md, &loads, PlanLimits::default());
    execute(&mut md, &p);
    let hot = md.topics["t"].assignments[0].leader;
    let with_hot = md.topics["t"]
        .assignments
        .iter()
        .filter(|a| a.leader == hot)
        .count();
    assert_eq!(with_hot, 1, "the hot partition's leader leads nothing else");
}

#[test]
fn new_brokers_receive_replicas_without_losing_racks_and_within_the_bound() {
    let mut md = ClusterMetadata::default();
    for (id, rack) in [(1, "a"), (2, "b"), (3, "c")] {
        md.apply(broker(id, rack));
    }
    topic(&mut md, "t", 10, 3);
    for (id, rack) in [(4, "a"), (5, "b")] {
        md.apply(broker(id, rack));
    }
    let limits = PlanLimits {
        max_replica_moves: 3,
        max_leader_moves: 64,
    };
    let p = plan(&md, &BTreeMap::new(), limits);
    assert_eq!(p.replica_moves.len(), 3, "bounded");
    for m in &p.replica_moves {
        assert!(m.to == 4 || m.to == 5, "{m:?}");
        let racks: std::collections::BTreeSet<_> = m
            .replicas
            .iter()
            .map(|b| md.brokers[b].rack_id.clone())
            .collect();
        assert_eq!(racks.len(), 3, "still on three racks: {m:?}");
    }
    // Moves in flight count against the bound.
    md.apply(Command::ReassignPartitions {
        topic: p.replica_moves[0].topic.clone(),
        targets: vec![(
            p.replica_moves[0].partition,
            p.replica_moves[0].replicas.clone(),
        )],
    });
    let next = plan(&md, &BTreeMap::new(), limits);
    assert_eq!(next.in_flight, 1);
    assert_eq!(next.replica_moves.len(), 2);
    // Round after round, the replicas even out within each rack: rack c has one broker and
    // every partition keeps a replica there (three racks), so broker 3 keeps its 10 and
    // racks a and b split theirs.
    let md2 = rebalance_fully(md.clone());
    let mut per = BTreeMap::<u32, usize>::new();
    for r in md2.topics["t"].assignments.iter().flat_map(|a| &a.replicas) {
        *per.entry(*r).or_default() += 1;
    }
    assert_eq!(
        per,
        BTreeMap::from([(1, 5), (2, 5), (3, 10), (4, 5), (5, 5)])
    );
}

/// Rounds of plans, each after the previous round's moves finished, until nothing moves.
fn rebalance_fully(mut md: ClusterMetadata) -> ClusterMetadata {
    for _ in 0..50 {
        // Finish what is in flight first: the new replicas caught up.
        let moving: Vec<_> = md
            .topics
            .values()
            .flat_map(|t| {
                t.assignments.iter().filter_map(|a| {
                    a.target_replicas
                        .clone()
                        .map(|r| (t.name.clone(), a.partition, r))
                })
            })
            .collect();
        for (t, part, target) in moving {
            let a = md.topics[&t].assignments[part as usize].clone();
            md.apply(Command::AlterIsr(crate::metadata::IsrChange {
                topic_id: md.topics[&t].id,
                partition: part,
                leader: a.leader,
                leader_epoch: a.leader_epoch,
                partition_epoch: a.partition_epoch,
                isr: target.iter().chain(a.isr.iter()).copied().collect(),
            }));
        }
        let p = plan(&md, &BTreeMap::new(), PlanLimits::default());
        if p.is_empty() {
            return md;
        }
        execute(&mut md, &p);
    }
    panic!("the plans did not converge");
}

#[test]
fn scaling_three_brokers_to_five_in_one_rack_spreads_replicas_and_leaders_evenly() {
    let mut md = ClusterMetadata::default();
    for id in 1..=3 {
        md.apply(broker(id, "r"));
    }
    topic(&mut md, "t", 10, 3);
    for id in 4..=5 {
        md.apply(broker(id, "r"));
    }
    let md = rebalance_fully(md);
    let mut per = BTreeMap::<u32, usize>::new();
    for r in md.topics["t"].assignments.iter().flat_map(|a| &a.replicas) {
        *per.entry(*r).or_default() += 1;
    }
    assert!(per.values().all(|n| *n == 6), "{per:?}");
    assert!(
        leaders_of(&md).values().all(|n| *n == 2),
        "{:?}",
        leaders_of(&md)
    );
}

#[test]
fn draining_and_offline_brokers_receive_nothing() {
    let mut md = ClusterMetadata::default();
    for id in 1..=4 {
        md.apply(broker(id, "r"));
    }
    topic(&mut md, "t", 8, 2);
    all_to(&mut md, 1);
    md.apply(Command::SetDraining {
        id: 3,
        draining: true,
    });
    md.apply(Command::SetBrokerOnline {
        id: 4,
        online: false,
    });
    let p = plan(&md, &BTreeMap::new(), PlanLimits::default());
    assert!(!p.is_empty());
    assert!(
        p.leader_moves.iter().all(|m| m.to == 1 || m.to == 2),
        "{p:?}"
    );
    assert!(
        p.replica_moves.iter().all(|m| m.to == 1 || m.to == 2),
        "{p:?}"
    );
    assert!(p.brokers.iter().all(|b| b.id == 1 || b.id == 2));
}

#[test]
fn the_trigger_names_a_hot_broker() {
    let mut md = ClusterMetadata::default();
    for id in 1..=2 {
        md.apply(broker(id, "r"));
    }
    topic(&mut md, "t", 3, 2);
    // Leaders 2/1: within Kafka's 10% rule? No: 2 vs mean 1.5 is 33% above, so a plan...
    let loads = BTreeMap::from([(
        1,
        BrokerLoad {
            cpu: 0.95,
            ..Default::default()
        },
    )]);
    let p = plan(&md, &loads, PlanLimits::default());
    // ...but no single move narrows a 2-1 gap by more than half a partition: nothing moves.
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(trigger(&p, &BalancerOptions::default()), None);
    all_to(&mut md, 1);
    let p = plan(&md, &loads, PlanLimits::default());
    let why = trigger(&p, &BalancerOptions::default()).unwrap();
    assert!(why.contains("broker 1 uses 95% of its CPU"), "{why}");
}

/// Right after a round moved leaderships, the moved partitions are in no broker's report
/// (the old leader no longer leads them, the new one has not sampled them yet). Planned on
/// the latest reports alone they look idle and the next round moves more; weighed by the
/// rates remembered from before the move, the next plan is empty.
#[test]
fn the_round_after_leader_moves_weighs_moved_partitions_by_their_remembered_rates() {
    let mut md = ClusterMetadata::default();
    for id in 1..=3 {
        md.apply(broker(id, &format!("r{id}")));
    }
    topic(&mut md, "t", 6, 3);
    all_to(&mut md, 1);
    let id = md.topics["t"].id;
    let load_of = |parts: &[u32]| BrokerLoad {
        partitions: parts
            .iter()
            .map(|p| PartitionLoad {
                topic_id: id,
                partition: *p,
                bytes_in_per_sec: 1e6,
            })
            .collect(),
        ..Default::default()
    };
    let reports = LoadReports::default();
    reports.record(1, load_of(&[0, 1, 2, 3, 4, 5]));
    reports.record(2, BrokerLoad::default());
    reports.record(3, BrokerLoad::default());
    let window = std::time::Duration::from_secs(60);
    let first = plan_with_rates(
        &md,
        &reports.current(window),
        &reports.partition_rates(window),
        PlanLimits::default(),
    );
    assert_eq!(first.leader_moves.len(), 4, "{first:?}");
    execute(&mut md, &first);
    assert!(leaders_of(&md).values().all(|n| *n == 2), "{md:?}");
    // Broker 1 now reports its two partitions; 2 and 3 have not sampled theirs yet.
    let kept: Vec<u32> = md.topics["t"]
        .assignments
        .iter()
        .filter(|a| a.leader == 1)
        .map(|a| a.partition)
        .collect();
    reports.record(1, load_of(&kept));
    reports.record(2, BrokerLoad::default());
    reports.record(3, BrokerLoad::default());
    let latest_only = plan(&md, &reports.current(window), PlanLimits::default());
    assert!(
        !latest_only.leader_moves.is_empty(),
        "the latest reports alone make moved partitions look idle: {latest_only:?}"
    );
    let next = plan_with_rates(
        &md,
        &reports.current(window),
        &reports.partition_rates(window),
        PlanLimits::default(),
    );
    assert!(next.leader_moves.is_empty(), "{next:?}");
}
