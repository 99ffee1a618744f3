//! Low-level consumer-group calls (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch). Errors come back as [`ClientError::Server`] with the coordinator's code:
//! `REBALANCE_IN_PROGRESS` means rejoin, `ILLEGAL_GENERATION` means this member is a zombie of
//! an older generation, `UNKNOWN_MEMBER_ID` means join again with an empty member id.

use std::collections::BTreeMap;
use std::time::Duration;

use rustmq_protocol::ApiKey;
use rustmq_protocol::proto::{self, ErrorCode};

use crate::{ClientError, RustMqClient};

/// A JoinGroup request.
#[derive(Debug, Clone)]
pub struct JoinGroup {
    /// Group id.
    pub group_id: String,
    /// Empty on first join.
    pub member_id: String,
    /// Static membership id (survives restarts without a rebalance).
    pub group_instance_id: Option<String>,
    /// Removed from the group after this long without a heartbeat.
    pub session_timeout: Duration,
    /// How long a rebalance waits for members to rejoin.
    pub rebalance_timeout: Duration,
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// `range`, `roundrobin` or `cooperative-sticky`.
    pub assignor: String,
    /// Partitions owned now.
    pub owned: Vec<(String, u32)>,
}

/// The result of a join: this member's id in the new generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// Generation.
    pub generation: i32,
    /// Member id (keep it for later calls and rejoins).
    pub member_id: String,
    /// Leader member id.
    pub leader: String,
    /// All members.
    pub members: Vec<String>,
}

fn check(code: i32, message: String) -> Result<(), ClientError> {
    match ErrorCode::try_from(code).unwrap_or(ErrorCode::Unknown) {
        ErrorCode::None => Ok(()),
        c => Err(ClientError::Server { code: c, message }),
    }
}

fn flatten(tps: Vec<proto::TopicPartitions>) -> Vec<(String, u32)> {
    tps.into_iter()
        .flat_map(|t| {
            let topic = t.topic;
            t.partitions.into_iter().map(move |p| (topic.clone(), p))
        })
        .collect()
}

fn group_by_topic(items: &[(String, u32)]) -> Vec<proto::TopicPartitions> {
    let mut m: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (t, p) in items {
        m.entry(t).or_default().push(*p);
    }
    m.into_iter()
        .map(|(t, partitions)| proto::TopicPartitions {
            topic: t.to_string(),
            partitions,
        })
        .collect()
}

/// A group API response with a request-level error code.
pub(crate) trait GroupResponse {
    fn error_code(&self) -> i32;
}

macro_rules! group_response {
    ($($t:ty),*) => {$(
        impl GroupResponse for $t {
            fn error_code(&self) -> i32 {
                self.error_code
            }
        }
    )*};
}
group_response!(
    proto::JoinGroupResponse,
    proto::SyncGroupResponse,
    proto::HeartbeatResponse,
    proto::LeaveGroupResponse,
    proto::OffsetCommitResponse
);

impl RustMqClient {
    /// The address of the broker coordinating `group` (cached until it says otherwise).
    async fn coordinator(&self, group: &str) -> Result<String, ClientError> {
        if let Some(a) = self.inner.coordinators.read().get(group) {
            return Ok(a.clone());
        }
        let r: proto::FindCoordinatorResponse = self
            .request_any(
                ApiKey::FindCoordinator,
                &proto::FindCoordinatorRequest {
                    group_id: group.into(),
                },
            )
            .await?;
        check(r.error_code, r.error_message)?;
        let addr = format!("{}:{}", r.host, r.port);
        self.inner
            .coordinators
            .write()
            .insert(group.to_string(), addr.clone());
        Ok(addr)
    }

