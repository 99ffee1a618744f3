//! Scaling brokers. Out: new brokers start `scaling.max_concurrent_additions` at a time,
//! then a rebalance moves partitions onto them (only the unuploaded tail of a moved replica
//! is copied; the rest is in object storage). In: the highest ordinals are drained through
//! the admin API (`scaling.max_concurrent_decommissions` at a time) and the StatefulSet
//! shrinks only once the highest holds no replica; asking for more brokers again cancels
//! the drain; a scale-in below a topic's replication factor is refused.
//!
//! [`decide`] is a plain function of what the operator read; the cluster reconciler applies
//! its answer (the StatefulSet's replicas, drains) and reports it in the status.

use rustmq_controller::api::{BrokerSummary, TopicView, hosted_replicas};

/// What [`decide`] looks at.
#[derive(Debug, Clone, Default)]
pub struct ScaleInput {
    /// `spec.brokers.replicas`.
    pub desired: i32,
    /// The StatefulSet's replicas now (`None`: it does not exist yet).
    pub current: Option<i32>,
    /// Broker pods ready now.
    pub ready: i32,
    /// Registered brokers, from the admin API (`None`: the API did not answer).
    pub brokers: Option<Vec<BrokerSummary>>,
    /// Every topic, from the admin API.
    pub topics: Vec<TopicView>,
    /// `scaling.max_concurrent_additions`.
    pub max_additions: i32,
    /// `scaling.max_concurrent_decommissions`.
    pub max_decommissions: i32,
    /// Brokers the operator drained for a scale-in still under way.
    pub draining_for_scale_in: Vec<u32>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScaleDecision {
    /// The StatefulSet's replicas.
    pub replicas: i32,
    /// Brokers to start draining.
    pub drain: Vec<u32>,
    /// Brokers to stop draining (the scale-in was called off).
    pub undrain: Vec<u32>,
    /// `ScaleOut` or `ScaleIn` while one is under way, with what it does now.
    pub operation: Option<(&'static str, String)>,
    /// Brokers the scale-in is draining now.
    pub draining: Vec<u32>,
    /// Why the asked-for scale-in cannot happen.
    pub refused: Option<String>,
}

fn broker_id(b: &BrokerSummary) -> Option<u32> {
    b.id.strip_prefix("broker-")?.parse().ok()
}

/// Decides the StatefulSet's size and the drains.
///
/// ```
/// use rustmq_operator::cluster::scale::{decide, ScaleInput};
/// let d = decide(&ScaleInput { desired: 5, current: Some(3), ready: 3, max_additions: 1, max_decommissions: 1, ..Default::default() });
/// assert_eq!(d.replicas, 4); // one broker at a time
/// ```
pub fn decide(input: &ScaleInput) -> ScaleDecision {
    let desired = input.desired;
    let Some(current) = input.current else {
        return ScaleDecision {
            replicas: desired,
            ..Default::default()
        };
    };
    let mut d = ScaleDecision {
        replicas: current,
        ..Default::default()
    };
    // A scale-in called off (or overtaken): brokers that stay stop draining.
    d.undrain = input
        .draining_for_scale_in
        .iter()
        .copied()
        .filter(|id| (*id as i32) < desired)
        .collect();
    if desired > current {
        if input.ready >= current {
            d.replicas = desired.min(current + input.max_additions.max(1));
            d.operation = Some((
                "ScaleOut",
                format!(
                    "starting brokers {}..{} of {desired}",
                    current,
                    d.replicas - 1
                ),
            ));
        } else {
            d.operation = Some((
                "ScaleOut",
                format!(
                    "waiting for {} of {current} brokers to be ready before adding more",
                    current - input.ready
                ),
            ));
        }
        return d;
    }
    if desired == current {
        return d;
    }
    // Scale in.
    let max_rf = input
        .topics
        .iter()
        .map(|t| t.replication_factor)
        .max()
        .unwrap_or(0);
    if max_rf as i32 > desired {
        d.refused = Some(format!(
            "cannot scale in to {desired} brokers: a topic has replication factor {max_rf}, which needs {max_rf} brokers"
        ));
        return d;
    }
    let Some(brokers) = &input.brokers else {
        d.operation = Some((
            "ScaleIn",
            "waiting for the admin API to drain brokers".into(),
        ));
        return d;
    };
    let lowest = desired.max(current - input.max_decommissions.max(1));
    let victims: Vec<u32> = (lowest..current).rev().map(|o| o as u32).collect();
    for id in &victims {
        let draining = brokers
            .iter()
            .any(|b| broker_id(b) == Some(*id) && b.draining);
        if !draining {
            d.drain.push(*id);
        }
    }
    d.draining = victims.clone();
    let top = (current - 1) as u32;
    let held = hosted_replicas(&input.topics, top);
    let top_drained = !d.drain.contains(&top) && held == 0;
    if top_drained {
        d.replicas = current - 1;
        d.operation = Some((
            "ScaleIn",
            format!("broker {top} holds no replicas; removing its pod"),
        ));
    } else {
        d.operation = Some((
            "ScaleIn",
            format!("draining broker(s) {victims:?}: broker {top} still holds {held} replica(s)"),
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustmq_controller::api::PartitionView;
    use rustmq_controller::metadata::TopicConfig;

    fn broker(id: u32, draining: bool) -> BrokerSummary {
        BrokerSummary {
            id: format!("broker-{id}"),
            host: "h".into(),
            port_quic: 1,
            port_rpc: 2,
            rack_id: "r".into(),
            online: true,
            draining,
            metadata_observer: true,
        }
    }

    fn topic(rf: u32, replicas: &[&[u32]]) -> TopicView {
        TopicView {
            name: "t".into(),
            partitions: replicas.len() as u32,
            replication_factor: rf,
            config: TopicConfig::default(),
            created_at: String::new(),
            partition_assignments: replicas
                .iter()
                .enumerate()
                .map(|(i, r)| PartitionView {
                    partition: i as u32,
                    leader: format!("broker-{}", r[0]),
                    replicas: r.iter().map(|b| format!("broker-{b}")).collect(),
                    in_sync_replicas: r.iter().map(|b| format!("broker-{b}")).collect(),
                    leader_epoch: 0,
                    under_replicated: false,
                    target_replicas: None,
                })
                .collect(),
            under_replicated_partitions: 0,
        }
    }

    fn input(desired: i32, current: i32) -> ScaleInput {
        ScaleInput {
            desired,
            current: Some(current),
            ready: current,
            brokers: Some((0..current as u32).map(|i| broker(i, false)).collect()),
            max_additions: 3,
            max_decommissions: 1,
            ..Default::default()
        }
    }

    #[test]
    fn scale_out_adds_a_bounded_batch_once_the_others_are_ready() {
        let d = decide(&ScaleInput {
            max_additions: 1,
            ..input(5, 3)
        });
        assert_eq!(d.replicas, 4);
        let waiting = decide(&ScaleInput {
            ready: 3,
            ..input(5, 4)
        });
        assert_eq!(waiting.replicas, 4, "broker 3 is not ready yet");
        assert_eq!(decide(&input(5, 3)).replicas, 5);
    }

    #[test]
    fn scale_in_drains_the_highest_broker_and_shrinks_once_it_is_empty() {
        let mut i = input(3, 5);
        i.topics = vec![topic(3, &[&[0, 1, 4], &[1, 2, 3]])];
        let d = decide(&i);
        assert_eq!(d.drain, [4]);
        assert_eq!(d.replicas, 5);
        // Draining, replicas gone from 4: the StatefulSet shrinks.
        i.brokers = Some((0..5).map(|b| broker(b, b == 4)).collect());
        i.topics = vec![topic(3, &[&[0, 1, 2], &[1, 2, 3]])];
        let d = decide(&i);
        assert!(d.drain.is_empty());
        assert_eq!(d.replicas, 4);
        // Two at a time when allowed.
        i.max_decommissions = 2;
        let d = decide(&i);
        assert_eq!(d.drain, [3]);
    }

    #[test]
    fn scale_in_below_the_replication_factor_is_refused() {
        let mut i = input(2, 3);
        i.topics = vec![topic(3, &[&[0, 1, 2]])];
        let d = decide(&i);
        assert!(d.refused.unwrap().contains("replication factor 3"));
        assert_eq!(d.replicas, 3);
        assert!(d.drain.is_empty());
    }

    #[test]
    fn asking_for_more_brokers_again_cancels_the_drain() {
        let mut i = input(5, 5);
        i.draining_for_scale_in = vec![4];
        let d = decide(&i);
        assert_eq!(d.undrain, [4]);
        assert_eq!(d.replicas, 5);
    }
}

/// What [`decide_controllers`] looks at.
#[derive(Debug, Clone, Default)]
pub struct ControllerScaleInput {
    /// `spec.controllers.replicas`.
    pub desired: i32,
    /// The controller StatefulSet's replicas now (`None`: it does not exist yet).
    pub current: Option<i32>,
    /// Ordinals of controller pods that exist and are not terminating.
    pub running: Vec<i32>,
    /// Raft node ids of the members (voters and learners), from the admin API (`None`: it
    /// did not answer).
    pub members: Option<Vec<u64>>,
}

/// What to do about the controllers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControllerScaleDecision {
    /// The StatefulSet's replicas.
    pub replicas: i32,
    /// Add this pod ordinal's controller as a voter now.
    pub add: Option<i32>,
    /// Remove this pod ordinal's controller from the voters now.
    pub remove: Option<i32>,
    /// What the scaling does now, while it is under way.
    pub operation: Option<String>,
}

/// Controllers change one voter at a time: scaling out starts the next pod and, once it
/// runs, adds it to the voters (it catches up as a learner first); scaling in removes the
/// highest voter from the membership and then its pod. Pod ordinal `o` is Raft node `o + 1`.
///
/// ```
/// use rustmq_operator::cluster::scale::{decide_controllers, ControllerScaleInput};
/// let d = decide_controllers(&ControllerScaleInput {
///     desired: 5, current: Some(3), running: vec![0, 1, 2], members: Some(vec![1, 2, 3]),
/// });
/// assert_eq!(d.replicas, 4);
/// ```
pub fn decide_controllers(input: &ControllerScaleInput) -> ControllerScaleDecision {
    let desired = input.desired;
    let Some(current) = input.current else {
        return ControllerScaleDecision {
            replicas: desired,
            ..Default::default()
        };
    };
    let mut d = ControllerScaleDecision {
        replicas: current,
        ..Default::default()
    };
    if desired == current
        && input
            .members
            .as_ref()
            .is_none_or(|m| (0..current).all(|o| m.contains(&(o as u64 + 1))))
    {
        return d;
    }
    let Some(members) = &input.members else {
        d.operation = Some("waiting for the admin API to change the voters".into());
        return d;
    };
    let member = |o: i32| members.contains(&(o as u64 + 1));
    if desired >= current {
        // Every pod the StatefulSet has must be a voter before the next starts.
        if let Some(o) = (0..current).find(|o| !member(*o)) {
            if input.running.contains(&o) {
                d.add = Some(o);
                d.operation = Some(format!("adding controller-{} to the voters", o + 1));
            } else {
                d.operation = Some(format!("waiting for controller-{} to start", o + 1));
            }
            return d;
        }
        d.replicas = current + 1;
        d.operation = Some(format!("starting controller-{}", current + 1));
        return d;
    }
    let top = current - 1;
    if member(top) {
        d.remove = Some(top);
        d.operation = Some(format!("removing controller-{} from the voters", top + 1));
    } else {
        d.replicas = current - 1;
        d.operation = Some(format!(
            "controller-{} left the voters; removing its pod",
            top + 1
        ));
    }
    d
}

#[cfg(test)]
mod controller_tests {
    use super::*;

    fn input(desired: i32, current: i32, members: &[u64]) -> ControllerScaleInput {
        ControllerScaleInput {
            desired,
            current: Some(current),
            running: (0..current).collect(),
            members: Some(members.to_vec()),
        }
    }

    #[test]
    fn three_to_five_one_voter_at_a_time() {
        let d = decide_controllers(&input(5, 3, &[1, 2, 3]));
        assert_eq!((d.replicas, d.add), (4, None));
        // Pod 3 runs but is not a voter yet: add it before starting pod 4.
        let d = decide_controllers(&input(5, 4, &[1, 2, 3]));
        assert_eq!((d.replicas, d.add), (4, Some(3)));
        let mut waiting = input(5, 4, &[1, 2, 3]);
        waiting.running = vec![0, 1, 2];
        assert_eq!(decide_controllers(&waiting).add, None);
        let d = decide_controllers(&input(5, 4, &[1, 2, 3, 4]));
        assert_eq!(d.replicas, 5);
        let d = decide_controllers(&input(5, 5, &[1, 2, 3, 4]));
        assert_eq!(d.add, Some(4));
        let d = decide_controllers(&input(5, 5, &[1, 2, 3, 4, 5]));
        assert_eq!(
            d,
            ControllerScaleDecision {
                replicas: 5,
                ..Default::default()
            }
        );
    }

    #[test]
    fn five_to_three_removes_the_voter_before_the_pod() {
        let d = decide_controllers(&input(3, 5, &[1, 2, 3, 4, 5]));
        assert_eq!((d.replicas, d.remove), (5, Some(4)));
        let d = decide_controllers(&input(3, 5, &[1, 2, 3, 4]));
        assert_eq!((d.replicas, d.remove), (4, None));
        let d = decide_controllers(&input(3, 4, &[1, 2, 3, 4]));
        assert_eq!(d.remove, Some(3));
        let d = decide_controllers(&input(3, 4, &[1, 2, 3]));
        assert_eq!(d.replicas, 3);
    }
}
