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

/// A restarted follower knows the leader from its saved vote at once; it reports itself
/// healthy (ready, so the operator's roll may restart the next controller) only once a
/// leader has reached it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_is_ready_only_once_a_leader_reached_it() {
    let mut c = Cluster::start(3);
    let leader = c.leader(Duration::from_secs(30)).await;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    // Every node has taken the leader's entries: all healthy.
    for i in 0..3 {
        c.health_until(i, Duration::from_secs(20), |h| h["status"] == "ok")
            .await;
    }
    for i in 0..3 {
        c.kill(i);
    }
    c.restart(follower);
    let h = c
        .health_until(follower, Duration::from_secs(20), |_| true)
        .await;
    assert_eq!(h["status"], "degraded", "{h}");
    let detail = h["components"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("no raft leader") || detail.contains("has not reached this node"),
        "{h}"
    );
    // Once a quorum is back, a leader reaches it and it is ready again.
    c.restart(other);
    c.health_until(follower, Duration::from_secs(30), |h| h["status"] == "ok")
        .await;
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
    // The first leader named the cluster; the id is in Raft, so every node reports it.
    let id = cluster_id(&c, 0).await;
    assert_eq!(id.len(), 32, "{id:?}");
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
                assert_eq!(cluster_id(&c, i).await, id, "the id never changes");
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

