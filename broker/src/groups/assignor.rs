//! Partition assignors, run by the coordinator: `range`, `roundrobin` and
//! `cooperative-sticky`. Plain functions of the members' subscriptions and the topics'
//! partition counts, so every case is a unit test.

use std::collections::{BTreeMap, BTreeSet};

/// `(topic, partition)`.
pub type TopicPartition = (String, u32);

/// Which assignor a group uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    /// Per topic, contiguous ranges of partitions to members in id order.
    Range,
    /// All partitions dealt to members in turn.
    RoundRobin,
    /// Balanced, keeping each member's current partitions where possible; partitions that
    /// move are first revoked, then assigned in a follow-up rebalance.
    CooperativeSticky,
}

impl Assignor {
    /// Parses the name a member sends at join time.
    ///
    /// ```
    /// use rustmq_broker::groups::assignor::Assignor;
    /// assert_eq!(Assignor::parse("cooperative-sticky"), Some(Assignor::CooperativeSticky));
    /// assert_eq!(Assignor::parse("sticky-ish"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "range" => Some(Self::Range),
            "roundrobin" | "round-robin" => Some(Self::RoundRobin),
            "cooperative-sticky" | "" => Some(Self::CooperativeSticky),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Range => "range",
            Self::RoundRobin => "roundrobin",
            Self::CooperativeSticky => "cooperative-sticky",
        }
    }
}

/// A member as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Member id.
    pub member: String,
    /// Subscribed topics.
    pub topics: BTreeSet<String>,
    /// Partitions it owns now.
    pub owned: BTreeSet<TopicPartition>,
}

/// The result: what each member gets now, and whether partitions are waiting to be revoked
/// (cooperative-sticky only) so another rebalance must follow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// Member -> partitions.
    pub members: BTreeMap<String, BTreeSet<TopicPartition>>,
    /// Partitions withheld this round because their previous owner must release them first.
    pub pending_revocation: BTreeSet<TopicPartition>,
}

/// Assigns `partitions` (topic -> partition count) to `members`.
pub fn assign(
    assignor: Assignor,
    members: &[Subscription],
    partitions: &BTreeMap<String, u32>,
) -> Assignment {
    let mut members: Vec<&Subscription> = members.iter().collect();
    members.sort_by(|a, b| a.member.cmp(&b.member));
    let mut out = Assignment::default();
    for m in &members {
        out.members.insert(m.member.clone(), BTreeSet::new());
    }
    match assignor {
        Assignor::Range => {
            for (topic, &count) in partitions {
                let subs: Vec<&&Subscription> = members
                    .iter()
                    .filter(|m| m.topics.contains(topic))
                    .collect();
                if subs.is_empty() {
                    continue;
                }
                let n = subs.len() as u32;
                let (per, extra) = (count / n, count % n);
                let mut next = 0;
                for (i, m) in subs.iter().enumerate() {
                    let take = per + u32::from((i as u32) < extra);
                    let set = out.members.entry(m.member.clone()).or_default();
                    for p in next..next + take {
                        set.insert((topic.clone(), p));
                    }
                    next += take;
                }
            }
        }
        Assignor::RoundRobin => {
            let mut turn = 0usize;
            for (topic, &count) in partitions {
                for p in 0..count {
                    // The next member in turn that subscribes to this topic.
                    for step in 0..members.len() {
                        let m = members[(turn + step) % members.len()];
                        if m.topics.contains(topic) {
                            out.members
                                .entry(m.member.clone())
                                .or_default()
                                .insert((topic.clone(), p));
                            turn = (turn + step + 1) % members.len();
                            break;
                        }
                    }
                }
            }
        }
        Assignor::CooperativeSticky => {
            let target = sticky_target(&members, partitions);
            // A partition another member still owns is withheld until that member has
            // released it (it is absent from that member's new assignment).
            for (member, set) in target {
                let mine = out.members.entry(member.clone()).or_default();
                for tp in set {
                    let owned_elsewhere = members
                        .iter()
                        .any(|m| m.member != member && m.owned.contains(&tp));
                    if owned_elsewhere {
                        out.pending_revocation.insert(tp);
                    } else {
                        mine.insert(tp);
                    }
                }
            }
        }
    }
    out
}

