//! Day-2 operations on the running e2e cluster, under idempotent `acks=all` load with the
//! exactly-once checker: a rolling upgrade (its order checked against the rules), a runtime
//! setting applied without restarting any pod, scaling
//! out 3 -> 5 brokers and back in to 3, a scale-in below the replication factor refused,
//! controllers 3 -> 5 -> 3, and a roll that waits while a partition is below
//! `min.insync.replicas`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustmq_operator::admin::AdminApi;

use super::*;

/// Idempotent acks=all producer running until stopped, recording every acknowledgement
/// and each send's latency.
struct Load {
    acked: Arc<Mutex<Vec<(u32, i64, Bytes)>>>,
    latencies: Arc<Mutex<Vec<(Instant, Duration)>>>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    async fn start(bootstrap: &str, ca: &str, topic: &'static str) -> Self {
        let producer = ProducerBuilder::new()
            .topic(topic)
            .config(ProducerConfig {
                ack_level: AckLevel::All,
                idempotent: true,
                max_retries: 10_000,
                ..Default::default()
            })
            .client(
                // Retries for 30 s, Kafka's request.timeout.ms (its producers keep retrying
                // for delivery.timeout.ms, 2 minutes).
                RustMqClient::new(ClientConfig {
                    brokers: vec![bootstrap.to_string()],
                    tls: TlsConfig {
                        ca_cert_pem: Some(ca.to_string()),
                        ..Default::default()
                    },
                    request_timeout: Duration::from_secs(30),
                    connect_timeout: Duration::from_secs(10),
                    ..Default::default()
                })
                .await
                .unwrap(),
            )
            .build()
            .await
            .unwrap();
        let acked: Arc<Mutex<Vec<(u32, i64, Bytes)>>> = Arc::default();
        let latencies: Arc<Mutex<Vec<(Instant, Duration)>>> = Arc::default();
        let failed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (acked, latencies, failed, stop) = (
                acked.clone(),
                latencies.clone(),
                failed.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let payload = Bytes::from(format!("day2-{i:08}-{}", "x".repeat(200)));
                    let m = Message::builder()
                        .topic(topic)
                        .key(format!("k{}", i % 32))
                        .payload(payload.clone())
                        .build()
                        .unwrap();
                    let sent = Instant::now();
                    match producer.send(m).await {
                        Ok(r) => {
                            latencies.lock().push((sent, sent.elapsed()));
                            acked.lock().push((r.partition, r.offset, payload));
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            let at = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap_or_default();
                            eprintln!(
                                "day-2 load: send {i} (started {:.1?} ago, unix time {}) failed: {e}",
                                sent.elapsed(),
                                at.as_secs()
                            );
                        }
                    }
                }
                let _ = producer.close().await;
            })
        };
        Self {
            acked,
            latencies,
            failed,
            stop,
            task,
        }
    }

    fn acked(&self) -> usize {
        self.acked.lock().len()
    }

    /// p99 of the sends started in `[from, to)`.
    fn p99(&self, from: Instant, to: Instant) -> (Duration, usize) {
        let mut v: Vec<Duration> = self
            .latencies
            .lock()
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, d)| *d)
            .collect();
        v.sort();
        let n = v.len();
        let p = v
            .get((n * 99 / 100).min(n.saturating_sub(1)))
            .copied()
            .unwrap_or_default();
        (p, n)
    }

    async fn stop(self) -> (Vec<(u32, i64, Bytes)>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let acked = self.acked.lock().clone();
        (acked, self.failed.load(Ordering::Relaxed))
    }
}