/// Node `i`'s answer for the cluster id, once it has one.
async fn cluster_id(c: &Cluster, i: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = c.get_json(i, "/api/v1/cluster").await;
        let id = body["data"]["cluster_id"].as_str().unwrap_or_default();
        if !id.is_empty() {
            return id.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no cluster id: {body}\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
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
        rustmq_transport::tls::ensure_dev_certificates(&other.path().join("certs")).unwrap();
    // It trusts the cluster's CA, so only the controller's check of the client
    // certificate can stop it.
    let stranger = rustmq_transport::tls::InternalTls {
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

/// Two controllers join and one leaves while topics are created without pause; every topic
/// whose creation was acknowledged exists on every remaining controller at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_and_removing_controllers_under_load_loses_no_acknowledged_write() {
    let mut c = Cluster::start(3);
    c.leader(Duration::from_secs(30)).await;
    c.register_broker(1, "zone-a").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let urls: Vec<String> = (0..5)
        .map(|i| {
            if i < 3 {
                c.url(i, "/api/v1/topics")
            } else {
                String::new()
            }
        })
        .collect();
    let load = {
        let (stop, acked, http) = (stop.clone(), acked.clone(), c.http.clone());
        let urls: Vec<String> = urls.into_iter().filter(|u| !u.is_empty()).collect();
        tokio::spawn(async move {
            let mut k = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("load-{k}");
                // Spread over controllers 2 and 3, which stay members; 1 is removed later.
                let url = &urls[1 + k % 2];
                let r = http
                    .post(url)
                    .json(&serde_json::json!({"name": name, "partitions": 1, "replication_factor": 1}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 201 => {
                        acked.lock().push(name);
                        k += 1;
                    }
                    // Refused (503 during a change) or 409 after a retry that had committed.
                    Ok(r) if r.status().as_u16() == 409 => {
                        acked.lock().push(name);
                        k += 1;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        })
    };
    // Writes flow before, during and after every change.
    while acked.lock().len() < 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..2 {
        let i = c.add_node();
        let id = c.nodes[i].id;
        let add = serde_json::json!({"id": format!("controller-{id}"), "address": c.nodes[i].raft.to_string()});
        let (status, body) = c.post_json(1, "/api/v1/controllers", add).await;
        assert_eq!(status, 200, "{body}\n{}", c.logs());
    }
    let (_, listed) = c.get_json(0, "/api/v1/controllers").await;
    let voters = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["role"] != "learner")
        .count();
    assert_eq!(voters, 5, "{listed}");

    // Remove controller-1 (whatever its role) through another controller, then stop it.
    let r = c
        .http
        .delete(c.url(2, "/api/v1/controllers/controller-1"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}\n{}", c.logs());
    c.kill(0);
    let before = acked.lock().len();
    // Keep writing for a while on the four-voter cluster.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().len() < before + 10 {
        assert!(
            Instant::now() < deadline,
            "no writes after removing controller-1\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.unwrap();
    let acked = acked.lock().clone();
    for i in 1..5 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let t = c.topics(i).await.unwrap_or_default();
            let missing: Vec<&String> = acked.iter().filter(|n| !t.contains(n)).collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "controller-{} lacks acknowledged topics {missing:?}\n{}",
                i + 1,
                c.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (_, listed) = c.get_json(3, "/api/v1/controllers").await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "controller-2",
            "controller-3",
            "controller-4",
            "controller-5"
        ],
        "{listed}"
    );
    println!(
        "{} topics acknowledged across the membership changes",
        acked.len()
    );
}

/// A follower down while the log moves past a snapshot (and is purged) catches up through
/// install-snapshot, then through the log after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_follower_catches_up_through_a_snapshot() {
    let mut c = Cluster::start_with_env(
        3,
        &[
            ("RUSTMQ_RAFT__SNAPSHOT_AFTER_LOGS", "20"),
            ("RUSTMQ_RAFT__LOGS_KEPT_AFTER_SNAPSHOT", "0"),
        ],
    );
    let leader = c.leader(Duration::from_secs(30)).await;
    c.register_broker(1, "zone-a").await;
    let lagging = (leader + 1) % 3;
    c.kill(lagging);
    // ACL changes the lagging follower can only learn from the snapshot: five additions and
    // one replacement of a principal's rules.
    for i in 0..5 {
        let rule = serde_json::json!({"rules": [{
            "principal": format!("app-{i}"),
            "resource": {"resource_type": "topic", "pattern_type": "prefixed", "name": format!("snap-{i}")},
            "operations": ["write"],
            "effect": "allow",
            "conditions": {"hosts": ["10.0.0.0/8"], "window": "Mon-Fri 09:00-17:00 Europe/Berlin"}
        }]});
        let r = c
            .http
            .post(c.url(leader, "/api/v1/acls"))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let replace = serde_json::json!({"rules": [{
        "principal": "app-0",
        "resource": {"resource_type": "group", "pattern_type": "literal", "name": "*"},
        "operations": ["all"],
        "effect": "deny"
    }]});
    let r = c
        .http
        .put(c.url(leader, "/api/v1/acls/principals/app-0"))
        .json(&replace)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let names: Vec<String> = (0..60).map(|i| format!("snap-{i}")).collect();
    for n in &names {
        let (status, body) = c.create_topic(leader, n).await.unwrap();
        assert_eq!(status, 201, "{body}");
    }
    c.restart(lagging);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(t) = c.topics(lagging).await
            && names.iter().all(|n| t.contains(n))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "follower did not catch up\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(&c.nodes[lagging].log).unwrap();
    assert!(
        log.contains("installed a snapshot from the leader"),
        "caught up without a snapshot:\n{log}"
    );
    // The ACL state is the same on every controller, version included.
    let mut states = Vec::new();
    for i in 0..3 {
        let body: serde_json::Value = c
            .http
            .get(c.url(i, "/api/v1/acls"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        states.push(body["data"].clone());
    }
    assert_eq!(states[0]["version"], 6, "{}", states[0]);
    assert_eq!(states[0]["rules"].as_array().unwrap().len(), 5);
    assert!(states.iter().all(|s| *s == states[0]), "{states:?}");
}

/// `[admin]` of a `rustmq-controller` process through the environment: the seed's flat
/// `RUSTMQ_ADMIN_*` rate-limit variables, CORS and request logging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_settings_from_the_environment_apply() {
    let c = Cluster::start_with_env(
        1,
        &[
            ("RUSTMQ_ADMIN_RATE_LIMITING_ENABLED", "true"),
            ("RUSTMQ_ADMIN_PER_IP_BURST_SIZE", "7"),
            ("RUSTMQ_ADMIN_PER_IP_REFILL_RATE", "60000"),
            ("RUSTMQ_ADMIN__ENABLE_CORS", "true"),
            ("RUSTMQ_ADMIN__LOG_REQUESTS", "true"),
        ],
    );
    c.leader(Duration::from_secs(30)).await;
    let r = c
        .http
        .get(c.url(0, "/api/v1/brokers"))
        .header("origin", "https://dashboard.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["x-ratelimit-type"], "per_ip");
    assert_eq!(h["x-ratelimit-limit"], "7");
    assert_eq!(h["access-control-allow-origin"], "*");
    let health = c.health(0).await.unwrap();
    assert_eq!(health["rate_limiting"]["enabled"], true, "{health}");
    let log = std::fs::read_to_string(&c.nodes[0].log).unwrap();
    assert!(log.contains("admin API request"), "{log}");
    assert!(log.contains("/api/v1/brokers"), "{log}");
}

/// The leader keeps a Raft learner (the metadata observer) for every heartbeating broker,
/// removes it once the broker is offline and holds no replica (drained and stopped: a
/// scale-in, or it would be called forever), and adds it back when the broker heartbeats
/// again. The observers here point at no process: the leader's calls to them fail, which
/// is what a stopped broker looks like.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_brokers_metadata_observer_is_removed_and_added_back_when_it_returns() {
    let c = Cluster::start(3);
    let leader = c.leader(Duration::from_secs(30)).await;
    c.register_broker(1, "zone-a").await;
    c.register_broker(2, "zone-a").await;
    let (status, body) = c
        .post_json(
            leader,
            "/api/v1/topics",
            serde_json::json!({"name": "on-one", "partitions": 1, "replication_factor": 1}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, t) = c.get_json(leader, "/api/v1/topics/on-one").await;
    let holder = t["data"]["partition_assignments"][0]["leader"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (kept, gone) = if holder == "broker-1" { (1, 2) } else { (2, 1) };
    let observers = |want: [(u32, bool); 2]| {
        let c = &c;
        async move {
            // Offline, a broker keeps its observer for 10 heartbeat timeouts (15 s).
            let deadline = Instant::now() + Duration::from_secs(45);
            loop {
                let (_, b) = c.get_json((leader + 1) % 3, "/api/v1/brokers").await;
                let now: Vec<(u32, bool)> = want
                    .iter()
                    .map(|(id, _)| {
                        let v = b["data"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|x| x["id"] == format!("broker-{id}"));
                        (*id, v.is_some_and(|v| v["metadata_observer"] == true))
                    })
                    .collect();
                if now == want {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "observers {now:?}, want {want:?}: {b}\n{}",
                    c.logs()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // Heartbeating brokers get an observer (registered here without one).
    observers([(kept, true), (gone, true)]).await;
    // Both go silent: both offline; only the one holding no replica loses its observer.
    c.stop_heartbeats(kept);
    c.stop_heartbeats(gone);
    observers([(kept, true), (gone, false)]).await;
    assert_eq!(
        c.brokers_online(leader)
            .await
            .get(&format!("broker-{gone}")),
        Some(&false)
    );
    // It comes back: the observer is added again.
    c.start_heartbeats(gone);
    observers([(kept, true), (gone, true)]).await;
}

/// Brokers register and heartbeat over internal RPC; one that goes silent is marked offline
/// and gets no new partitions; placement alternates racks; a new controller leader does not
/// fail brokers that were heartbeating to the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_heartbeat_go_offline_and_placement_is_rack_aware() {
    let mut c = Cluster::start(3);
    let leader = c.leader(Duration::from_secs(30)).await;
    for (id, rack) in [(1, "zone-a"), (2, "zone-a"), (3, "zone-b"), (4, "zone-b")] {
        c.register_broker(id, rack).await;
    }
    // RF 2 over two racks: every partition has one replica in each.
    let topic = |name: &str, partitions: u32, rf: u32| serde_json::json!({"name": name, "partitions": partitions, "replication_factor": rf});
    let (status, body) = c
        .post_json(leader, "/api/v1/topics", topic("spread", 8, 2))
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, t) = c.get_json(leader, "/api/v1/topics/spread").await;
    let rack = |b: &str| {
        if b == "broker-1" || b == "broker-2" {
            "a"
        } else {
            "b"
        }
    };
    for p in t["data"]["partition_assignments"].as_array().unwrap() {
        let replicas: Vec<&str> = p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_ne!(rack(replicas[0]), rack(replicas[1]), "{p}");
    }

    c.stop_heartbeats(4);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let b = c.brokers_online((leader + 1) % 3).await;
        if b.get("broker-4") == Some(&false) {
            assert_eq!(b.values().filter(|o| **o).count(), 3, "{b:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "broker-4 never marked offline: {b:?}\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, e) = c
        .post_json(leader, "/api/v1/topics", topic("too-wide", 1, 4))
        .await;
    assert_eq!(status, 400);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("insufficient brokers"),
        "{e}"
    );
    let (status, body) = c
        .post_json(leader, "/api/v1/topics", topic("live-only", 6, 3))
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, t) = c.get_json(leader, "/api/v1/topics/live-only").await;
    assert!(!t.to_string().contains("broker-4"), "{t}");

    // Heartbeats resume: online again.
    c.start_heartbeats(4);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.brokers_online(leader).await.get("broker-4") != Some(&true) {
        assert!(Instant::now() < deadline, "broker-4 never back online");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A new leader counts from its election: nobody heartbeating is failed.
    c.kill(leader);
    let new = c.leader(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let b = c.brokers_online(new).await;
    assert!(b.values().all(|o| *o), "{b:?}\n{}", c.logs());
}

/// `PATCH /api/v1/topics/{name}` grows partitions and replaces the config through Raft (a
/// follower answers the same), and refuses shrinking with a 400 that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_grow_and_change_config_but_never_shrink() {
    let c = Cluster::start(3);
    let leader = c.leader(Duration::from_secs(30)).await;
    for id in 1..=2 {
        c.register_broker(id, "r").await;
    }
    let (status, body) = c
        .post_json(
            leader,
            "/api/v1/topics",
            serde_json::json!({"name": "grow", "partitions": 2, "replication_factor": 2}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = c
        .patch_json(
            leader,
            "/api/v1/topics/grow",
            serde_json::json!({"partitions": 4, "config": {"retention.ms": "60000"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["partitions"], 4, "{body}");
    assert_eq!(body["data"]["config"]["retention_ms"], 60000, "{body}");
    let follower = (leader + 1) % 3;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, t) = c.get_json(follower, "/api/v1/topics/grow").await;
        if t["data"]["partition_assignments"].as_array().map(Vec::len) == Some(4) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "follower never saw 4 partitions: {t}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = c
        .patch_json(
            follower,
            "/api/v1/topics/grow",
            serde_json::json!({"partitions": 3}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot shrink")),
        "{body}"
    );
    let (status, body) = c
        .patch_json(
            leader,
            "/api/v1/topics/grow",
            serde_json::json!({"config": {"retention.ms": "soon"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = c
        .patch_json(leader, "/api/v1/topics/none", serde_json::json!({}))
        .await;
    assert_eq!(status, 404);
}

/// `[admin] https` and `require_authentication` on a `rustmq-controller` process: writes
/// only with an admin certificate (or an ACL grant, which a client certificate here
/// lacks), reads with any caller and what it may describe, probes, metrics and the CA
/// open to all; plain HTTP is not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_writes_over_https_need_an_admin_certificate() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use rustmq_security::ca::{CertificateAuthority, IssueRequest};
    use rustmq_security::identity::Role;
    let c = Cluster::start_with_env(
        1,
        &[
            ("RUSTMQ_ADMIN__HTTPS", "true"),
            ("RUSTMQ_ADMIN__REQUIRE_AUTHENTICATION", "true"),
        ],
    );
    let ca = CertificateAuthority::load(&c.tls.ca_cert, &c.tls.ca_cert.with_file_name("ca.key"))
        .unwrap();
    let client = |role: Option<Role>| {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(&c.tls.ca_cert).unwrap())
            .unwrap();
        let b = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let tls = match role {
            Some(r) => {
                let i = ca
                    .issue(&IssueRequest::new("someone", r, Duration::from_secs(3600)))
                    .unwrap();
                b.with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(i.cert_pem.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(i.key_pem.as_bytes()).unwrap(),
                )
                .unwrap()
            }
            None => b.with_no_client_auth(),
        };
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap()
    };
    let base = format!("https://localhost:{}", c.nodes[0].http.port());
    let anon = client(None);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = anon.get(format!("{base}/health")).send().await
            && let Ok(h) = r.json::<serde_json::Value>().await
            && h["is_leader"] == true
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no leader over HTTPS\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        c.http.get(c.url(0, "/health")).send().await.is_err(),
        "plain HTTP answered"
    );
    let topic = serde_json::json!({"name": "secured", "partitions": 1});
    let post = |cl: &reqwest::Client| cl.post(format!("{base}/api/v1/topics")).json(&topic).send();
    assert_eq!(post(&anon).await.unwrap().status(), 401);
    assert_eq!(
        post(&client(Some(Role::Client))).await.unwrap().status(),
        403
    );
    // Authorized, the write reaches the controller (which refuses it for lack of brokers:
    // past the gate).
    let r = post(&client(Some(Role::Admin))).await.unwrap();
    assert!(![401, 403].contains(&r.status().as_u16()), "{}", r.status());
    // Reads need a caller too, but for probes, scrapers and the trust material.
    let get = |cl: &reqwest::Client, path: &str| cl.get(format!("{base}{path}")).send();
    for path in [
        "/health",
        "/metrics",
        "/api/v1/ca",
        "/api/v1/crl",
        "/api/v1/openapi.json",
    ] {
        assert_eq!(get(&anon, path).await.unwrap().status(), 200, "{path}");
    }
    assert_eq!(get(&anon, "/api/v1/audit").await.unwrap().status(), 401);
    let app = client(Some(Role::Client));
    // A client without grants sees an empty topic list, and no cluster state.
    let topics = get(&app, "/api/v1/topics").await.unwrap();
    assert_eq!(topics.status(), 200);
    let topics: serde_json::Value = topics.json().await.unwrap();
    assert_eq!(topics["data"], serde_json::json!([]));
    assert_eq!(get(&app, "/api/v1/audit").await.unwrap().status(), 403);
    assert_eq!(
        get(&app, "/api/v1/topics/orders").await.unwrap().status(),
        403
    );
    // The refusals are in the controller's audit log, which an admin reads.
    let audit: serde_json::Value = get(&client(Some(Role::Admin)), "/api/v1/audit")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records = audit["data"].as_array().unwrap();
    let events: Vec<&str> = records
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "authentication_failure",
            "denied",
            "authentication_failure",
            "denied",
            "denied"
        ]
    );
    assert_eq!(records[3]["resource"], "cluster");
    assert_eq!(records[3]["operation"], "describe");
    assert_eq!(records[4]["resource"], "topic:orders");
}
