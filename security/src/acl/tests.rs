//! Evaluation order, pattern types, implied describe, conditions, and the cache's
//! exactness under concurrent rule changes.

use std::sync::Arc;

use jiff::Timestamp;
use proptest::prelude::*;

use super::*;

fn rule(principal: &str, resource: &str, ops: &[Operation], effect: Effect) -> AclRule {
    AclRule {
        principal: principal.into(),
        resource: resource.parse().unwrap(),
        operations: ops.to_vec(),
        effect,
        conditions: Conditions::default(),
        source: None,
    }
}

fn req(principal: &str, op: Operation, t: ResourceType, name: &str) -> Request {
    Request {
        principal: principal.into(),
        host: Some("10.0.0.7".parse().unwrap()),
        operation: op,
        resource_type: t,
        resource: name.into(),
    }
}

fn now() -> Timestamp {
    "2026-12-02T12:00:00Z".parse().unwrap()
}

use Operation::*;
use ResourceType::*;

#[test]
fn nothing_is_allowed_without_a_rule() {
    let set = AclSet::new(1, vec![], Vec::<String>::new(), false);
    let d = set.evaluate(&req("alice", Read, Topic, "orders"), now()).0;
    assert!(!d.allowed);
    assert_eq!(d.reason, Reason::NoMatchingAllow);
}

#[test]
fn the_no_acl_switch_allows_only_resources_no_rule_names() {
    let set = AclSet::new(
        1,
        vec![rule("bob", "topic.orders", &[Read], Effect::Allow)],
        Vec::<String>::new(),
        true,
    );
    let open = set.evaluate(&req("alice", Read, Topic, "logs"), now()).0;
    assert_eq!(
        (open.allowed, open.reason),
        (true, Reason::NoAclForResource)
    );
    // orders has a rule (for bob): alice is refused there.
    assert!(
        !set.evaluate(&req("alice", Read, Topic, "orders"), now())
            .0
            .allowed
    );
}

#[test]
fn deny_beats_allow_across_literal_and_prefixed_patterns() {
    let set = AclSet::new(
        7,
        vec![
            rule("alice", "topic.orders.*", &[Read, Write], Effect::Allow),
            rule("alice", "topic.orders.secret", &[Read], Effect::Deny),
            rule("*", "topic.*", &[Describe], Effect::Allow),
            rule("mallory", "topic.orders.*", &[All], Effect::Deny),
            rule("mallory", "topic.orders.eu", &[Write], Effect::Allow),
        ],
        Vec::<String>::new(),
        false,
    );
    let d = |p, op, name| set.evaluate(&req(p, op, Topic, name), now()).0;
    assert!(d("alice", Read, "orders.eu").allowed);
    assert_eq!(
        d("alice", Read, "orders.secret").reason,
        Reason::DeniedByRule { rule: 1 }
    );
    // The deny names read only: write stays allowed.
    assert!(d("alice", Write, "orders.secret").allowed);
    // A prefixed deny beats a literal allow.
    assert_eq!(
        d("mallory", Write, "orders.eu").reason,
        Reason::DeniedByRule { rule: 3 }
    );
    assert_eq!(d("alice", Read, "orders.eu").acl_version, 7);
    // Wildcard principal and literal `*` resource.
    assert!(d("anyone", Describe, "logs").allowed);
    assert!(!d("anyone", Read, "logs").allowed);
    // Other resource types are not topics.
    assert!(
        !set.evaluate(&req("alice", Read, Group, "orders.eu"), now())
            .0
            .allowed
    );
}

#[test]
fn read_write_delete_and_alter_imply_describe_only_when_allowed() {
    let set = AclSet::new(
        1,
        vec![
            rule("alice", "topic.t", &[Write], Effect::Allow),
            rule("bob", "topic.t", &[Describe], Effect::Allow),
            rule("bob", "topic.t", &[Read], Effect::Deny),
        ],
        Vec::<String>::new(),
        false,
    );
    assert!(
        set.evaluate(&req("alice", Describe, Topic, "t"), now())
            .0
            .allowed
    );
    // A deny of read does not deny describe.
    assert!(
        set.evaluate(&req("bob", Describe, Topic, "t"), now())
            .0
            .allowed
    );
    // Who administers the cluster may describe it (the admin API's reads).
    let admin = AclSet::new(
        1,
        vec![rule("ops", "cluster", &[ClusterAdmin], Effect::Allow)],
        Vec::<String>::new(),
        false,
    );
    assert!(
        admin
            .evaluate(&req("ops", Describe, Cluster, "cluster"), now())
            .0
            .allowed
    );
}

#[test]
fn super_users_pass_every_check() {
    let set = AclSet::new(
        1,
        vec![rule("root", "cluster", &[All], Effect::Deny)],
        ["root".to_string()],
        false,
    );
    let d = set
        .evaluate(&req("root", ClusterAdmin, Cluster, "cluster"), now())
        .0;
    assert_eq!((d.allowed, d.reason), (true, Reason::SuperUser));
}

