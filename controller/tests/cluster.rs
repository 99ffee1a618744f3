//! Three `rustmq-controller` processes: failover after kill -9 of the leader, writes sent to
//! followers, and a full restart from disk.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_another_and_writes_resume() {
    let mut c = Cluster::start(3);
    let leader = c.leader(Duration::from_secs(30)).await;
    c.register_broker(1, "zone-a").await;
    // A write sent to a follower is forwarded to the leader.
    let follower = (leader + 1) % 3;
    let (status, body) = c.create_topic(follower, "before").await.unwrap();
    assert_eq!(status, 201, "{body}\n{}", c.logs());

    c.kill(leader);
    let killed = Instant::now();
    let mut attempts = 0;
    let elapsed = loop {
        attempts += 1;
        let i = if attempts % 2 == 0 {
            (leader + 1) % 3
        } else {
            (leader + 2) % 3
        };
        if let Ok((201, _)) = c.create_topic(i, "after").await {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no write accepted 30 s after the leader died\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let new_leader = c.leader(Duration::from_secs(10)).await;
    assert_ne!(new_leader, leader);
    println!("leader kill -9 -> next acknowledged topic create: {elapsed:?}");
    for i in [(leader + 1) % 3, (leader + 2) % 3] {
        let t = c.topics(i).await.unwrap();
        assert!(t.contains(&"before".into()), "{t:?}");
    }

    // The old leader restarts from its disk and rejoins as a follower with both topics.
    c.restart(leader);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(t) = c.topics(leader).await
            && t.contains(&"before".into())
            && t.contains(&"after".into())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "old leader did not catch up\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h = c.health(leader).await.unwrap();
    assert_eq!(h["is_leader"], false, "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_restarted_from_disk_keeps_its_metadata() {
    let mut c = Cluster::start(3);
    c.leader(Duration::from_secs(30)).await;
    c.register_broker(1, "zone-a").await;
    let names: Vec<String> = (0..10).map(|i| format!("topic-{i}")).collect();
    for (k, n) in names.iter().enumerate() {
        let (status, body) = c.create_topic(k % 3, n).await.unwrap();
        assert_eq!(status, 201, "{body}");
    }
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.restart(i);
    }
    c.leader(Duration::from_secs(30)).await;
    for i in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(t) = c.topics(i).await
                && names.iter().all(|n| t.contains(n))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {i} lost topics\n{}",
                c.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Internal RPC is mutual TLS: a caller whose certificate comes from another CA gets no
/// answer, and the controllers keep serving the cluster's own members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_rpc_refuses_a_certificate_from_another_ca() {
    use rustmq_controller::rpc::{Request, RpcClient, RpcError};
    let c = Cluster::start(3);
    let leader = c.leader(Duration::from_secs(30)).await;
    let other = tempfile::tempdir().unwrap();
    let foreign =
        rustmq_controller::tls::ensure_dev_certificates(&other.path().join("certs")).unwrap();
    // It trusts the cluster's CA, so only the controller's check of the client
    // certificate can stop it.
    let stranger = rustmq_controller::tls::InternalTls {
        ca_cert: c.tls.ca_cert.clone(),
        cert: foreign.server_cert,
        key: foreign.server_key,
    };
    let client = RpcClient::new(&stranger).unwrap();
    let r = client
        .call(
            &c.nodes[leader].raft.to_string(),
            &Request::Status,
            Duration::from_secs(3),
        )
        .await;
    assert!(
        matches!(
            r,
            Err(RpcError::Connection { .. }) | Err(RpcError::Timeout { .. })
        ),
        "{r:?}"
    );
    // The cluster's own certificate works on the same listener.
    c.register_broker(1, "zone-a").await;
    let (status, _) = c.create_topic(leader, "still-serving").await.unwrap();
    assert_eq!(status, 201);
}

/// The leader is cut off from the other two (fault proxy dropping its datagrams both ways):
/// the majority elects a new leader and keeps committing, the old leader cannot commit, and
/// after healing it follows the new leader with none of its uncommitted writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_cannot_commit_and_rejoins_without_divergence() {
    let c = Cluster::start_proxied(3);
    let old = c.leader(Duration::from_secs(30)).await;
    c.register_broker(1, "zone-a").await;
    assert_eq!(c.create_topic(old, "before").await.unwrap().0, 201);

    c.isolate(old);
    let others = [(old + 1) % 3, (old + 2) % 3];
    // The isolated leader still believes it leads, but nothing it accepts commits.
    let (status, body) = c.create_topic(old, "isolated-write").await.unwrap();
    assert_eq!(status, 503, "{body}");
    // Meanwhile the majority has a new leader that commits.
    let deadline = Instant::now() + Duration::from_secs(20);
    let new = loop {
        let mut found = None;
        for i in others {
            if c.says_it_leads(i).await == Some(true) {
                found = Some(i);
            }
        }
        if let Some(i) = found {
            break i;
        }
        assert!(
            Instant::now() < deadline,
            "majority elected no leader\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(c.create_topic(new, "majority-write").await.unwrap().0, 201);

    c.heal(old);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = c.topics(old).await.unwrap_or_default();
        if t.contains(&"majority-write".into()) && c.says_it_leads(old).await == Some(false) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "old leader did not rejoin\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 0..3 {
        let t = c.topics(i).await.unwrap();
        assert!(
            !t.contains(&"isolated-write".into()),
            "node {i} has a write no majority committed: {t:?}"
        );
        assert!(
            t.contains(&"before".into()) && t.contains(&"majority-write".into()),
            "{t:?}"
        );
    }
}
