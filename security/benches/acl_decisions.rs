//! ACL decision latency (`cargo bench -p rustmq-security --bench acl_decisions`): cached
//! decisions on one thread, and uncached evaluations against 10k and 100k rules (a mix of
//! literal and prefixed topic and group rules over 1000 principals).

use std::time::Instant;

use hdrhistogram::Histogram;
use rustmq_security::acl::{
    AclRule, AclSet, Authorizer, Conditions, Effect, Operation, PatternType, Request,
    ResourcePattern, ResourceType,
};

fn rules(n: usize) -> Vec<AclRule> {
    (0..n)
        .map(|i| AclRule {
            principal: format!("app-{}", i % 1000),
            resource: ResourcePattern {
                resource_type: if i % 5 == 0 {
                    ResourceType::Group
                } else {
                    ResourceType::Topic
                },
                pattern_type: if i % 3 == 0 {
                    PatternType::Prefixed
                } else {
                    PatternType::Literal
                },
                name: format!("team-{}.stream-{}", i % 97, i),
            },
            operations: vec![Operation::Read, Operation::Write],
            effect: if i % 11 == 0 {
                Effect::Deny
            } else {
                Effect::Allow
            },
            conditions: Conditions::default(),
            source: None,
        })
        .collect()
}

fn request(i: usize) -> Request {
    Request {
        principal: format!("app-{}", i % 1000),
        host: Some("10.1.2.3".parse().expect("literal address")),
        operation: Operation::Write,
        resource_type: ResourceType::Topic,
        resource: format!("team-{}.stream-{}", i % 97, i),
    }
}

fn main() {
    let now = jiff::Timestamp::now();
    // Cached: one request, asked again and again.
    let auth = Authorizer::new(
        AclSet::new(1, rules(10_000), Vec::<String>::new(), false),
        100_000,
    );
    let q = request(7);
    auth.authorize_at(&q, now);
    let mut batches = Histogram::<u64>::new(3).expect("histogram");
    let total = 10_000_000u64;
    let started = Instant::now();
    let mut allowed = 0u64;
    for _ in 0..total / 1000 {
        let t = Instant::now();
        for _ in 0..1000 {
            allowed += u64::from(auth.authorize_at(std::hint::black_box(&q), now).allowed);
        }
        batches
            .record(t.elapsed().as_nanos() as u64)
            .expect("record");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "cached decision: p50 {} ns, p99 {} ns (per decision, batches of 1000); {:.1} M decisions/s on one thread ({allowed} allowed)",
        batches.value_at_quantile(0.5) / 1000,
        batches.value_at_quantile(0.99) / 1000,
        total as f64 / secs / 1e6
    );
    // Cached, but 10,000 distinct requests in turn: most miss the per-thread table and are
    // answered by the shared (moka) cache.
    let many: Vec<Request> = (0..10_000).map(request).collect();
    for q in &many {
        auth.authorize_at(q, now);
    }
    let rounds = 200u64;
    let mut allowed_many = 0u64;
    let started = Instant::now();
    for _ in 0..rounds {
        for q in &many {
            allowed_many += u64::from(auth.authorize_at(std::hint::black_box(q), now).allowed);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let n = rounds * many.len() as u64;
    println!(
        "cached decision, 10,000 requests in turn (shared cache): {:.0} ns mean; {:.1} M decisions/s on one thread ({allowed_many} allowed)",
        secs * 1e9 / n as f64,
        n as f64 / secs / 1e6
    );
    // Uncached: evaluate against the rules directly.
    for n in [10_000, 100_000] {
        let set = AclSet::new(1, rules(n), Vec::<String>::new(), false);
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        for i in 0..200_000 {
            let q = request(i % n);
            let t = Instant::now();
            std::hint::black_box(set.evaluate(&q, now));
            h.record(t.elapsed().as_nanos() as u64).expect("record");
        }
        println!(
            "uncached decision with {n} rules: p50 {} ns, p99 {} ns",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99)
        );
    }
}