#[test]
fn host_ranges_and_time_windows_limit_a_rule() {
    let mut r = rule("alice", "topic.t", &[Read], Effect::Allow);
    r.conditions.hosts = vec!["10.0.0.0/24".parse().unwrap()];
    r.conditions.window = Some("Mon-Fri 09:00-17:00 UTC".parse().unwrap());
    let set = AclSet::new(1, vec![r], Vec::<String>::new(), false);
    let mut q = req("alice", Read, Topic, "t");
    let wednesday_noon = now();
    let (d, cacheable) = set.evaluate(&q, wednesday_noon);
    assert!(d.allowed);
    assert!(!cacheable, "a windowed decision is not cached");
    let saturday: Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
    assert!(!set.evaluate(&q, saturday).0.allowed);
    q.host = Some("192.168.1.1".parse().unwrap());
    assert!(!set.evaluate(&q, wednesday_noon).0.allowed);
    q.host = None;
    assert!(!set.evaluate(&q, wednesday_noon).0.allowed, "unknown host");
}

#[test]
fn the_cache_never_serves_a_decision_of_an_older_version() {
    let auth = Authorizer::new(
        AclSet::new(
            1,
            vec![rule("alice", "topic.t", &[Read], Effect::Allow)],
            Vec::<String>::new(),
            false,
        ),
        1000,
    );
    let q = req("alice", Read, Topic, "t");
    assert!(auth.authorize_at(&q, now()).allowed);
    assert!(auth.authorize_at(&q, now()).allowed, "from the cache");
    auth.replace(AclSet::new(2, vec![], Vec::<String>::new(), false));
    let d = auth.authorize_at(&q, now());
    assert_eq!((d.allowed, d.acl_version), (false, 2));
}

#[test]
fn warmed_decisions_equal_computed_ones_and_never_outlive_a_change() {
    let rules = vec![
        rule("alice", "topic.t", &[Read], Effect::Allow),
        rule("alice", "topic.secret", &[Read], Effect::Deny),
    ];
    let auth = Authorizer::new(
        AclSet::new(1, rules.clone(), Vec::<String>::new(), false),
        1000,
    );
    let asked: Vec<Request> = ["t", "secret", "other"]
        .into_iter()
        .flat_map(|t| [Read, Write, Describe].map(|op| req("alice", op, Topic, t)))
        .collect();
    assert_eq!(auth.warm(asked.clone()), 9);
    // Warmed twice: found there.
    assert_eq!(auth.warm(asked.clone()), 9);
    let plain = AclSet::new(1, rules, Vec::<String>::new(), false);
    for q in &asked {
        assert_eq!(
            auth.authorize(q).allowed,
            plain.evaluate(q, now()).0.allowed,
            "{q:?}"
        );
    }
    // Warmed under version 1, asked under version 2: computed again.
    auth.warm(asked.clone());
    auth.replace(AclSet::new(2, vec![], Vec::<String>::new(), false));
    assert!(!auth.authorize(&req("alice", Read, Topic, "t")).allowed);
}

#[test]
fn authorizers_on_one_thread_never_answer_from_each_others_entries() {
    // Same version, same request, opposite rules: only the per-thread table could mix them.
    let q = req("alice", Read, Topic, "t");
    let allows = Authorizer::new(
        AclSet::new(
            1,
            vec![rule("alice", "topic.t", &[Read], Effect::Allow)],
            Vec::<String>::new(),
            false,
        ),
        1000,
    );
    let denies = Authorizer::new(AclSet::new(1, vec![], Vec::<String>::new(), false), 1000);
    for _ in 0..3 {
        assert!(allows.authorize_at(&q, now()).allowed);
        assert!(!denies.authorize_at(&q, now()).allowed);
    }
    // A decision cached on another thread is served here from the shared cache, equal.
    let there = std::thread::scope(|s| s.spawn(|| allows.authorize_at(&q, now())).join().unwrap());
    assert_eq!(there, allows.authorize_at(&q, now()));
}

#[test]
fn resource_strings_parse_as_the_seed_writes_them() {
    for (text, t, p, name) in [
        ("topic.users.*", Topic, PatternType::Prefixed, "users."),
        (
            "topic.users.data",
            Topic,
            PatternType::Literal,
            "users.data",
        ),
        ("topic.*", Topic, PatternType::Literal, "*"),
        ("group.billing-*", Group, PatternType::Prefixed, "billing-"),
        ("cluster", Cluster, PatternType::Literal, "cluster"),
    ] {
        let r: ResourcePattern = text.parse().unwrap();
        assert_eq!(
            (r.resource_type, r.pattern_type, r.name.as_str()),
            (t, p, name)
        );
        assert_eq!(r.to_string(), text);
    }
    for bad in ["topic", "queue.x", "topic.a*b", "cluster.x"] {
        assert!(bad.parse::<ResourcePattern>().is_err(), "{bad}");
    }
}