/// The balanced target of cooperative-sticky: keep owned partitions up to each member's fair
/// share, deal the rest to the least-loaded subscribers, then even out.
fn sticky_target(
    members: &[&Subscription],
    partitions: &BTreeMap<String, u32>,
) -> BTreeMap<String, BTreeSet<TopicPartition>> {
    let mut all: BTreeSet<TopicPartition> = BTreeSet::new();
    for (t, &c) in partitions {
        if members.iter().any(|m| m.topics.contains(t)) {
            all.extend((0..c).map(|p| (t.clone(), p)));
        }
    }
    let mut result: BTreeMap<String, BTreeSet<TopicPartition>> = members
        .iter()
        .map(|m| (m.member.clone(), BTreeSet::new()))
        .collect();
    if members.is_empty() {
        return result;
    }
    let max_share = all.len().div_ceil(members.len());
    let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
    for m in members {
        let keep: Vec<TopicPartition> = m
            .owned
            .iter()
            .filter(|tp| all.contains(*tp) && m.topics.contains(&tp.0) && !taken.contains(*tp))
            .take(max_share)
            .cloned()
            .collect();
        for tp in keep {
            taken.insert(tp.clone());
            result.entry(m.member.clone()).or_default().insert(tp);
        }
    }
    for tp in all.iter().filter(|tp| !taken.contains(*tp)) {
        if let Some(m) = members
            .iter()
            .filter(|m| m.topics.contains(&tp.0))
            .min_by_key(|m| (result[&m.member].len(), m.member.clone()))
        {
            result
                .entry(m.member.clone())
                .or_default()
                .insert(tp.clone());
        }
    }
    // Even out: move one partition at a time from the fullest to the emptiest member that can
    // take it, until no move narrows the spread.
    while let Some((max_m, max_n)) = result
        .iter()
        .max_by_key(|(m, s)| (s.len(), (*m).clone()))
        .map(|(m, s)| (m.clone(), s.len()))
    {
        let candidate = members
            .iter()
            .filter(|m| m.member != max_m && result[&m.member].len() + 1 < max_n)
            .min_by_key(|m| (result[&m.member].len(), m.member.clone()))
            .and_then(|m| {
                result[&max_m]
                    .iter()
                    .rev()
                    .find(|tp| m.topics.contains(&tp.0))
                    .map(|tp| (m.member.clone(), tp.clone()))
            });
        let Some((to, tp)) = candidate else { break };
        if let Some(s) = result.get_mut(&max_m) {
            s.remove(&tp);
        }
        result.entry(to).or_default().insert(tp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(member: &str, topics: &[&str], owned: &[(&str, u32)]) -> Subscription {
        Subscription {
            member: member.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            owned: owned.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
        }
    }

    fn parts(spec: &[(&str, u32)]) -> BTreeMap<String, u32> {
        spec.iter().map(|(t, c)| (t.to_string(), *c)).collect()
    }

    fn check_exclusive_and_complete(a: &Assignment, total: usize) {
        let mut seen = BTreeSet::new();
        for s in a.members.values() {
            for tp in s {
                assert!(seen.insert(tp.clone()), "{tp:?} assigned twice");
            }
        }
        assert_eq!(seen.len() + a.pending_revocation.len(), total);
    }

    #[test]
    fn range_gives_contiguous_ranges() {
        let m = [sub("a", &["t"], &[]), sub("b", &["t"], &[])];
        let a = assign(Assignor::Range, &m, &parts(&[("t", 5)]));
        let got: Vec<u32> = a.members["a"].iter().map(|x| x.1).collect();
        assert_eq!(got, vec![0, 1, 2]);
        check_exclusive_and_complete(&a, 5);
    }

    #[test]
    fn roundrobin_deals_in_turn_and_respects_subscriptions() {
        let m = [sub("a", &["t", "u"], &[]), sub("b", &["t"], &[])];
        let a = assign(Assignor::RoundRobin, &m, &parts(&[("t", 4), ("u", 2)]));
        assert_eq!(a.members["b"].len(), 2);
        assert!(a.members["b"].iter().all(|tp| tp.0 == "t"));
        check_exclusive_and_complete(&a, 6);
    }

    #[test]
    fn sticky_keeps_partitions_and_moves_only_what_it_must() {
        let p = parts(&[("t", 6)]);
        let three = [
            sub("a", &["t"], &[]),
            sub("b", &["t"], &[]),
            sub("c", &["t"], &[]),
        ];
        let first = assign(Assignor::CooperativeSticky, &three, &p);
        assert!(first.pending_revocation.is_empty());
        assert!(first.members.values().all(|s| s.len() == 2));
        check_exclusive_and_complete(&first, 6);

        // A fourth member joins: two partitions must move, everything else stays.
        let owned = |m: &str| {
            first.members[m]
                .iter()
                .map(|(t, p)| (t.as_str(), *p))
                .collect::<Vec<_>>()
        };
        let four = [
            sub("a", &["t"], &owned("a")),
            sub("b", &["t"], &owned("b")),
            sub("c", &["t"], &owned("c")),
            sub("d", &["t"], &[]),
        ];
        let second = assign(Assignor::CooperativeSticky, &four, &p);
        assert_eq!(second.pending_revocation.len(), 1, "{second:?}");
        assert!(second.members["d"].is_empty(), "d waits for revocation");
        let kept: usize = ["a", "b", "c"]
            .iter()
            .map(|m| second.members[*m].intersection(&first.members[*m]).count())
            .sum();
        assert_eq!(kept, 5, "only one partition leaves its owner");

        // Follow-up round: the revoked partition is free and goes to d.
        let owned2 = |m: &str| {
            second.members[m]
                .iter()
                .map(|(t, p)| (t.as_str(), *p))
                .collect::<Vec<_>>()
        };
        let four = [
            sub("a", &["t"], &owned2("a")),
            sub("b", &["t"], &owned2("b")),
            sub("c", &["t"], &owned2("c")),
            sub("d", &["t"], &[]),
        ];
        let third = assign(Assignor::CooperativeSticky, &four, &p);
        assert!(third.pending_revocation.is_empty());
        assert_eq!(third.members["d"].len(), 1);
        check_exclusive_and_complete(&third, 6);
        let sizes: Vec<usize> = third.members.values().map(|s| s.len()).collect();
        assert_eq!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap(), 1);
    }

    #[test]
    fn sticky_reassigns_a_departed_members_partitions_at_once() {
        let p = parts(&[("t", 6)]);
        let two = [
            sub("a", &["t"], &[("t", 0), ("t", 1)]),
            sub("b", &["t"], &[("t", 2), ("t", 3)]),
        ];
        let a = assign(Assignor::CooperativeSticky, &two, &p);
        assert!(a.pending_revocation.is_empty());
        assert_eq!(a.members["a"].len() + a.members["b"].len(), 6);
        assert!(a.members["a"].contains(&("t".into(), 0)));
        assert!(a.members["b"].contains(&("t".into(), 3)));
    }
}
