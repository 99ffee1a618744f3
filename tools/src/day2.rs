//! Day-2 commands: `scaling add-brokers | remove-brokers`, `operations rolling-upgrade |
//! status`, and `rebalance`. They work on any cluster through the admin API; what only the
//! Kubernetes operator can do (start or stop pods) they say, with the command that asks it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use rustmq_controller::RebalanceStatus;
use rustmq_controller::api::{
    BrokerSummary, ControllerView, RebalanceRequest, TopicView, hosted_replicas, out_of_sync,
    restart_blockers,
};

use crate::admin_api::Api;
use crate::output::{Out, Tab};

/// `rustmq-admin scaling ...`
#[derive(Subcommand, Debug)]
pub enum ScalingCmd {
    /// Wait for N new brokers to register, then rebalance partitions onto them. Start the
    /// broker processes yourself; on Kubernetes raise `spec.brokers.replicas` of the
    /// RustMQCluster instead: the operator starts them and rebalances.
    AddBrokers {
        /// How many brokers are being added.
        count: u32,
        /// Give up after this long (e.g. `10m`).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
        timeout: Duration,
    },
    /// Drain brokers one at a time (their replicas move to the others) and say when each
    /// may be stopped. Refused when the brokers left could not hold every topic's
    /// replication factor. On Kubernetes lower `spec.brokers.replicas`: the operator drains
    /// the highest ordinals and shrinks the StatefulSet itself.
    RemoveBrokers {
        /// Broker ids.
        #[arg(required = true)]
        ids: Vec<u32>,
        /// Give up on a broker's drain after this long.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "30m")]
        timeout: Duration,
    },
}

/// `rustmq-admin operations ...`
#[derive(Subcommand, Debug)]
pub enum OperationsCmd {
    /// Restart every broker one at a time onto version V: each only when no partition
    /// would fall below min.insync.replicas (Strimzi's KafkaRoller rules), the next only
    /// once the previous is back online and in sync. Each broker hands its leaderships over
    /// as it stops (controlled shutdown on SIGTERM). `--restart-command` does the restart
    /// (without Kubernetes); on Kubernetes set `spec.version` and let the operator roll.
    RollingUpgrade {
        /// The version being rolled out (passed to the restart command as `{version}`).
        #[arg(long)]
        version: String,
        /// Shell command restarting one broker, with `{id}` and `{version}` replaced; it
        /// should return once the new process was started.
        #[arg(long)]
        restart_command: Option<String>,
        /// The brokers' `replication.min_in_sync_replicas` (topics may set their own).
        #[arg(long, default_value_t = 1)]
        min_isr: u32,
        /// Give up waiting for one broker after this long.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
        timeout: Duration,
    },
    /// Brokers (online, draining, replicas, leaders, out of sync), partitions moving,
    /// controller lag and the rebalance state.
    Status,
}

fn id_of(b: &BrokerSummary) -> Option<u32> {
    b.id.strip_prefix("broker-")?.parse().ok()
}