fn arb_rule() -> impl Strategy<Value = AclRule> {
    (
        prop::sample::select(vec!["alice", "bob", "*"]),
        prop::sample::select(vec![
            "topic.a", "topic.ab", "topic.a*", "topic.*", "group.a", "group.*",
        ]),
        prop::sample::subsequence(vec![Read, Write, Describe, All], 1..3),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(p, r, ops, allow, net)| {
            let mut rule = rule(p, r, &ops, if allow { Effect::Allow } else { Effect::Deny });
            if net {
                rule.conditions.hosts = vec!["10.0.0.0/8".parse().unwrap()];
            }
            rule
        })
}

fn arb_request() -> impl Strategy<Value = Request> {
    (
        prop::sample::select(vec!["alice", "bob", "carol"]),
        prop::sample::select(vec![Read, Write, Describe]),
        prop::sample::select(vec![
            (Topic, "a"),
            (Topic, "ab"),
            (Topic, "b"),
            (Group, "a"),
        ]),
        prop::bool::ANY,
    )
        .prop_map(|(p, op, (t, n), inside)| {
            let mut r = req(p, op, t, n);
            if !inside {
                r.host = Some("192.168.0.1".parse().unwrap());
            }
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Under random rule sets swapped in while two threads keep asking, every answer equals
    /// an evaluation without the cache against the version it reports.
    #[test]
    fn cached_decisions_equal_uncached_ones_under_concurrent_changes(
        versions in prop::collection::vec(prop::collection::vec(arb_rule(), 0..8), 1..12),
        requests in prop::collection::vec(arb_request(), 1..24),
    ) {
        let sets: Vec<Arc<AclSet>> = versions
            .iter()
            .enumerate()
            .map(|(v, rules)| Arc::new(AclSet::new(v as u64, rules.clone(), Vec::<String>::new(), false)))
            .collect();
        let auth = Authorizer::new(AclSet::new(0, versions[0].clone(), Vec::<String>::new(), false), 10_000);
        let answers = std::thread::scope(|s| {
            let askers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        for _ in 0..20 {
                            for q in &requests {
                                out.push((q.clone(), auth.authorize_at(q, now())));
                            }
                        }
                        out
                    })
                })
                .collect();
            for (v, rules) in versions.iter().enumerate().skip(1) {
                auth.replace(AclSet::new(v as u64, rules.clone(), Vec::<String>::new(), false));
                std::thread::yield_now();
            }
            askers.into_iter().flat_map(|a| a.join().unwrap()).collect::<Vec<_>>()
        });
        for (q, d) in answers {
            let fresh = sets[d.acl_version as usize].evaluate(&q, now()).0;
            prop_assert_eq!(d, fresh);
        }
    }

    /// Replacing a principal's allow rules by an equivalent new batch never shows a denial.
    #[test]
    fn an_atomic_replace_never_shows_a_denial(extra in prop::collection::vec(arb_rule(), 0..6)) {
        let grant = rule("alice", "topic.a", &[Read], Effect::Allow);
        let extra: Vec<AclRule> = extra.into_iter().filter(|r| r.effect == Effect::Allow).collect();
        let auth = Authorizer::new(AclSet::new(0, vec![grant.clone()], Vec::<String>::new(), false), 1000);
        let q = req("alice", Read, Topic, "a");
        let denied = std::thread::scope(|s| {
            let asker = s.spawn(|| (0..2000).filter(|_| !auth.authorize_at(&q, now()).allowed).count());
            for v in 1..50u64 {
                let mut rules = extra.clone();
                rules.insert((v as usize) % (rules.len() + 1), grant.clone());
                auth.replace(AclSet::new(v, rules, Vec::<String>::new(), false));
            }
            asker.join().unwrap()
        });
        prop_assert_eq!(denied, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary text never panics the resource, time-window, operation or CIDR parsers: it
    /// parses, or the error names the kind of value.
    #[test]
    fn the_parsers_take_any_text(text in ".{0,40}", structured in "(topic|group|cluster|[a-z]{1,5})[.][a-z*.]{0,8}") {
        for t in [&text, &structured] {
            if let Err(e) = t.parse::<ResourcePattern>() {
                prop_assert_eq!(e.what, "resource");
            }
            if let Err(e) = t.parse::<TimeWindow>() {
                prop_assert_eq!(e.what, "time window");
            }
            if let Err(e) = t.parse::<Operation>() {
                prop_assert_eq!(e.what, "operation");
            }
            let json = serde_json::json!({"hosts": [t]});
            if let Err(e) = serde_json::from_value::<Conditions>(json) {
                prop_assert!(e.to_string().contains("host"), "{}", e);
            }
        }
    }

    /// Near-valid windows (digits and day names shuffled) never panic either.
    #[test]
    fn near_valid_time_windows_never_panic(
        days in "(Mon|Tue|Sun|\\*|[A-Z][a-z]{2})(-(Fri|Sat|[a-z]{3}))?",
        h1 in 0u8..30, m1 in 0u8..70, h2 in 0u8..30, m2 in 0u8..70,
        zone in "(UTC|Europe/Berlin|Asia/Tokyo|[A-Za-z/_]{1,12})",
    ) {
        let text = format!("{days} {h1:02}:{m1:02}-{h2:02}:{m2:02} {zone}");
        if let Ok(w) = text.parse::<TimeWindow>() {
            let _ = w.contains(now());
        }
    }
}