/// Every acknowledged message is in the topic exactly once, at its acknowledged offset.
async fn check_exactly_once(
    c: &RustMqClient,
    topic: &str,
    partitions: u32,
    acked: &[(u32, i64, Bytes)],
) {
    let mut seen: HashMap<Bytes, usize> = HashMap::new();
    let mut stored = HashMap::new();
    for p in 0..partitions {
        let log = read_all(c, topic, p).await;
        for payload in log.values() {
            *seen.entry(payload.clone()).or_default() += 1;
        }
        stored.insert(p, log);
    }
    for (p, off, payload) in acked {
        assert_eq!(
            stored[p].get(off),
            Some(payload),
            "acknowledged message at {topic}/{p}@{off} lost or changed"
        );
        assert_eq!(seen[payload], 1, "{topic}/{p}@{off} stored more than once");
    }
}

/// Pod name -> uid for `prefix` pods; pods seen going away are appended to `order`.
async fn track_restarts(
    pods: &Api<Pod>,
    known: &mut HashMap<String, String>,
    order: &mut Vec<String>,
) {
    let Ok(list) = pods
        .list(&ListParams::default().labels("app.kubernetes.io/instance=rmq"))
        .await
    else {
        return;
    };
    for p in list.items {
        let name = p.name_any();
        let uid = p.uid().unwrap_or_default();
        let going = p.metadata.deletion_timestamp.is_some();
        // A restart is seen once: as the old pod going away, or (when a poll missed that)
        // as a new uid. The replacement of a pod seen going is not a second restart.
        match known.get(&name).map(String::as_str) {
            Some("going") if !going => {
                known.insert(name, uid);
            }
            Some("going") => {}
            Some(old) if old != uid || going => {
                order.push(name.clone());
                let next = if going { "going".to_string() } else { uid };
                known.insert(name, next);
            }
            None => {
                known.insert(name, uid);
            }
            _ => {}
        }
    }
}

fn ready_and_idle(c: &RustMQCluster) -> bool {
    c.status.as_ref().is_some_and(|st| {
        st.operation.is_none()
            && condition(&st.conditions, "Ready").is_some_and(|r| r.status == "True")
            && st.observed_generation == c.metadata.generation
    })
}

/// Replicas per broker over every topic.
async fn replicas_per_broker(admin: &AdminApi) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for t in admin.topics().await.unwrap() {
        for p in t.partition_assignments {
            for r in p.replicas {
                *n.entry(r).or_default() += 1;
            }
        }
    }
    n
}

pub(super) struct Env<'a> {
    pub client: &'a Client,
    pub agent: &'a NodeAgent,
    pub bootstrap: String,
    pub ca: String,
    pub admin: AdminApi,
    pub spec: &'a dyn Fn(&str, i32) -> RustMQCluster,
    pub debug: &'a dyn Fn() -> String,
}

