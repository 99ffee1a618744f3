//! `rustmq-admin`: manage topics through the admin REST API, and produce or consume from the
//! command line.

#[path = "../admin_api.rs"]
mod admin_api;
#[path = "../common.rs"]
mod common;
#[path = "../day2.rs"]
mod day2;
#[path = "../etl_cmd/mod.rs"]
mod etl_cmd;
#[path = "../output.rs"]
mod output;
#[path = "../progress.rs"]
mod progress;
#[path = "../security_cmd/mod.rs"]
mod security_cmd;

use admin_api::Api;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use output::{Format, Out, Tab, Tone, text};
use rustmq_client::{Message, StartPosition};
use rustmq_controller::api::{
    AddControllerRequest, AlterTopicRequest, BrokerSummary, ClusterView, ControllerView,
    CreateTopicRequest, GroupView, HealthResponse, ReassignPartition, ReassignRequest,
    StorageResponse, TopicView,
};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(version, about = "RustMQ administration and command-line clients")]
struct Cli {
    /// Admin REST API of any controller.
    #[arg(
        long,
        global = true,
        env = "RUSTMQ_API_URL",
        default_value = "http://127.0.0.1:9642"
    )]
    api_url: String,
    /// Brokers for produce/consume, comma separated.
    #[arg(
        long,
        global = true,
        env = "RUSTMQ_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    brokers: String,
    /// CA certificate that signed the brokers' certificates [default: rustmq-data/tls/ca.pem].
    #[arg(long, global = true, env = "RUSTMQ_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// CA of an HTTPS admin API's certificate [default: --ca-cert when the URL is https].
    #[arg(long, global = true, env = "RUSTMQ_ADMIN_CA")]
    admin_ca: Option<PathBuf>,
    /// Client certificate for the admin API (an admin certificate may write anything).
    #[arg(long, global = true, env = "RUSTMQ_ADMIN_CERT")]
    admin_cert: Option<PathBuf>,
    /// Its key.
    #[arg(long, global = true, env = "RUSTMQ_ADMIN_KEY")]
    admin_key: Option<PathBuf>,
    /// Bearer token (JWT) for admin API writes.
    #[arg(long, global = true, env = "RUSTMQ_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// No colors in tables (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long, global = true)]
    no_color: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Topic management.
    #[command(subcommand)]
    Topic(TopicCmd),
    /// Same as `topic create NAME --partitions P --replication-factor RF`.
    CreateTopic {
        name: String,
        partitions: u32,
        replication_factor: Option<u32>,
    },
    /// Same as `topic list`.
    ListTopics,
    /// Same as `topic describe NAME`.
    DescribeTopic { name: String },
    /// Same as `topic delete NAME`.
    DeleteTopic { name: String },
    /// Produce one message per line of standard input.
    Produce {
        topic: String,
        /// Key for every message.
        #[arg(long)]
        key: Option<String>,
        /// Partition for every message (default: by key, else sticky).
        #[arg(long)]
        partition: Option<u32>,
    },
    /// Print messages, one per line.
    Consume {
        topic: String,
        /// Start at the oldest message (default: only new messages).
        #[arg(long)]
        from_beginning: bool,
        /// Exit after this many messages.
        #[arg(long)]
        max_messages: Option<u64>,
        /// Only this partition.
        #[arg(long, conflicts_with = "group")]
        partition: Option<u32>,
        /// Consume as a member of this group and commit what was printed. Without a
        /// committed offset it starts per --from-beginning.
        #[arg(long)]
        group: Option<String>,
    },
    /// Broker and controller health (`/health` of the controller --api-url names).
    Health,
    /// Cluster health: Raft leader and term, controllers, brokers; exit 1 without a leader
    /// (or with fewer online brokers than --expect-brokers).
    ClusterHealth {
        /// Healthy also means at least this many brokers registered and online.
        #[arg(long, default_value_t = 0)]
        expect_brokers: usize,
        /// Ask again until healthy or this much time has passed (e.g. `60s`); scripts
        /// that start a cluster wait with it before creating topics.
        #[arg(long, value_parser = humantime::parse_duration)]
        wait: Option<std::time::Duration>,
        /// Show it again every this long (e.g. `2s`) until Ctrl-C (it does not exit when
        /// unhealthy).
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "wait")]
        watch: Option<std::time::Duration>,
    },
    /// Brokers.
    #[command(subcommand)]
    Brokers(BrokersCmd),
    /// Controllers of the Raft cluster.
    #[command(subcommand)]
    Controllers(ControllersCmd),
    /// Tiered storage: upload lag, objects, object-store requests, read cache.
    Storage,
    /// Consumer groups.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Adding and removing brokers.
    #[command(subcommand)]
    Scaling(day2::ScalingCmd),
    /// Rolling upgrades and the state of day-2 operations.
    #[command(subcommand)]
    Operations(day2::OperationsCmd),
    /// ACL rules: create, delete, list, test, permissions, sync.
    #[command(subcommand)]
    Acl(security_cmd::AclCmd),
    /// Certificates of the cluster CA: issue, list, status, expiring, revoke, rotate, renew, validate.
    #[command(subcommand)]
    Certs(security_cmd::CertsCmd),
    /// The cluster CA: its certificate and revocation list.
    #[command(subcommand)]
    Ca(security_cmd::CaCmd),
    /// The audit log: denials, authentication failures, certificate and ACL changes.
    #[command(subcommand)]
    Audit(security_cmd::AuditCmd),
    /// Security at a glance: status, health, metrics, backup and restore.
    #[command(subcommand)]
    Security(security_cmd::SecurityCmd),
    /// WebAssembly ETL modules: deploy, list, describe, remove; test one on sample records.
    #[command(subcommand)]
    Etl(etl_cmd::EtlCmd),
    /// Show what a rebalance would move (per broker and per partition), or start one.
    Rebalance {
        /// Start it and wait until it finished.
        #[arg(long)]
        execute: bool,
    },
}