    /// Sends a group request to the group's coordinator. On `NOT_COORDINATOR` (brokers came
    /// or went, and the group moved) or an unreachable coordinator it asks again and
    /// retries, for up to the request timeout.
    pub(crate) async fn request_group<Req, Resp>(
        &self,
        group: &str,
        api: ApiKey,
        req: &Req,
        timeout: std::time::Duration,
    ) -> Result<Resp, ClientError>
    where
        Req: prost::Message,
        Resp: prost::Message + Default + GroupResponse,
    {
        let deadline = std::time::Instant::now() + self.config().request_timeout;
        loop {
            let outcome = match self.coordinator(group).await {
                Ok(addr) => match self
                    .connection(&addr)
                    .request::<Req, Resp>(api, req, timeout)
                    .await
                {
                    Ok(r) if r.error_code() == ErrorCode::NotCoordinator as i32 => {
                        Err(ClientError::Server {
                            code: ErrorCode::NotCoordinator,
                            message: format!("{addr} no longer coordinates group {group}"),
                        })
                    }
                    other => other,
                },
                Err(e) => Err(e),
            };
            match outcome {
                Err(e) if e.is_retriable() && std::time::Instant::now() < deadline => {
                    self.inner.coordinators.write().remove(group);
                    let _ = self.refresh_metadata(&[]).await;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    /// Joins (or rejoins) a group; returns when the rebalance round completes.
    pub async fn join_group(&self, req: &JoinGroup) -> Result<Joined, ClientError> {
        let r: proto::JoinGroupResponse = self
            .request_group(
                &req.group_id,
                ApiKey::JoinGroup,
                &proto::JoinGroupRequest {
                    group_id: req.group_id.clone(),
                    member_id: req.member_id.clone(),
                    group_instance_id: req.group_instance_id.clone().unwrap_or_default(),
                    session_timeout_ms: req.session_timeout.as_millis().min(u128::from(u32::MAX))
                        as u32,
                    rebalance_timeout_ms: req
                        .rebalance_timeout
                        .as_millis()
                        .min(u128::from(u32::MAX)) as u32,
                    topics: req.topics.clone(),
                    assignor: req.assignor.clone(),
                    owned: group_by_topic(&req.owned),
                },
                // A join waits for the whole rebalance round.
                self.config().request_timeout + req.rebalance_timeout,
            )
            .await?;
        check(r.error_code, r.error_message)?;
        Ok(Joined {
            generation: r.generation_id,
            member_id: r.member_id,
            leader: r.leader_id,
            members: r.members,
        })
    }

    /// This member's partitions in `generation`.
    pub async fn sync_group(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
    ) -> Result<Vec<(String, u32)>, ClientError> {
        let r: proto::SyncGroupResponse = self
            .request_group(
                group_id,
                ApiKey::SyncGroup,
                &proto::SyncGroupRequest {
                    group_id: group_id.into(),
                    member_id: member_id.into(),
                    generation_id: generation,
                },
                self.config().request_timeout,
            )
            .await?;
        check(r.error_code, r.error_message)?;
        Ok(flatten(r.assignment))
    }

    /// Keeps the membership alive; `REBALANCE_IN_PROGRESS` asks the member to rejoin.
    pub async fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
    ) -> Result<(), ClientError> {
        let r: proto::HeartbeatResponse = self
            .request_group(
                group_id,
                ApiKey::Heartbeat,
                &proto::HeartbeatRequest {
                    group_id: group_id.into(),
                    member_id: member_id.into(),
                    generation_id: generation,
                },
                self.config().request_timeout,
            )
            .await?;
        check(r.error_code, r.error_message)
    }

    /// Leaves the group at once (its partitions are reassigned without waiting for the
    /// session timeout).
    pub async fn leave_group(&self, group_id: &str, member_id: &str) -> Result<(), ClientError> {
        let r: proto::LeaveGroupResponse = self
            .request_group(
                group_id,
                ApiKey::LeaveGroup,
                &proto::LeaveGroupRequest {
                    group_id: group_id.into(),
                    member_id: member_id.into(),
                },
                self.config().request_timeout,
            )
            .await?;
        check(r.error_code, r.error_message)
    }

    /// Commits `(topic, partition, next offset)` for a group. Members pass their member id
    /// and generation; `None` commits for a group without active members (offset resets).
    /// Per-partition refusals come back as the first error.
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        member: Option<(&str, i32)>,
        offsets: &[(String, u32, i64)],
    ) -> Result<(), ClientError> {
        let mut topics: BTreeMap<&str, Vec<proto::OffsetCommitPartition>> = BTreeMap::new();
        for (t, p, o) in offsets {
            topics
                .entry(t)
                .or_default()
                .push(proto::OffsetCommitPartition {
                    partition: *p,
                    offset: *o,
                    metadata: String::new(),
                });
        }
        let (member_id, generation_id) = member
            .map(|(m, g)| (m.to_string(), g))
            .unwrap_or((String::new(), -1));
        let r: proto::OffsetCommitResponse = self
            .request_group(
                group_id,
                ApiKey::OffsetCommit,
                &proto::OffsetCommitRequest {
                    group_id: group_id.into(),
                    member_id,
                    generation_id,
                    topics: topics
                        .into_iter()
                        .map(|(t, partitions)| proto::OffsetCommitTopic {
                            topic: t.to_string(),
                            partitions,
                        })
                        .collect(),
                },
                self.config().request_timeout,
            )
            .await?;
        check(r.error_code, r.error_message)?;
        for p in r.partitions {
            check(p.error_code, p.error_message)?;
        }
        Ok(())
    }

    /// Committed offsets of a group (all of them when `partitions` is empty); partitions
    /// without a commit are absent.
    pub async fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, u32)],
    ) -> Result<BTreeMap<(String, u32), i64>, ClientError> {
        let r: proto::OffsetFetchResponse = self
            .request_any(
                ApiKey::OffsetFetch,
                &proto::OffsetFetchRequest {
                    group_id: group_id.into(),
                    partitions: group_by_topic(partitions),
                },
            )
            .await?;
        check(r.error_code, String::from("offset fetch refused"))?;
        let mut out = BTreeMap::new();
        for o in r.offsets {
            check(o.error_code, format!("{}/{}", o.topic, o.partition))?;
            if o.offset >= 0 {
                out.insert((o.topic, o.partition), o.offset);
            }
        }
        Ok(out)
    }
}