async fn poll<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> anyhow::Result<Result<T, String>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    // On a terminal a spinner shows the state; piped, each new state is a line.
    let spin = crate::progress::spinner(what);
    loop {
        match probe().await? {
            Ok(v) => {
                spin.finish_and_clear();
                return Ok(v);
            }
            Err(why) => {
                if why != last {
                    if crate::progress::interactive() {
                        spin.set_message(format!("{what}: {why}"));
                    } else {
                        println!("  {what}: {why}");
                    }
                    last = why;
                }
            }
        }
        if Instant::now() > deadline {
            spin.finish_and_clear();
            bail!("gave up after {timeout:?} waiting: {what} ({last})");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `scaling add-brokers N`
pub async fn add_brokers(api: &Api, count: u32, timeout: Duration) -> anyhow::Result<()> {
    let live = |b: &Vec<BrokerSummary>| b.iter().filter(|b| b.online && !b.draining).count();
    let before = live(&api.get("/api/v1/brokers").await?);
    let want = before + count as usize;
    println!(
        "{before} brokers online; start {count} more (on Kubernetes: raise spec.brokers.replicas of the RustMQCluster to {want}; the operator starts and rebalances them)"
    );
    poll("waiting for the new brokers", timeout, async || {
        let n = live(&api.get("/api/v1/brokers").await?);
        Ok(if n >= want {
            Ok(())
        } else {
            Err(format!("{n} of {want} online"))
        })
    })
    .await?;
    rebalance_and_wait(api, timeout).await
}

async fn rebalance_and_wait(api: &Api, timeout: Duration) -> anyhow::Result<()> {
    let st: RebalanceStatus = api
        .call(
            reqwest::Method::POST,
            "/api/v1/rebalance",
            Some(&RebalanceRequest { dry_run: false }),
        )
        .await?;
    println!(
        "rebalancing: {} leadership and {} replica moves in the first round",
        st.leaders_moved, st.replicas_moved
    );
    let done: RebalanceStatus = poll("rebalance", timeout, async || {
        let st: RebalanceStatus = api.get("/api/v1/rebalance").await?;
        Ok(if st.state != "running" && st.plan.in_flight == 0 {
            Ok(st)
        } else {
            Err(format!(
                "{} replica moves in flight, {} started so far",
                st.plan.in_flight, st.replicas_moved
            ))
        })
    })
    .await?;
    println!(
        "rebalanced: {} leaderships and {} replicas moved",
        done.leaders_moved, done.replicas_moved
    );
    let topics: Vec<TopicView> = api.get("/api/v1/topics").await?;
    for b in done.plan.brokers {
        println!(
            "  broker-{}: {} replicas",
            b.id,
            hosted_replicas(&topics, b.id)
        );
    }
    Ok(())
}

/// `scaling remove-brokers ID...`
pub async fn remove_brokers(api: &Api, ids: &[u32], timeout: Duration) -> anyhow::Result<()> {
    let brokers: Vec<BrokerSummary> = api.get("/api/v1/brokers").await?;
    let topics: Vec<TopicView> = api.get("/api/v1/topics").await?;
    for id in ids {
        if !brokers.iter().any(|b| id_of(b) == Some(*id)) {
            bail!("broker {id} is not registered");
        }
    }
    let left = brokers
        .iter()
        .filter(|b| b.online && !b.draining && id_of(b).is_some_and(|i| !ids.contains(&i)))
        .count();
    if let Some(t) = topics.iter().find(|t| t.replication_factor as usize > left) {
        bail!(
            "refused: topic {} has replication factor {}, and only {left} brokers would be left",
            t.name,
            t.replication_factor
        );
    }
    for id in ids {
        let moving: usize = api
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/brokers/{id}/drain"),
                None::<&()>,
            )
            .await?;
        println!("broker-{id}: draining, {moving} replicas moving");
        poll(&format!("draining broker-{id}"), timeout, async || {
            let topics: Vec<TopicView> = api.get("/api/v1/topics").await?;
            let held = hosted_replicas(&topics, *id);
            Ok(if held == 0 {
                Ok(())
            } else {
                Err(format!("{held} replicas still on it"))
            })
        })
        .await?;
        println!(
            "broker-{id} holds no replicas: stop its process now (it stays listed offline; no new replica goes to it while it is draining)"
        );
    }
    Ok(())
}

/// `operations rolling-upgrade --version V`
pub async fn rolling_upgrade(
    api: &Api,
    version: &str,
    restart_command: Option<&str>,
    min_isr: u32,
    timeout: Duration,
) -> anyhow::Result<()> {
    let Some(command) = restart_command else {
        bail!(
            "restarting processes needs either the Kubernetes operator or a restart command:\n  \
             on Kubernetes: kubectl patch rustmqcluster <name> --type merge -p '{{\"spec\":{{\"version\":\"{version}\"}}}}'\n  \
             (the operator restarts controllers, then brokers, one at a time, and reports progress in the status)\n  \
             elsewhere: rustmq-admin operations rolling-upgrade --version {version} --restart-command 'systemctl restart rustmq-broker@{{id}}'"
        );
    };
    let brokers: Vec<BrokerSummary> = api.get("/api/v1/brokers").await?;
    let ids: Vec<u32> = brokers.iter().filter_map(id_of).collect();
    println!(
        "rolling {} brokers to {version}, one at a time (controllers are restarted separately, followers first: `rustmq-admin controllers list` shows the leader)",
        ids.len()
    );
    let started = Instant::now();
    for id in &ids {
        poll(
            &format!("before restarting broker-{id}"),
            timeout,
            async || {
                let topics: Vec<TopicView> = api.get("/api/v1/topics").await?;
                let behind: Vec<String> =
                    ids.iter().flat_map(|b| out_of_sync(&topics, *b)).collect();
                let blockers = restart_blockers(&topics, *id, min_isr);
                Ok(if !blockers.is_empty() {
                    Err(format!(
                        "would break min.insync.replicas: {}",
                        blockers.join("; ")
                    ))
                } else if !behind.is_empty() {
                    Err(format!("replicas catching up: {}", behind.join(", ")))
                } else {
                    Ok(())
                })
            },
        )
        .await?;
        let cmd = command
            .replace("{id}", &id.to_string())
            .replace("{version}", version);
        println!("restarting broker-{id}: {cmd}");
        let status = tokio::process::Command::new("sh")
            .args(["-c", &cmd])
            .status()
            .await
            .with_context(|| format!("running {cmd}"))?;
        if !status.success() {
            bail!("the restart command for broker-{id} failed ({status}); stopping the roll");
        }
        poll(&format!("broker-{id} back in sync"), timeout, async || {
            let brokers: Vec<BrokerSummary> = api.get("/api/v1/brokers").await?;
            let online = brokers.iter().any(|b| id_of(b) == Some(*id) && b.online);
            let topics: Vec<TopicView> = api.get("/api/v1/topics").await?;
            let behind = out_of_sync(&topics, *id);
            Ok(if !online {
                Err("not online yet".into())
            } else if !behind.is_empty() {
                Err(format!("catching up on {}", behind.join(", ")))
            } else {
                Ok(())
            })
        })
        .await?;
        println!("broker-{id} is back and in sync");
    }
    println!(
        "rolled {} brokers to {version} in {:.1?}",
        ids.len(),
        started.elapsed()
    );
    Ok(())
}

/// `operations status`
pub async fn status(api: &Api, out: Out) -> anyhow::Result<()> {
    let brokers: Vec<BrokerSummary> = api.get("/api/v1/brokers").await?;
    let topics: Vec<TopicView> = api.get("/api/v1/topics").await?;
    let controllers: Vec<ControllerView> = api.get("/api/v1/controllers").await?;
    let rebalance: Option<RebalanceStatus> = api.get("/api/v1/rebalance").await.ok();
    let mut leaders: BTreeMap<String, usize> = BTreeMap::new();
    let mut moving = 0;
    let mut under = 0;
    for p in topics.iter().flat_map(|t| &t.partition_assignments) {
        *leaders.entry(p.leader.clone()).or_default() += 1;
        moving += usize::from(p.target_replicas.is_some());
        under += usize::from(p.under_replicated);
    }
    let mut t = Tab::new(&[
        "BROKER",
        "ONLINE",
        "DRAINING",
        "REPLICAS",
        "LEADERS",
        "OUT OF SYNC",
    ])
    .titled("Brokers".into());
    for b in &brokers {
        let id = id_of(b).unwrap_or(u32::MAX);
        t.row([
            b.id.clone(),
            b.online.to_string(),
            b.draining.to_string(),
            hosted_replicas(&topics, id).to_string(),
            leaders.get(&b.id).copied().unwrap_or(0).to_string(),
            out_of_sync(&topics, id).len().to_string(),
        ]);
    }
    let mut c = Tab::new(&["CONTROLLER", "ROLE", "LAG"]).titled("Controllers".into());
    for v in &controllers {
        c.row([
            v.id.clone(),
            v.role.clone(),
            v.lag.map_or("-".into(), |l| l.to_string()),
        ]);
    }
    let mut s = Tab::new(&["UNDER-REPLICATED", "MOVING", "REBALANCE", "PLANNED MOVES"])
        .titled("Partitions".into());
    s.row([
        under.to_string(),
        moving.to_string(),
        rebalance.as_ref().map_or("-".into(), |r| r.state.clone()),
        rebalance.as_ref().map_or("-".into(), |r| {
            format!(
                "{} leader, {} replica",
                r.plan.leader_moves.len(),
                r.plan.replica_moves.len()
            )
        }),
    ]);
    let doc = serde_json::json!({
        "brokers": brokers, "controllers": controllers, "under_replicated": under,
        "moving": moving, "rebalance": rebalance,
    });
    out.print(&doc, &[t, c, s])
}

/// `rebalance [--execute]`
pub async fn rebalance(api: &Api, execute: bool, out: Out) -> anyhow::Result<()> {
    if execute {
        return rebalance_and_wait(api, Duration::from_secs(3600)).await;
    }
    let st: RebalanceStatus = api.get("/api/v1/rebalance").await?;
    let mut t = Tab::new(&[
        "BROKER",
        "RACK",
        "REPLICAS",
        "LEADERS",
        "LEADER LOAD",
        "CPU",
    ])
    .titled(format!(
        "Rebalance plan (dry run; state {}): {} leader and {} replica moves",
        st.state,
        st.plan.leader_moves.len(),
        st.plan.replica_moves.len()
    ));
    for b in &st.plan.brokers {
        t.row([
            format!("broker-{}", b.id),
            b.rack.clone(),
            format!("{} -> {}", b.replicas, b.replicas_after),
            format!("{} -> {}", b.leaders, b.leaders_after),
            format!("{:.1} -> {:.1}", b.leader_load, b.leader_load_after),
            b.load
                .as_ref()
                .map_or("-".into(), |l| format!("{:.0}%", l.cpu * 100.0)),
        ]);
    }
    let mut m = Tab::new(&["TOPIC", "PARTITION", "MOVE"]).titled("Moves".into());
    for l in &st.plan.leader_moves {
        m.row([
            l.topic.clone(),
            l.partition.to_string(),
            format!("leader broker-{} -> broker-{}", l.from, l.to),
        ]);
    }
    for r in &st.plan.replica_moves {
        m.row([
            r.topic.clone(),
            r.partition.to_string(),
            format!("replica broker-{} -> broker-{}", r.from, r.to),
        ]);
    }
    out.print(&st, &[t, m])
}