#[derive(Subcommand, Debug)]
enum BrokersCmd {
    /// Registered brokers with rack and endpoints.
    List,
    /// Move every replica off a broker (before decommissioning it or shrinking the
    /// StatefulSet): new replicas catch up, then leadership and the old replicas move away.
    Drain {
        /// Broker id.
        id: u32,
        /// Stop draining instead (the broker may get new replicas again).
        #[arg(long)]
        cancel: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ControllersCmd {
    /// Controllers with their role (leader, voter, learner) and address.
    List,
    /// Add a voter: it catches up with the log as a learner, then votes. Start the new
    /// controller first, with a peer list that includes itself.
    Add {
        /// controller-<n>
        id: String,
        /// Its internal RPC (Raft) address, host:port.
        address: String,
    },
    /// Remove a controller from the cluster (stop its process afterwards).
    Remove {
        /// controller-<n>
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum GroupCmd {
    /// List groups with their state and total lag.
    List,
    /// Members, assignment, committed offsets and lag of a group.
    Describe {
        group: String,
        /// Show it again every this long (e.g. `2s`) until Ctrl-C.
        #[arg(long, value_parser = humantime::parse_duration)]
        watch: Option<std::time::Duration>,
    },
    /// Move a group's committed offsets (the group must have no active members). Prints the
    /// plan; applies it only with --execute.
    ResetOffsets {
        group: String,
        #[arg(long)]
        topic: String,
        #[arg(long, group = "to")]
        to_earliest: bool,
        #[arg(long, group = "to")]
        to_latest: bool,
        /// Milliseconds since the epoch, or an RFC 3339 time.
        #[arg(long, group = "to")]
        to_timestamp: Option<String>,
        /// Apply the plan.
        #[arg(long)]
        execute: bool,
    },
}

#[derive(Subcommand, Debug)]
enum TopicCmd {
    /// Create a topic.
    Create {
        name: String,
        #[arg(long, short = 'p')]
        partitions: u32,
        #[arg(long, short = 'r', default_value_t = 1)]
        replication_factor: u32,
        /// Topic setting, repeatable: retention.ms, retention.bytes, segment.bytes,
        /// compression.type, max.message.bytes.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// List topics.
    List,
    /// Show a topic's settings and partitions.
    Describe {
        name: String,
        /// Show it again every this long (e.g. `2s`) until Ctrl-C.
        #[arg(long, value_parser = humantime::parse_duration)]
        watch: Option<std::time::Duration>,
    },
    /// Delete a topic.
    Delete { name: String },
    /// Add partitions and/or change settings: `--config` keys are set, `--delete-config`
    /// keys return to their defaults, the others stay (partitions only grow).
    Alter {
        name: String,
        #[arg(long, short = 'p')]
        partitions: Option<u32>,
        /// Topic setting to set, repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Topic setting to remove, repeatable.
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
    },
    /// Move a partition to new replicas (broker ids, preferred leader first). Uploaded data
    /// moves by metadata only; new replicas copy the unuploaded tail and join the ISR, then
    /// the old replicas leave.
    Reassign {
        name: String,
        #[arg(long)]
        partition: u32,
        /// Comma-separated broker ids, e.g. 2,3,1.
        #[arg(long, value_delimiter = ',', required = true)]
        replicas: Vec<u32>,
    },
}

fn main() -> std::process::ExitCode {
    common::run_tool(run_main)
}

fn run_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    rustmq_transport::process::block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    common::init_telemetry("rustmq-admin")?;
    let https = cli.api_url.starts_with("https://");
    let api = Api {
        base: cli.api_url.trim_end_matches('/').to_string(),
        http: admin_api::ApiAuth {
            ca: cli
                .admin_ca
                .clone()
                .or_else(|| cli.ca_cert.clone().filter(|_| https)),
            cert: cli.admin_cert.clone(),
            key: cli.admin_key.clone(),
            token: cli.token.clone(),
        }
        .client()?,
    };
    let out = Out::new(cli.format, cli.no_color);
    match cli.cmd {
        Cmd::Topic(TopicCmd::Create {
            name,
            partitions,
            replication_factor,
            configs,
        }) => create_topic(&api, &name, partitions, replication_factor, &configs).await,
        Cmd::CreateTopic {
            name,
            partitions,
            replication_factor,
        } => {
            create_topic(
                &api,
                &name,
                partitions,
                replication_factor.unwrap_or(1),
                &[],
            )
            .await
        }
        Cmd::Topic(TopicCmd::List) | Cmd::ListTopics => list_topics(&api, out).await,
        Cmd::Topic(TopicCmd::Describe { name, watch }) => {
            progress::watch(watch, async || describe_topic(&api, &name, out).await).await
        }
        Cmd::DescribeTopic { name } => describe_topic(&api, &name, out).await,
        Cmd::Topic(TopicCmd::Delete { name }) | Cmd::DeleteTopic { name } => {
            api.say(
                reqwest::Method::DELETE,
                &format!("/api/v1/topics/{name}"),
                None::<&()>,
            )
            .await
        }
        Cmd::Produce {
            topic,
            key,
            partition,
        } => produce(&cli.brokers, &cli.ca_cert, &topic, key, partition).await,
        Cmd::Consume {
            topic,
            from_beginning,
            max_messages,
            group: Some(group),
            ..
        } => {
            consume_group(
                &cli.brokers,
                &cli.ca_cert,
                &topic,
                &group,
                from_beginning,
                max_messages,
                cli.format,
            )
            .await
        }
        Cmd::Consume {
            topic,
            from_beginning,
            max_messages,
            partition,
            group: None,
        } => {
            consume(
                &cli.brokers,
                &cli.ca_cert,
                &topic,
                from_beginning,
                max_messages,
                partition,
                cli.format,
            )
            .await
        }
        Cmd::Storage => storage(&api, out).await,
        Cmd::Scaling(day2::ScalingCmd::AddBrokers { count, timeout }) => {
            day2::add_brokers(&api, count, timeout).await
        }
        Cmd::Scaling(day2::ScalingCmd::RemoveBrokers { ids, timeout }) => {
            day2::remove_brokers(&api, &ids, timeout).await
        }
        Cmd::Operations(day2::OperationsCmd::RollingUpgrade {
            version,
            restart_command,
            min_isr,
            timeout,
        }) => {
            day2::rolling_upgrade(&api, &version, restart_command.as_deref(), min_isr, timeout)
                .await
        }
        Cmd::Operations(day2::OperationsCmd::Status) => day2::status(&api, out).await,
        Cmd::Rebalance { execute } => day2::rebalance(&api, execute, out).await,
        Cmd::Acl(c) => security_cmd::acl(&api, c, out).await,
        Cmd::Certs(c) => security_cmd::certs(&api, c, out).await,
        Cmd::Ca(c) => security_cmd::ca(&api, c, out).await,
        Cmd::Audit(c) => security_cmd::audit(&api, c, out).await,
        Cmd::Security(c) => security_cmd::security(&api, c, out).await,
        Cmd::Etl(c) => etl_cmd::etl(&api, c, out).await,
        Cmd::Group(GroupCmd::List) => list_groups(&api, out).await,
        Cmd::Group(GroupCmd::Describe { group, watch }) => {
            progress::watch(watch, async || describe_group(&api, &group, out).await).await
        }
        Cmd::ClusterHealth {
            expect_brokers,
            wait,
            watch,
        } => {
            progress::watch(watch, async || {
                cluster_health(&api, out, expect_brokers, wait).await
            })
            .await
        }
        Cmd::Brokers(BrokersCmd::List) => list_brokers(&api, out).await,
        Cmd::Controllers(ControllersCmd::List) => list_controllers(&api, out).await,
        Cmd::Topic(TopicCmd::Alter {
            name,
            partitions,
            configs,
            delete_configs,
        }) => {
            let config = if configs.is_empty() && delete_configs.is_empty() {
                None
            } else {
                // The API replaces the whole config: start from the topic's.
                let current: TopicView = api.get(&format!("/api/v1/topics/{name}")).await?;
                let mut entries = current.config.entries();
                for key in &delete_configs {
                    entries.remove(key);
                }
                for kv in &configs {
                    let (k, v) = kv
                        .split_once('=')
                        .with_context(|| format!("--config {kv}: expected KEY=VALUE"))?;
                    entries.insert(k.to_string(), v.to_string());
                }
                Some(entries)
            };
            let body = AlterTopicRequest { partitions, config };
            let t: TopicView = api
                .call(
                    reqwest::Method::PATCH,
                    &format!("/api/v1/topics/{name}"),
                    Some(&body),
                )
                .await?;
            println!(
                "Topic '{}': {} partitions, config {:?}",
                t.name,
                t.partitions,
                t.config.entries()
            );
            Ok(())
        }
        Cmd::Topic(TopicCmd::Reassign {
            name,
            partition,
            replicas,
        }) => {
            let body = ReassignRequest {
                partitions: vec![ReassignPartition {
                    partition,
                    replicas,
                }],
            };
            api.say(
                reqwest::Method::POST,
                &format!("/api/v1/topics/{name}/reassign"),
                Some(&body),
            )
            .await
        }
        Cmd::Brokers(BrokersCmd::Drain { id, cancel }) => {
            let method = if cancel {
                reqwest::Method::DELETE
            } else {
                reqwest::Method::POST
            };
            let path = format!("/api/v1/brokers/{id}/drain");
            if cancel {
                api.say(method, &path, None::<&()>).await?;
            } else {
                let moving: usize = api.call(method, &path, None::<&()>).await?;
                println!("broker-{id} is draining: {moving} partition replicas are moving");
            }
            Ok(())
        }
        Cmd::Controllers(ControllersCmd::Add { id, address }) => {
            api.say(
                reqwest::Method::POST,
                "/api/v1/controllers",
                Some(&AddControllerRequest { id, address }),
            )
            .await
        }
        Cmd::Controllers(ControllersCmd::Remove { id }) => {
            api.say(
                reqwest::Method::DELETE,
                &format!("/api/v1/controllers/{id}"),
                None::<&()>,
            )
            .await
        }
        Cmd::Group(GroupCmd::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_timestamp,
            execute,
        }) => {
            let target = match (to_earliest, to_latest, to_timestamp) {
                (true, _, _) => rustmq_protocol::EARLIEST_TIMESTAMP,
                (_, true, _) => rustmq_protocol::LATEST_TIMESTAMP,
                (_, _, Some(ts)) => parse_timestamp(&ts)?,
                _ => bail!("say where to: --to-earliest, --to-latest or --to-timestamp"),
            };
            reset_offsets(
                &cli.brokers,
                &cli.ca_cert,
                &group,
                &topic,
                target,
                execute,
                out,
            )
            .await
        }
        Cmd::Health => {
            let resp: HealthResponse = api.get_raw("/health").await?;
            let mut t = Tab::new(&["COMPONENT", "HEALTHY", "DETAIL"]).titled(format!(
                "Status: {}  Version: {}  Leader: {}  Term: {}  Uptime: {} s",
                resp.status, resp.version, resp.is_leader, resp.raft_term, resp.uptime_seconds
            ));
            for c in &resp.components {
                t.toned_row(vec![
                    (c.name.clone(), Tone::Plain),
                    (c.healthy.to_string(), good_if(c.healthy)),
                    (c.detail.clone(), Tone::Plain),
                ]);
            }
            out.print(&resp, &[t])
        }
    }
}

async fn create_topic(
    api: &Api,
    name: &str,
    partitions: u32,
    rf: u32,
    configs: &[String],
) -> anyhow::Result<()> {
    let mut config = BTreeMap::new();
    for c in configs {
        let (k, v) = c
            .split_once('=')
            .with_context(|| format!("--config expects KEY=VALUE, got '{c}'"))?;
        config.insert(k.to_string(), v.to_string());
    }
    let body = CreateTopicRequest {
        name: name.to_string(),
        partitions,
        replication_factor: rf,
        retention_ms: None,
        retention_bytes: None,
        segment_bytes: None,
        compression_type: None,
        config,
    };
    api.say(reqwest::Method::POST, "/api/v1/topics", Some(&body))
        .await
}

async fn list_topics(api: &Api, out: Out) -> anyhow::Result<()> {
    let data: Vec<TopicView> = api.get("/api/v1/topics").await?;
    let mut t = Tab::new(&["NAME", "PARTITIONS", "REPLICATION", "CREATED"]);
    for topic in &data {
        t.row([
            topic.name.clone(),
            topic.partitions.to_string(),
            topic.replication_factor.to_string(),
            topic.created_at.clone(),
        ]);
    }
    out.print(&data, &[t])
}

async fn storage(api: &Api, out: Out) -> anyhow::Result<()> {
    let data: StorageResponse = api.get("/api/v1/storage").await?;
    let mut t = Tab::new(&["SECTION", "KEY", "VALUE"]);
    // One row per field, named as the JSON names it.
    let sections = [
        ("broker", serde_json::to_value(&data.broker)?),
        ("catalog", serde_json::to_value(&data.catalog)?),
    ];
    for (section, fields) in &sections {
        for (k, v) in fields.as_object().into_iter().flatten() {
            t.row([section.to_string(), k.clone(), text(v)]);
        }
    }
    out.print(&data, &[t])
}

fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_string()
}

async fn describe_topic(api: &Api, name: &str, out: Out) -> anyhow::Result<()> {
    let data: TopicView = api.get(&format!("/api/v1/topics/{name}")).await?;
    let mut t = Tab::new(&[
        "PARTITION",
        "LEADER",
        "REPLICAS",
        "ISR",
        "LEADER EPOCH",
        "STATUS",
    ])
    .titled(format!(
        "Topic: {}  Partitions: {}  ReplicationFactor: {}  UnderReplicated: {}  Config: {}",
        data.name,
        data.partitions,
        data.replication_factor,
        data.under_replicated_partitions,
        serde_json::to_string(&data.config)?
    ));
    for p in &data.partition_assignments {
        t.row([
            p.partition.to_string(),
            p.leader.clone(),
            p.replicas.join(","),
            p.in_sync_replicas.join(","),
            p.leader_epoch.to_string(),
            match &p.target_replicas {
                Some(target) => format!("moving to {}", target.join(",")),
                None if p.under_replicated => "under-replicated".into(),
                None => "ok".into(),
            },
        ]);
    }
    out.print(&data, &[t])
}

async fn list_groups(api: &Api, out: Out) -> anyhow::Result<()> {
    let data: Vec<GroupView> = api.get("/api/v1/groups").await?;
    let mut t = Tab::new(&["GROUP", "STATE", "GENERATION", "MEMBERS", "LAG"]);
    for g in &data {
        t.row([
            g.group_id.clone(),
            g.state.clone(),
            g.generation.to_string(),
            g.members.len().to_string(),
            g.total_lag.to_string(),
        ]);
    }
    out.print(&data, &[t])
}

async fn describe_group(api: &Api, group: &str, out: Out) -> anyhow::Result<()> {
    let data: GroupView = api.get(&format!("/api/v1/groups/{group}")).await?;
    let mut members = Tab::new(&["MEMBER", "INSTANCE", "PARTITIONS"]).titled(format!(
        "Group: {}  State: {}  Generation: {}  Assignor: {}  Total lag: {}",
        data.group_id,
        data.state,
        data.generation,
        or_dash(data.assignor.as_deref()),
        data.total_lag
    ));
    for m in &data.members {
        let parts: Vec<String> = m
            .assignment
            .iter()
            .map(|p| format!("{}/{}", p.topic, p.partition))
            .collect();
        members.row([
            m.member_id.clone(),
            or_dash(m.group_instance_id.as_deref()),
            parts.join(","),
        ]);
    }
    let mut offsets = Tab::new(&["TOPIC", "PARTITION", "COMMITTED", "HIGH WATERMARK", "LAG"]);
    for o in &data.offsets {
        offsets.row([
            o.topic.clone(),
            o.partition.to_string(),
            o.committed_offset.to_string(),
            o.high_watermark.to_string(),
            o.lag.to_string(),
        ]);
    }
    out.print(&data, &[members, offsets])
}

fn good_if(ok: bool) -> Tone {
    if ok { Tone::Good } else { Tone::Bad }
}

/// `cluster-health`: the controller answering, the Raft leader and term, controllers and
/// brokers. Fails (exit 1) when the cluster has no leader, so scripts can use it.
/// Why the cluster is not (yet) healthy, if it is not.
fn unhealthy_reason(cluster: &ClusterView, expect_brokers: usize) -> Option<String> {
    let online = cluster.brokers.iter().filter(|b| b.online).count();
    if !cluster.healthy {
        Some("the cluster has no controller leader".into())
    } else if online < expect_brokers {
        Some(format!(
            "{online} of the {expect_brokers} expected brokers are registered and online"
        ))
    } else {
        None
    }
}

async fn cluster_health(
    api: &Api,
    out: Out,
    expect_brokers: usize,
    wait: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let deadline = wait.map(|w| std::time::Instant::now() + w);
    let (health, cluster, why) = loop {
        // While waiting, a controller that is not up yet is one more reason to ask again.
        let asked: anyhow::Result<(HealthResponse, ClusterView)> = async {
            Ok((
                api.get_raw("/health").await?,
                api.get("/api/v1/cluster").await?,
            ))
        }
        .await;
        let waiting = deadline.is_some_and(|d| std::time::Instant::now() < d);
        match asked {
            Ok((health, cluster)) => {
                let why = unhealthy_reason(&cluster, expect_brokers);
                if why.is_none() || !waiting {
                    break (health, cluster, why);
                }
            }
            Err(e) if !waiting => return Err(e),
            Err(_) => {}
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    let healthy = why.is_none();
    let title = format!(
        "Cluster: {}  Id: {}  Leader: {}  Term: {}  Topics: {}  (answered by {}, {}, up {} s)",
        if healthy { "healthy" } else { "unhealthy" },
        cluster.cluster_id,
        or_dash(cluster.leader.as_deref()),
        cluster.term,
        cluster.topics.len(),
        api.base,
        health.status,
        health.uptime_seconds,
    );
    let mut controllers = Tab::new(&["CONTROLLER", "ROLE", "ADDRESS"]).titled(title);
    for c in &cluster.controllers {
        controllers.toned_row(vec![
            (c.id.clone(), Tone::Plain),
            (c.role.clone(), role_tone(&c.role)),
            (c.address.clone(), Tone::Plain),
        ]);
    }
    let brokers = broker_tab(&cluster.brokers);
    let data = json!({"health": health, "cluster": cluster});
    out.print(&data, &[controllers, brokers])?;
    match why {
        Some(why) => bail!("{why}"),
        None => Ok(()),
    }
}

/// A learner is still catching up: not an alarm, not yet a voter.
fn role_tone(role: &str) -> Tone {
    if role == "learner" {
        Tone::Plain
    } else {
        Tone::Good
    }
}

fn broker_tab(brokers: &[BrokerSummary]) -> Tab {
    let mut t = Tab::new(&["BROKER", "HOST", "QUIC", "RPC", "RACK", "ONLINE"]);
    for b in brokers {
        t.toned_row(vec![
            (b.id.clone(), Tone::Plain),
            (b.host.clone(), Tone::Plain),
            (b.port_quic.to_string(), Tone::Plain),
            (b.port_rpc.to_string(), Tone::Plain),
            (b.rack_id.clone(), Tone::Plain),
            (b.online.to_string(), good_if(b.online)),
        ]);
    }
    t
}

async fn list_brokers(api: &Api, out: Out) -> anyhow::Result<()> {
    let data: Vec<BrokerSummary> = api.get("/api/v1/brokers").await?;
    out.print(&data, &[broker_tab(&data)])
}

async fn list_controllers(api: &Api, out: Out) -> anyhow::Result<()> {
    let data: Vec<ControllerView> = api.get("/api/v1/controllers").await?;
    let mut t = Tab::new(&["CONTROLLER", "NODE ID", "ROLE", "ADDRESS"]);
    for c in &data {
        t.toned_row(vec![
            (c.id.clone(), Tone::Plain),
            (c.node_id.to_string(), Tone::Plain),
            (c.role.clone(), role_tone(&c.role)),
            (c.address.clone(), Tone::Plain),
        ]);
    }
    out.print(&data, &[t])
}

fn parse_timestamp(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        if ms < 0 {
            bail!("--to-timestamp must not be negative");
        }
        return Ok(ms);
    }
    let t = humantime::parse_rfc3339_weak(s).with_context(|| {
        format!("--to-timestamp '{s}' is neither milliseconds nor an RFC 3339 time")
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64)
}

async fn reset_offsets(
    brokers: &str,
    ca: &Option<PathBuf>,
    group: &str,
    topic: &str,
    target: i64,
    execute: bool,
    out: Out,
) -> anyhow::Result<()> {
    let client = common::connect(brokers, ca).await?;
    let partitions = client.partition_count(topic).await?;
    let mut plan = Vec::new();
    for p in 0..partitions {
        let mut o = client.list_offset(topic, p, target).await?;
        if o < 0 {
            // Nothing at or after the timestamp: the end of the partition.
            o = client
                .list_offset(topic, p, rustmq_protocol::LATEST_TIMESTAMP)
                .await?;
        }
        plan.push((topic.to_string(), p, o));
    }
    let mut t = Tab::new(&["TOPIC", "PARTITION", "NEW OFFSET"]);
    for (topic, p, o) in &plan {
        t.row([topic.clone(), p.to_string(), o.to_string()]);
    }
    let data: Vec<_> = plan
        .iter()
        .map(|(topic, p, o)| json!({"topic": topic, "partition": p, "offset": o}))
        .collect();
    out.print(&data, &[t])?;
    // Status lines go to stderr: stdout stays parseable in every format.
    if execute {
        client
            .commit_offsets(group, None, &plan)
            .await
            .with_context(|| format!("resetting offsets of group {group}"))?;
        eprintln!("offsets of group {group} reset");
    } else {
        eprintln!("dry run: add --execute to apply");
    }
    Ok(())
}

async fn produce(
    brokers: &str,
    ca: &Option<PathBuf>,
    topic: &str,
    key: Option<String>,
    partition: Option<u32>,
) -> anyhow::Result<()> {
    let client = common::connect(brokers, ca).await?;
    let producer = client.create_producer(topic).await?;
    let mut pending = Vec::new();
    let sent = progress::counter(&format!("producing to {topic}"), None);
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading standard input")?;
        let mut b = Message::builder().topic(topic).payload(line);
        if let Some(k) = &key {
            b = b.key(k.clone());
        }
        if let Some(p) = partition {
            b = b.partition(p);
        }
        pending.push(producer.send_async(b.build()?).await?);
        sent.inc(1);
    }
    let n = pending.len();
    sent.finish_and_clear();
    let acked = progress::counter("acknowledged", Some(n as u64));
    for f in pending {
        f.await.context("a message was not acknowledged")?;
        acked.inc(1);
    }
    acked.finish_and_clear();
    producer.close().await?;
    eprintln!("produced {n} messages to {topic}");
    Ok(())
}

fn print_message(
    out: &mut impl Write,
    m: &rustmq_client::ConsumedMessage,
    format: Format,
) -> anyhow::Result<()> {
    let v = json!({
        "partition": m.partition,
        "offset": m.offset,
        "timestamp": m.timestamp,
        "key": m.key.as_ref().map(|k| String::from_utf8_lossy(k).to_string()),
        "value": String::from_utf8_lossy(&m.payload),
    });
    match format {
        Format::Json => writeln!(out, "{v}")?,
        Format::Yaml => write!(out, "---\n{}", serde_norway::to_string(&v)?)?,
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut *out);
            w.write_record([
                m.partition.to_string(),
                m.offset.to_string(),
                m.timestamp.to_string(),
                text(&v["key"]),
                text(&v["value"]),
            ])?;
            w.flush()?;
        }
        Format::Table => writeln!(out, "{}", String::from_utf8_lossy(&m.payload))?,
    }
    out.flush()?;
    Ok(())
}

async fn consume_group(
    brokers: &str,
    ca: &Option<PathBuf>,
    topic: &str,
    group: &str,
    from_beginning: bool,
    max: Option<u64>,
    format: Format,
) -> anyhow::Result<()> {
    let client = common::connect(brokers, ca).await?;
    let config = rustmq_client::GroupConfig {
        enable_auto_commit: false,
        consumer: rustmq_client::ConsumerConfig {
            start_position: if from_beginning {
                StartPosition::Earliest
            } else {
                StartPosition::Latest
            },
            fetch_max_wait: std::time::Duration::from_millis(200),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut consumer = client.create_group_consumer(topic, group, config).await?;
    let mut out = std::io::stdout().lock();
    let mut n = 0u64;
    let bar = progress::counter("consumed", max);
    while max.is_none_or(|m| n < m) {
        let Some(m) = until_ctrl_c(consumer.receive()).await else {
            break;
        };
        let Some(m) = m? else { break };
        bar.suspend(|| print_message(&mut out, &m.message, format))?;
        bar.inc(1);
        // Acknowledged only once printed: the commit covers exactly what was shown.
        m.ack().await?;
        n += 1;
        if n.is_multiple_of(100) {
            consumer.commit().await?;
        }
    }
    bar.finish_and_clear();
    consumer
        .close()
        .await
        .context("committing what was printed")?;
    Ok(())
}

async fn consume(
    brokers: &str,
    ca: &Option<PathBuf>,
    topic: &str,
    from_beginning: bool,
    max: Option<u64>,
    partition: Option<u32>,
    format: Format,
) -> anyhow::Result<()> {
    let client = common::connect(brokers, ca).await?;
    let mut b = client.consumer(topic).start_position(if from_beginning {
        StartPosition::Earliest
    } else {
        StartPosition::Latest
    });
    if let Some(p) = partition {
        b = b.partitions(vec![p]);
    }
    let mut consumer = b.build().await?;
    let mut out = std::io::stdout().lock();
    let mut n = 0u64;
    let bar = progress::counter("consumed", max);
    while max.is_none_or(|m| n < m) {
        let Some(m) = until_ctrl_c(consumer.receive()).await else {
            break;
        };
        let m = m?;
        bar.suspend(|| print_message(&mut out, &m, format))?;
        bar.inc(1);
        n += 1;
    }
    bar.finish_and_clear();
    Ok(())
}

/// `next`'s output, or None once the user pressed Ctrl-C.
async fn until_ctrl_c<T>(next: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        v = next => Some(v),
        _ = tokio::signal::ctrl_c() => None,
    }
}