pub(super) async fn day_two(env: Env<'_>) {
    let Env {
        client,
        agent,
        bootstrap,
        ca,
        admin,
        spec,
        debug,
    } = env;
    let clusters: Api<RustMQCluster> = Api::namespaced(client.clone(), NS);
    let topics: Api<Topic> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    apply(
        &topics,
        &topic_spec("day2", 6, json!({"min.insync.replicas": "2"}), "Delete"),
    )
    .await;
    wait_for("Topic day2 Ready", Duration::from_secs(90), || async {
        let st = topics.get("day2").await.ok()?.status?;
        (condition(&st.conditions, "Ready")?.status == "True").then_some(())
    })
    .await;
    let wait_idle = |what: &'static str, secs: u64, extra: fn(&RustMQCluster) -> bool| {
        let clusters = clusters.clone();
        async move {
            let r = tokio::time::timeout(
                Duration::from_secs(secs),
                wait_for(what, Duration::from_secs(secs), || async {
                    let c = clusters.get("rmq").await.ok()?;
                    (ready_and_idle(&c) && extra(&c)).then_some(())
                }),
            )
            .await;
            if r.is_err() {
                let c = clusters.get("rmq").await.unwrap();
                panic!("{what}: {:?}\n{}", c.status, debug());
            }
        }
    };

    // 1. Rolling upgrade of 3 controllers and 3 brokers under load.
    let load = Load::start(&bootstrap, &ca, "day2").await;
    wait_for("load running", Duration::from_secs(60), || async {
        (load.acked() >= 50).then_some(())
    })
    .await;
    let baseline = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let leader_before = admin.cluster().await.unwrap().leader;
    let mut known = HashMap::new();
    let mut order = Vec::new();
    track_restarts(&pods, &mut known, &mut order).await;
    let rolled_at = Instant::now();
    apply(&clusters, &spec("test-2", 3)).await;
    let roll_deadline = Instant::now() + Duration::from_secs(600);
    loop {
        track_restarts(&pods, &mut known, &mut order).await;
        let c = clusters.get("rmq").await.unwrap();
        if ready_and_idle(&c)
            && c.status.as_ref().and_then(|s| s.version.as_deref()) == Some("test-2")
        {
            break;
        }
        assert!(
            Instant::now() < roll_deadline,
            "rolling upgrade stuck: {:?} (restarted so far {order:?})\n{}",
            c.status,
            debug()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let roll_took = rolled_at.elapsed();
    let (before_p99, before_n) = load.p99(baseline, rolled_at);
    let (during_p99, during_n) = load.p99(rolled_at, Instant::now());
    println!(
        "rolling upgrade of 3 controllers + 3 brokers: {roll_took:?}; produce p99 {before_p99:?} before ({before_n} sends), {during_p99:?} during ({during_n} sends)"
    );
    println!("restart order: {order:?} (controller leader before: {leader_before:?})");
    assert_eq!(order.len(), 6, "each pod restarted once: {order:?}");
    assert!(
        order[..3].iter().all(|p| p.starts_with("rmq-controller-"))
            && order[3..].iter().all(|p| p.starts_with("rmq-broker-")),
        "controllers first, then brokers: {order:?}"
    );
    // Followers before the leader: the controller restarted last is the one that led
    // (node id n is pod n-1); restarting followers does not move the leadership.
    let leader_pod = leader_before
        .as_deref()
        .and_then(rustmq_controller::config::parse_node_id)
        .map(|n| format!("rmq-controller-{}", n - 1))
        .expect("a controller leader before the roll");
    assert_eq!(order[2], leader_pod, "the leader restarts last: {order:?}");
    assert!(!events_with_reason(client, "RestartingPod").await.is_empty());
    for p in pods
        .list(&ListParams::default().labels("app.kubernetes.io/instance=rmq"))
        .await
        .unwrap()
        .items
    {
        let name = p.name_any();
        let image = p.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap_or_default();
        assert!(image.ends_with(":test-2"), "{name} runs {image}");
    }

    // 1b. A setting the brokers apply at runtime reaches them without a restart.
    runtime_config_update(client, &bootstrap, &ca, spec, debug).await;

    // 2. Scale out to 5 brokers under load: the new brokers join, partitions move onto
    //    them, spread evenly.
    let out_at = Instant::now();
    apply(&clusters, &spec("test-2", 5)).await;
    wait_idle("scaled out to 5 brokers and rebalanced", 600, |c| {
        c.status.as_ref().is_some_and(|s| s.ready_brokers == 5)
    })
    .await;
    let out_took = out_at.elapsed();
    let spread = replicas_per_broker(&admin).await;
    println!("scale out 3 -> 5 and rebalance: {out_took:?}; replicas per broker {spread:?}");
    assert_eq!(spread.len(), 5, "{spread:?}");
    let (lo, hi) = (
        spread.values().min().copied().unwrap(),
        spread.values().max().copied().unwrap(),
    );
    assert!(hi - lo <= 1, "partitions evenly spread: {spread:?}");
    assert!(
        !events_with_reason(client, "Rebalancing").await.is_empty(),
        "the scale-out rebalanced"
    );
    // What moved: the new brokers copied only the tail that was not in object storage yet
    // (uploads run every second here), against what the moved partitions hold.
    let mut copied = 0u64;
    for i in 3..5 {
        let url = format!("http://rmq-broker-{i}.rmq-broker.{NS}.svc.cluster.local:9742/metrics");
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        copied += text
            .lines()
            .find_map(|l| l.strip_prefix("rustmq_replica_fetched_bytes_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
    }
    let held: u64 = {
        let views = admin.topics().await.unwrap();
        let moved: Vec<u32> = views
            .iter()
            .filter(|t| t.name == "day2")
            .flat_map(|t| {
                t.partition_assignments
                    .iter()
                    .filter(|p| {
                        p.replicas
                            .iter()
                            .any(|r| r == "broker-3" || r == "broker-4")
                    })
                    .map(|p| p.partition)
            })
            .collect();
        load.acked
            .lock()
            .iter()
            .filter(|(p, _, _)| moved.contains(p))
            .map(|(_, _, b)| b.len() as u64)
            .sum()
    };
    println!(
        "rebalance: the new brokers copied {copied} record bytes from leaders (every topic, live traffic included); the day2 partitions they took hold {held} payload bytes"
    );

    // 3. Scale back in to 3 under load: brokers 4 and 3 are drained, then removed.
    let in_at = Instant::now();
    apply(&clusters, &spec("test-2", 3)).await;
    wait_idle("scaled in to 3 brokers", 600, |c| {
        c.status.as_ref().is_some_and(|s| s.ready_brokers == 3)
    })
    .await;
    println!("scale in 5 -> 3: {:?}", in_at.elapsed());
    let set = sets.get("rmq-broker").await.unwrap();
    assert_eq!(set.spec.unwrap().replicas, Some(3));
    let spread = replicas_per_broker(&admin).await;
    assert!(
        !spread.contains_key("broker-3") && !spread.contains_key("broker-4"),
        "{spread:?}"
    );
    assert!(
        !events_with_reason(client, "DrainingBroker")
            .await
            .is_empty()
    );
    // The removed brokers go offline and their metadata observers leave the Raft
    // membership (the controllers would otherwise call them forever).
    let gone = wait_for(
        "the removed brokers' metadata observers removed",
        Duration::from_secs(120),
        || async {
            let brokers = admin.brokers().await.ok()?;
            let removed: Vec<_> = brokers
                .iter()
                .filter(|b| b.id == "broker-3" || b.id == "broker-4")
                .collect();
            (removed.len() == 2 && removed.iter().all(|b| !b.online && !b.metadata_observer))
                .then_some(brokers)
        },
    )
    .await;
    assert!(
        gone.iter()
            .filter(|b| b.online)
            .all(|b| b.metadata_observer),
        "{gone:?}"
    );

    // 4. Below the replication factor: refused with a condition; nothing is drained.
    apply(&clusters, &spec("test-2", 2)).await;
    let refused = degraded_condition(&clusters, "rmq").await;
    assert_eq!(refused.reason, "ScaleInRefused", "{refused:?}");
    assert!(
        refused.message.contains("replication factor 3"),
        "{}",
        refused.message
    );
    assert_eq!(
        sets.get("rmq-broker").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );
    apply(&clusters, &spec("test-2", 3)).await;
    wait_idle("Ready again at 3 brokers", 120, |_| true).await;

    // 5. Controllers 3 -> 5 -> 3 under load: one voter at a time through Raft membership
    //    changes, then the pods roll onto the new peer list.
    let voters = |n: usize| {
        let admin = admin.clone();
        async move {
            let v = admin.controllers().await.ok()?;
            (v.len() == n && v.iter().all(|c| c.role != "learner")).then_some(())
        }
    };
    let mut spec5 = spec("test-2", 3);
    spec5.spec.controllers.replicas = 5;
    let five_at = Instant::now();
    apply(&clusters, &spec5).await;
    wait_idle("5 controllers", 600, |c| {
        c.status.as_ref().is_some_and(|s| s.ready_controllers == 5)
    })
    .await;
    wait_for("5 voters", Duration::from_secs(60), || voters(5)).await;
    println!(
        "controllers 3 -> 5 (two voters added, pods rolled): {:?}",
        five_at.elapsed()
    );
    let three_at = Instant::now();
    apply(&clusters, &spec("test-2", 3)).await;
    wait_idle("back to 3 controllers", 600, |c| {
        c.status.as_ref().is_some_and(|s| s.ready_controllers == 3)
    })
    .await;
    wait_for("3 voters", Duration::from_secs(60), || voters(3)).await;
    assert_eq!(
        sets.get("rmq-controller")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(3)
    );
    println!("controllers 5 -> 3: {:?}", three_at.elapsed());

    // The rebalance the status proposes runs when approved by annotation; the operator
    // removes the annotation and records when.
    let c = clusters.get("rmq").await.unwrap();
    assert!(
        c.status
            .as_ref()
            .and_then(|s| s.rebalance.as_ref())
            .is_some(),
        "the status shows the controllers' rebalance state: {:?}",
        c.status
    );
    clusters
        .patch(
            "rmq",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"rustmq.io/rebalance": "approve"}}})),
        )
        .await
        .unwrap();
    let recorded = tokio::time::timeout(
        Duration::from_secs(120),
        wait_for(
            "the rebalance approved",
            Duration::from_secs(600),
            || async {
                let c = clusters.get("rmq").await.ok()?;
                let approved = c
                    .status
                    .as_ref()?
                    .rebalance
                    .as_ref()?
                    .last_approved_at
                    .is_some();
                (approved && !c.annotations().contains_key("rustmq.io/rebalance")).then_some(())
            },
        ),
    )
    .await;
    if recorded.is_err() {
        let c = clusters
            .get("rmq")
            .await
            .map(|c| (c.metadata.annotations, c.status));
        panic!(
            "the approved rebalance was not recorded within 120 s\n{c:#?}\n{}",
            debug()
        );
    }
    assert!(
        !events_with_reason(client, "RebalanceApproved")
            .await
            .is_empty()
    );

    // The approved rebalance moves leaderships in rounds, each after the brokers report new
    // load samples. Step 6 isolates the leader of a partition: a round after that could move
    // its leaderships to the brokers it cannot reach, leaving no partition below min ISR.
    let rebalance = wait_for(
        "the approved rebalance to finish",
        Duration::from_secs(300),
        || async {
            let r = admin.rebalance(false).await.ok()?;
            (r.state != "running").then_some(r)
        },
    )
    .await;
    println!(
        "approved rebalance finished ({}): {} leaderships moved",
        rebalance.state, rebalance.leaders_moved
    );

    let (acked, failed) = load.stop().await;
    assert_eq!(
        failed,
        0,
        "no produce error visible to the client\n{}\n--- heartbeats and elections\n{}",
        debug(),
        agent.grep_logs(&[
            "heartbeat to the controllers",
            "heartbeats to the controllers",
            "leader lease",
            "vote",
            "elect",
        ])
    );
    let c = rustmq_client(&bootstrap, ca.clone()).await;
    check_exactly_once(&c, "day2", 6, &acked).await;
    println!(
        "{} messages acknowledged through the roll and both scalings; each stored exactly once",
        acked.len()
    );

    // 6. A partition below min.insync.replicas: the leader of day2/0 cannot reach the other
    //    brokers, so the ISRs of what it leads shrink to itself; a roll restarts the
    //    controllers and then waits, Degraded, until the network heals.
    let view = admin.topic("day2").await.unwrap().unwrap();
    let victim = view.partition_assignments[0]
        .leader
        .replace("broker-", "rmq-broker-");
    let (ns2, _) = agent.network_of(&victim).expect("the leader runs");
    let peers: Vec<String> = ["rmq-broker-0", "rmq-broker-1", "rmq-broker-2"]
        .iter()
        .filter(|p| **p != victim)
        .map(|p| agent.network_of(p).expect("broker runs").1)
        .collect();
    for ip in &peers {
        common::network::ip(&[
            "netns",
            "exec",
            &ns2,
            "ip",
            "route",
            "add",
            "blackhole",
            &format!("{ip}/32"),
        ]);
    }
    let last_view = Arc::new(Mutex::new(None));
    tokio::time::timeout(
        Duration::from_secs(120),
        wait_for("a partition below min ISR", Duration::from_secs(600), || {
            let last_view = last_view.clone();
            let admin = admin.clone();
            async move {
                let t = admin.topic("day2").await.ok()??;
                let below = t
                    .partition_assignments
                    .iter()
                    .any(|p| p.in_sync_replicas.len() < 2);
                *last_view.lock() = Some(t);
                below.then_some(())
            }
        }),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no partition of day2 below min ISR 120 s after isolating {victim}\nlast view: {:#?}\n--- ISR and role changes\n{}",
            last_view.lock(),
            agent
                .grep_logs(&["ISR changed", "partition role changed", "leader lease"])
                .lines()
                .filter(|l| l.contains("day2") || l.contains("lease"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    // Its leader reports it in the series the PartitionsBelowMinISR alert watches.
    let victim_ip = agent.network_of(&victim).expect("the leader runs").1;
    let below = wait_for(
        "rustmq_under_min_isr_partitions on the leader",
        Duration::from_secs(60),
        || async {
            let text = reqwest::get(format!(
                "http://{victim_ip}:{}/metrics",
                rustmq_operator::cluster::ports::BROKER_ADMIN
            ))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("rustmq_under_min_isr_partitions "))?
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| *v >= 1.0)
        },
    )
    .await;
    println!("partitions below min ISR on the isolated leader: {below}");
    apply(&clusters, &spec("test-3", 3)).await;
    let blocked = tokio::time::timeout(
        Duration::from_secs(300),
        wait_for("the roll blocked", Duration::from_secs(300), || async {
            let st = clusters.get("rmq").await.ok()?.status?;
            let c = condition(&st.conditions, "Degraded")?.clone();
            (c.status == "True" && c.reason == "RollBlocked").then_some(c)
        }),
    )
    .await
    .unwrap_or_else(|_| panic!("roll not blocked: {:?}", debug()));
    assert!(
        blocked.message.contains("min.insync.replicas"),
        "{}",
        blocked.message
    );
    assert!(!events_with_reason(client, "RollBlocked").await.is_empty());
    for b in 0..3 {
        let p = pods.get(&format!("rmq-broker-{b}")).await.unwrap();
        let image = p.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap_or_default();
        assert!(
            image.ends_with(":test-2"),
            "broker {b} was restarted while blocked"
        );
    }
    for ip in &peers {
        common::network::ip(&[
            "netns",
            "exec",
            &ns2,
            "ip",
            "route",
            "del",
            "blackhole",
            &format!("{ip}/32"),
        ]);
    }
    wait_idle("the roll finished once the ISRs recovered", 600, |c| {
        c.status.as_ref().and_then(|s| s.version.as_deref()) == Some("test-3")
    })
    .await;
    topics
        .delete("day2", &DeleteParams::default())
        .await
        .unwrap();
}

/// `rustmq_config_reloads_applied_total` of every broker pod (its admin API's metrics).
async fn brokers_reloads(pods: &Api<Pod>) -> Option<Vec<u64>> {
    let list = pods
        .list(
            &ListParams::default()
                .labels("app.kubernetes.io/instance=rmq,app.kubernetes.io/component=broker"),
        )
        .await
        .ok()?;
    let mut out = Vec::new();
    for p in list.items {
        let ip = p.status?.pod_ip?;
        let port = rustmq_operator::cluster::ports::BROKER_ADMIN;
        let text = reqwest::get(format!("http://{ip}:{port}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let line = text
            .lines()
            .find(|l| l.starts_with("rustmq_config_reloads_applied_total "))?;
        out.push(line.rsplit(' ').next()?.parse().ok()?);
    }
    Some(out)
}

/// One send of a `size`-byte record to `day2`, without retries.
async fn send_once(
    bootstrap: &str,
    ca: &str,
    size: usize,
) -> Result<(), rustmq_client::ClientError> {
    let producer = ProducerBuilder::new()
        .topic("day2")
        .config(ProducerConfig {
            ack_level: AckLevel::All,
            ..Default::default()
        })
        .client(rustmq_client(bootstrap, ca.to_string()).await)
        .build()
        .await?;
    let m = Message::builder()
        .topic("day2")
        .payload(Bytes::from(vec![b'r'; size]))
        .build()?;
    let r = producer.send(m).await.map(|_| ());
    let _ = producer.close().await;
    r
}

/// `log.max_message_bytes` set and then removed through `brokerConfig`: each time every
/// broker applies the new file (the node agent refreshes the ConfigMap volume as the
/// kubelet does), a record between the two limits is refused and then accepted again, and
/// no pod restarts nor does the brokers' pod template change.
async fn runtime_config_update(
    client: &Client,
    bootstrap: &str,
    ca: &str,
    spec: &dyn Fn(&str, i32) -> RustMQCluster,
    debug: &dyn Fn() -> String,
) {
    let clusters: Api<RustMQCluster> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    let uids = |list: Vec<Pod>| -> BTreeMap<String, String> {
        list.into_iter()
            .map(|p| (p.name_any(), p.uid().unwrap_or_default()))
            .collect()
    };
    let selector = ListParams::default().labels("app.kubernetes.io/instance=rmq");
    let before = uids(pods.list(&selector).await.unwrap().items);
    let template = || async {
        let s = sets.get("rmq-broker").await.unwrap();
        s.spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap()["rustmq.io/config-hash"]
            .clone()
    };
    let hash_before = template().await;
    let reloads_before = brokers_reloads(&pods).await.expect("broker metrics");
    let started = Instant::now();
    let mut limited = spec("test-2", 3);
    limited
        .spec
        .broker_config
        .insert("log.max_message_bytes".into(), "4096".into());
    apply(&clusters, &limited).await;
    let applied = |n: u64| {
        let pods = pods.clone();
        let reloads_before = reloads_before.clone();
        async move {
            let r = tokio::time::timeout(
                Duration::from_secs(180),
                wait_for(
                    "brokers applied the new file",
                    Duration::from_secs(180),
                    || async {
                        let now = brokers_reloads(&pods).await?;
                        (now.len() == reloads_before.len()
                            && now.iter().zip(&reloads_before).all(|(a, b)| *a >= b + n))
                        .then_some(())
                    },
                ),
            )
            .await;
            r.is_ok()
        }
    };
    assert!(
        applied(1).await,
        "brokers did not apply the runtime setting\n{}",
        debug()
    );
    let took = started.elapsed();
    match send_once(bootstrap, ca, 10_000).await {
        Err(rustmq_client::ClientError::Server { code, .. }) => {
            assert_eq!(code, rustmq_client::ErrorCode::MessageTooLarge)
        }
        other => panic!("a 10 kB record under a 4 kB limit: {other:?}"),
    }
    apply(&clusters, &spec("test-2", 3)).await;
    assert!(
        applied(2).await,
        "brokers did not apply the setting's removal\n{}",
        debug()
    );
    send_once(bootstrap, ca, 10_000)
        .await
        .expect("the default limit again");
    println!("runtime config update applied by every broker in {took:?}, no pod restarted");
    assert_eq!(
        uids(pods.list(&selector).await.unwrap().items),
        before,
        "no pod restarted"
    );
    assert_eq!(
        template().await,
        hash_before,
        "the brokers' pod template is unchanged"
    );
    let c = clusters.get("rmq").await.unwrap();
    assert!(
        c.status.as_ref().is_some_and(|s| s.operation.is_none()),
        "no day-2 operation started: {:?}",
        c.status
    );
}
