//! The consumer-group coordinator.
//!
//! Owns: group membership, generations, rebalances, and the check that a commit comes from
//! the current generation (zombie fencing). Committed offsets themselves live in the
//! controller's Raft state; the coordinator validates and proposes them. Never: reads or
//! writes partition data.
//!
//! Protocol, as Kafka's classic group protocol but with the assignment computed here:
//! members `JoinGroup` (the coordinator waits until every known member has rejoined or the
//! rebalance timeout passes, then starts a new generation), `SyncGroup` to learn their
//! partitions, `Heartbeat` to stay in the group (answered `REBALANCE_IN_PROGRESS` when they
//! must rejoin), `LeaveGroup` to go at once. With `cooperative-sticky`, partitions that move
//! are withheld for one generation until their previous owner has released them, after which
//! a follow-up rebalance hands them over.

pub mod assignor;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustmq_controller::Controller;
use rustmq_controller::metadata::{GroupOffsets, OffsetCommit};
use rustmq_protocol::proto::{self, ErrorCode};
use tokio::sync::{Mutex, Notify, watch};
use tokio::time::Instant;

use assignor::{Assignor, Subscription, TopicPartition};

/// Shortest session timeout accepted.
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest session timeout accepted.
pub const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Longest rebalance timeout accepted.
pub const MAX_REBALANCE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Longest group id.
pub const MAX_GROUP_ID_LEN: usize = 255;

/// Where a group is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for members to rejoin.
    PreparingRebalance,
    /// A generation is running.
    Stable,
}

impl GroupState {
    /// Name as the admin API shows it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::Stable => "Stable",
        }
    }
}

#[derive(Debug, Clone)]
struct Member {
    instance_id: Option<String>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    topics: BTreeSet<String>,
    owned: BTreeSet<TopicPartition>,
    last_seen: Instant,
    synced_generation: i32,
}

#[derive(Debug)]
struct Group {
    state: GroupState,
    generation: i32,
    assignor: Option<Assignor>,
    members: BTreeMap<String, Member>,
    leader: Option<String>,
    assignment: BTreeMap<String, BTreeSet<TopicPartition>>,
    /// Members that rejoined in the current round.
    joined: BTreeSet<String>,
    round_deadline: Instant,
    /// A round that starts from an empty group does not complete before this, so members
    /// starting together land in one generation.
    round_earliest: Instant,
    /// Bumped whenever a round completes; joiners wait for it.
    rounds: watch::Sender<u64>,
    /// Partitions withheld in this generation; a follow-up rebalance hands them over.
    followup: bool,
}

impl Group {
    fn new() -> Self {
        Self {
            state: GroupState::Empty,
            generation: 0,
            assignor: None,
            members: BTreeMap::new(),
            leader: None,
            assignment: BTreeMap::new(),
            joined: BTreeSet::new(),
            round_deadline: Instant::now(),
            round_earliest: Instant::now(),
            rounds: watch::channel(0).0,
            followup: false,
        }
    }

    fn start_rebalance(&mut self, initial_delay: Duration) {
        if self.state == GroupState::PreparingRebalance {
            return;
        }
        let now = Instant::now();
        self.round_earliest = if self.state == GroupState::Empty {
            now + initial_delay
        } else {
            now
        };
        self.state = GroupState::PreparingRebalance;
        self.joined.clear();
        let wait = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        self.round_deadline = (now + wait).max(self.round_earliest);
    }

    fn round_ready(&self, now: Instant) -> bool {
        self.state == GroupState::PreparingRebalance
            && ((self.members.keys().all(|m| self.joined.contains(m))
                && now >= self.round_earliest)
                || now >= self.round_deadline)
    }
}

/// A snapshot of a group for the admin API.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// State.
    pub state: GroupState,
    /// Current generation.
    pub generation: i32,
    /// Assignor in use.
    pub assignor: Option<&'static str>,
    /// Leader member id.
    pub leader: Option<String>,
    /// Members: id, static instance id, assigned partitions.
    pub members: Vec<(String, Option<String>, Vec<TopicPartition>)>,
}

/// The coordinator of every group on this broker.
pub struct GroupCoordinator {
    controller: Arc<Controller>,
    broker_id: u32,
    initial_delay: Duration,
    groups: parking_lot::Mutex<HashMap<String, Arc<Mutex<Group>>>>,
    changed: Notify,
    next_member: AtomicU64,
}

/// Result type of the group APIs: a typed error code and a message.
pub type GroupResult<T> = Result<T, (ErrorCode, String)>;

fn err<T>(code: ErrorCode, msg: impl Into<String>) -> GroupResult<T> {
    Err((code, msg.into()))
}

fn tp_list(set: &BTreeSet<TopicPartition>) -> Vec<proto::TopicPartitions> {
    let mut by_topic: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (t, p) in set {
        by_topic.entry(t).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(t, ps)| proto::TopicPartitions {
            topic: t.to_string(),
            partitions: ps,
        })
        .collect()
}

impl GroupCoordinator {
    /// A coordinator proposing commits through `controller`. A group that goes from empty to
    /// rebalancing waits `initial_delay` for more members before its first generation.
    pub fn new(controller: Arc<Controller>, broker_id: u32, initial_delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            controller,
            broker_id,
            initial_delay,
            groups: parking_lot::Mutex::new(HashMap::new()),
            changed: Notify::new(),
            next_member: AtomicU64::new(1),
        })
    }

    /// The broker that coordinates `group`: among the live brokers of the replicated
    /// metadata, ordered by id, the one at murmur2(group) modulo their count. Every broker
    /// computes the same answer; when brokers come or go, groups move and their members
    /// rejoin at the new coordinator (offsets live in the controllers, so nothing is lost).
    pub fn coordinator_of(
        &self,
        group: &str,
    ) -> Option<rustmq_controller::metadata::BrokerRegistration> {
        let md = self.controller.metadata();
        let live: Vec<_> = md.live_brokers().collect();
        if live.is_empty() {
            return None;
        }
        let h = (rustmq_protocol::partitioner::murmur2(group.as_bytes()) & 0x7fff_ffff) as usize;
        Some(live[h % live.len()].clone())
    }

    /// Refuses group requests this broker does not coordinate.
    fn check_coordinator(&self, group: &str) -> GroupResult<()> {
        match self.coordinator_of(group) {
            Some(c) if c.id != self.broker_id => err(
                ErrorCode::NotCoordinator,
                format!(
                    "broker {} does not coordinate group '{group}'; broker {} does (FindCoordinator)",
                    self.broker_id, c.id
                ),
            ),
            _ => Ok(()),
        }
    }

    /// FindCoordinator.
    pub fn find_coordinator(
        &self,
        req: proto::FindCoordinatorRequest,
    ) -> proto::FindCoordinatorResponse {
        if let Err((code, msg)) = Self::validate_group_id(&req.group_id) {
            return proto::FindCoordinatorResponse {
                error_code: code as i32,
                error_message: msg,
                ..Default::default()
            };
        }
        match self.coordinator_of(&req.group_id) {
            Some(b) => proto::FindCoordinatorResponse {
                error_code: ErrorCode::None as i32,
                error_message: String::new(),
                broker_id: b.id,
                host: b.host,
                port: u32::from(b.port_quic),
            },
            None => proto::FindCoordinatorResponse {
                error_code: ErrorCode::BrokerNotAvailable as i32,
                error_message: "no live broker to coordinate the group".into(),
                ..Default::default()
            },
        }
    }

    fn group(&self, id: &str, create: bool) -> Option<Arc<Mutex<Group>>> {
        let mut groups = self.groups.lock();
        match groups.get(id) {
            Some(g) => Some(g.clone()),
            None if create => {
                let g = Arc::new(Mutex::new(Group::new()));
                groups.insert(id.to_string(), g.clone());
                Some(g)
            }
            None => None,
        }
    }

    fn validate_group_id(id: &str) -> GroupResult<()> {
        if id.is_empty() || id.len() > MAX_GROUP_ID_LEN {
            return err(
                ErrorCode::InvalidGroupId,
                format!("group id must be 1 to {MAX_GROUP_ID_LEN} bytes"),
            );
        }
        Ok(())
    }

    fn partition_counts(&self) -> BTreeMap<String, u32> {
        self.controller
            .metadata()
            .topics
            .values()
            .map(|t| (t.name.clone(), t.partitions))
            .collect()
    }

    /// JoinGroup: waits for the rebalance round to complete.
    pub async fn join(
        &self,
        req: proto::JoinGroupRequest,
    ) -> GroupResult<proto::JoinGroupResponse> {
        Self::validate_group_id(&req.group_id)?;
        self.check_coordinator(&req.group_id)?;
        let session = Duration::from_millis(u64::from(req.session_timeout_ms));
        if !(MIN_SESSION_TIMEOUT..=MAX_SESSION_TIMEOUT).contains(&session) {
            return err(
                ErrorCode::InvalidSessionTimeout,
                format!(
                    "session timeout {} ms is outside [{}, {}] ms",
                    req.session_timeout_ms,
                    MIN_SESSION_TIMEOUT.as_millis(),
                    MAX_SESSION_TIMEOUT.as_millis()
                ),
            );
        }
        let rebalance = if req.rebalance_timeout_ms == 0 {
            session
        } else {
            Duration::from_millis(u64::from(req.rebalance_timeout_ms))
        };
        if rebalance > MAX_REBALANCE_TIMEOUT {
            return err(
                ErrorCode::InvalidSessionTimeout,
                format!(
                    "rebalance timeout {} ms is too long",
                    req.rebalance_timeout_ms
                ),
            );
        }
        let Some(assignor) = Assignor::parse(&req.assignor) else {
            return err(
                ErrorCode::InconsistentAssignor,
                format!(
                    "unknown assignor '{}' (range, roundrobin, cooperative-sticky)",
                    req.assignor
                ),
            );
        };
        if req.topics.is_empty() {
            return err(ErrorCode::InvalidRequest, "subscribe to at least one topic");
        }
        let cell = self
            .group(&req.group_id, true)
            .ok_or((ErrorCode::Unknown, String::new()))?;
        let (member_id, mut rounds, my_round) = {
            let mut g = cell.lock().await;
            if let Some(a) = g.assignor
                && a != assignor
                && !g.members.is_empty()
            {
                return err(
                    ErrorCode::InconsistentAssignor,
                    format!(
                        "group uses '{}', member asked for '{}'",
                        a.name(),
                        assignor.name()
                    ),
                );
            }
            let instance_id =
                (!req.group_instance_id.is_empty()).then(|| req.group_instance_id.clone());
            let member_id = if req.member_id.is_empty() {
                // A static member coming back keeps its member id.
                let existing = instance_id.as_ref().and_then(|i| {
                    g.members
                        .iter()
                        .find(|(_, m)| m.instance_id.as_ref() == Some(i))
                        .map(|(id, _)| id.clone())
                });
                existing.unwrap_or_else(|| {
                    format!(
                        "{}-{}",
                        instance_id.as_deref().unwrap_or("member"),
                        self.next_member.fetch_add(1, Ordering::Relaxed)
                    )
                })
            } else if g.members.contains_key(&req.member_id) {
                req.member_id.clone()
            } else {
                return err(
                    ErrorCode::UnknownMemberId,
                    format!(
                        "member {} is not in group {}; join with an empty member id",
                        req.member_id, req.group_id
                    ),
                );
            };
            let topics: BTreeSet<String> = req.topics.iter().cloned().collect();
            let owned: BTreeSet<TopicPartition> = req
                .owned
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| (t.topic.clone(), *p)))
                .collect();
            let previous = g.members.get(&member_id).cloned();
            let unchanged = previous.as_ref().is_some_and(|p| {
                p.topics == topics && g.assignment.get(&member_id).is_some_and(|a| *a == owned)
            });
            g.members.insert(
                member_id.clone(),
                Member {
                    instance_id,
                    session_timeout: session,
                    rebalance_timeout: rebalance,
                    topics,
                    owned,
                    last_seen: Instant::now(),
                    synced_generation: previous.map(|p| p.synced_generation).unwrap_or(-1),
                },
            );
            g.assignor = Some(assignor);
            // A known member rejoining with nothing changed (a static member restarting)
            // keeps the current generation: no rebalance.
            if g.state == GroupState::Stable && unchanged && !g.followup {
                return Ok(self.join_response(&g, &member_id));
            }
            g.start_rebalance(self.initial_delay);
            g.joined.insert(member_id.clone());
            let rounds = g.rounds.subscribe();
            let my_round = *rounds.borrow();
            if g.round_ready(Instant::now()) {
                self.complete_round(&mut g);
            }
            (member_id, rounds, my_round)
        };
        self.changed.notify_waiters();
        // Wait for the round this member joined to complete.
        while *rounds.borrow_and_update() == my_round {
            if rounds.changed().await.is_err() {
                return err(ErrorCode::Unknown, "group removed");
            }
        }
        let g = cell.lock().await;
        if !g.members.contains_key(&member_id) {
            return err(
                ErrorCode::UnknownMemberId,
                "removed from the group during the rebalance",
            );
        }
        Ok(self.join_response(&g, &member_id))
    }

    fn join_response(&self, g: &Group, member_id: &str) -> proto::JoinGroupResponse {
        proto::JoinGroupResponse {
            error_code: ErrorCode::None as i32,
            error_message: String::new(),
            generation_id: g.generation,
            member_id: member_id.to_string(),
            leader_id: g.leader.clone().unwrap_or_default(),
            assignor: g.assignor.map(|a| a.name().to_string()).unwrap_or_default(),
            members: g.members.keys().cloned().collect(),
        }
    }

    fn complete_round(&self, g: &mut Group) {
        let joined = g.joined.clone();
        g.members.retain(|id, _| joined.contains(id));
        g.generation += 1;
        g.joined.clear();
        if g.members.is_empty() {
            g.state = GroupState::Empty;
            g.assignment.clear();
            g.leader = None;
            g.followup = false;
        } else {
            let subs: Vec<Subscription> = g
                .members
                .iter()
                .map(|(id, m)| Subscription {
                    member: id.clone(),
                    topics: m.topics.clone(),
                    owned: m.owned.clone(),
                })
                .collect();
            let result = assignor::assign(
                g.assignor.unwrap_or(Assignor::CooperativeSticky),
                &subs,
                &self.partition_counts(),
            );
            g.assignment = result.members;
            g.followup = !result.pending_revocation.is_empty();
            g.leader = g.members.keys().next().cloned();
            g.state = GroupState::Stable;
        }
        tracing::info!(
            generation = g.generation,
            members = g.members.len(),
            "group rebalanced"
        );
        g.rounds.send_modify(|r| *r += 1);
    }

    /// SyncGroup: the member's partitions in this generation.
    pub async fn sync(
        &self,
        req: proto::SyncGroupRequest,
    ) -> GroupResult<proto::SyncGroupResponse> {
        self.check_coordinator(&req.group_id)?;
        let cell = self.known_group(&req.group_id)?;
        let mut g = cell.lock().await;
        Self::check_member(&g, &req.member_id, req.generation_id)?;
        let assignment = g
            .assignment
            .get(&req.member_id)
            .cloned()
            .unwrap_or_default();
        let generation = g.generation;
        if let Some(m) = g.members.get_mut(&req.member_id) {
            m.synced_generation = generation;
            m.last_seen = Instant::now();
            m.owned = assignment.clone();
        }
        // Once every member holds only its new assignment, withheld partitions can move.
        if g.followup
            && g.members
                .values()
                .all(|m| m.synced_generation == generation)
        {
            g.followup = false;
            g.start_rebalance(self.initial_delay);
        }
        Ok(proto::SyncGroupResponse {
            error_code: ErrorCode::None as i32,
            error_message: String::new(),
            assignment: tp_list(&assignment),
        })
    }

    fn known_group(&self, id: &str) -> GroupResult<Arc<Mutex<Group>>> {
        Self::validate_group_id(id)?;
        self.group(id, false).ok_or((
            ErrorCode::UnknownMemberId,
            format!("group {id} has no members"),
        ))
    }

    fn check_member(g: &Group, member: &str, generation: i32) -> GroupResult<()> {
        if !g.members.contains_key(member) {
            return err(
                ErrorCode::UnknownMemberId,
                format!("member {member} is not in the group"),
            );
        }
        if g.state == GroupState::PreparingRebalance {
            return err(
                ErrorCode::RebalanceInProgress,
                "the group is rebalancing: rejoin",
            );
        }
        if generation != g.generation {
            return err(
                ErrorCode::IllegalGeneration,
                format!(
                    "generation {generation} is not the current generation {}",
                    g.generation
                ),
            );
        }
        Ok(())
    }

    /// Heartbeat.
    pub async fn heartbeat(&self, req: proto::HeartbeatRequest) -> GroupResult<()> {
        self.check_coordinator(&req.group_id)?;
        let cell = self.known_group(&req.group_id)?;
        let mut g = cell.lock().await;
        if let Some(m) = g.members.get_mut(&req.member_id) {
            m.last_seen = Instant::now();
        }
        Self::check_member(&g, &req.member_id, req.generation_id)
    }

    /// LeaveGroup.
    pub async fn leave(&self, req: proto::LeaveGroupRequest) -> GroupResult<()> {
        self.check_coordinator(&req.group_id)?;
        let cell = self.known_group(&req.group_id)?;
        let mut g = cell.lock().await;
        if g.members.remove(&req.member_id).is_none() {
            return err(
                ErrorCode::UnknownMemberId,
                format!("member {} is not in the group", req.member_id),
            );
        }
        self.after_departure(&mut g);
        drop(g);
        self.changed.notify_waiters();
        Ok(())
    }

    fn after_departure(&self, g: &mut Group) {
        if g.members.is_empty() {
            // Complete any pending round so waiters see an empty group.
            g.joined.clear();
            self.complete_round(g);
        } else if g.state == GroupState::PreparingRebalance {
            if g.round_ready(Instant::now()) {
                self.complete_round(g);
            }
        } else {
            g.start_rebalance(self.initial_delay);
        }
    }

    /// Removes members whose session expired and completes rounds whose deadline passed.
    /// Runs periodically (see [`GroupCoordinator::run`]).
    pub async fn expire(&self) {
        let cells: Vec<Arc<Mutex<Group>>> = self.groups.lock().values().cloned().collect();
        let now = Instant::now();
        for cell in cells {
            let mut g = cell.lock().await;
            let expired: Vec<String> = g
                .members
                .iter()
                .filter(|(id, m)| {
                    now.duration_since(m.last_seen) > m.session_timeout
                        // Members that rejoined this round are waiting, not dead.
                        && !(g.state == GroupState::PreparingRebalance && g.joined.contains(*id))
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                tracing::info!(member = %id, "session expired; removing member");
                g.members.remove(id);
            }
            if !expired.is_empty() {
                self.after_departure(&mut g);
            }
            if g.round_ready(now) {
                self.complete_round(&mut g);
            }
        }
    }

    /// Runs [`GroupCoordinator::expire`] every `tick` until `stop` turns true.
    pub async fn run(self: Arc<Self>, tick: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => self.expire().await,
                _ = stop.changed() => return,
            }
        }
    }

    /// OffsetCommit, fenced by generation: the commit and a rebalance never interleave.
    pub async fn commit(
        &self,
        req: proto::OffsetCommitRequest,
    ) -> GroupResult<proto::OffsetCommitResponse> {
        Self::validate_group_id(&req.group_id)?;
        self.check_coordinator(&req.group_id)?;
        let cell = self
            .group(&req.group_id, true)
            .ok_or((ErrorCode::Unknown, String::new()))?;
        // Held across the Raft write so a rebalance completes only after in-flight commits.
        let g = cell.lock().await;
        if req.generation_id < 0 && req.member_id.is_empty() {
            if !g.members.is_empty() {
                return err(
                    ErrorCode::UnknownMemberId,
                    "the group has active members; only they may commit (stop them to reset offsets)",
                );
            }
        } else {
            if !g.members.contains_key(&req.member_id) {
                return err(
                    ErrorCode::UnknownMemberId,
                    format!("member {} is not in the group", req.member_id),
                );
            }
            if req.generation_id != g.generation {
                return err(
                    ErrorCode::IllegalGeneration,
                    format!(
                        "commit from generation {} refused: the group is at generation {}",
                        req.generation_id, g.generation
                    ),
                );
            }
        }
        let counts = self.partition_counts();
        let mut results = Vec::new();
        let mut valid = Vec::new();
        for t in req.topics {
            for p in t.partitions {
                let code = match counts.get(&t.topic) {
                    None => ErrorCode::UnknownTopic,
                    Some(&n) if p.partition >= n => ErrorCode::UnknownPartition,
                    Some(_) if p.offset < 0 => ErrorCode::InvalidOffset,
                    Some(_) => ErrorCode::None,
                };
                if code == ErrorCode::None {
                    valid.push(OffsetCommit {
                        topic: t.topic.clone(),
                        partition: p.partition,
                        offset: p.offset,
                        metadata: p.metadata,
                    });
                }
                results.push(proto::OffsetCommitPartitionResponse {
                    topic: t.topic.clone(),
                    partition: p.partition,
                    error_code: code as i32,
                    error_message: match code {
                        ErrorCode::None => String::new(),
                        ErrorCode::InvalidOffset => format!("offset {} is negative", p.offset),
                        c => format!("{}/{}: {c:?}", t.topic, p.partition),
                    },
                });
            }
        }
        if !valid.is_empty() {
            self.controller
                .commit_offsets(&req.group_id, valid)
                .await
                .map_err(|e| (ErrorCode::StorageError, e.to_string()))?;
        }
        drop(g);
        Ok(proto::OffsetCommitResponse {
            error_code: ErrorCode::None as i32,
            error_message: String::new(),
            partitions: results,
        })
    }

    /// OffsetFetch: committed offsets (-1 where nothing is committed).
    pub fn fetch_offsets(
        &self,
        req: proto::OffsetFetchRequest,
    ) -> GroupResult<proto::OffsetFetchResponse> {
        Self::validate_group_id(&req.group_id)?;
        let md = self.controller.metadata();
        let committed = md.group_offsets.get(&req.group_id);
        let mut offsets = Vec::new();
        let lookup = |t: &str, p: u32| committed.and_then(|g| g.get(t)).and_then(|ps| ps.get(&p));
        if req.partitions.is_empty() {
            for (t, ps) in committed.into_iter().flatten() {
                for (p, c) in ps {
                    offsets.push(proto::CommittedOffset {
                        topic: t.clone(),
                        partition: *p,
                        offset: c.offset,
                        metadata: c.metadata.clone(),
                        error_code: ErrorCode::None as i32,
                    });
                }
            }
        } else {
            for tps in &req.partitions {
                for &p in &tps.partitions {
                    let c = lookup(&tps.topic, p);
                    offsets.push(proto::CommittedOffset {
                        topic: tps.topic.clone(),
                        partition: p,
                        offset: c.map(|c| c.offset).unwrap_or(-1),
                        metadata: c.map(|c| c.metadata.clone()).unwrap_or_default(),
                        error_code: match md.topics.get(&tps.topic) {
                            None => ErrorCode::UnknownTopic,
                            Some(t) if p >= t.partitions => ErrorCode::UnknownPartition,
                            Some(_) => ErrorCode::None,
                        } as i32,
                    });
                }
            }
        }
        Ok(proto::OffsetFetchResponse {
            error_code: ErrorCode::None as i32,
            offsets,
        })
    }

    /// Every group with members or committed offsets.
    pub async fn list(&self) -> Vec<GroupDescription> {
        let md = self.controller.metadata();
        let mut ids: BTreeSet<String> = md.group_offsets.keys().cloned().collect();
        ids.extend(self.groups.lock().keys().cloned());
        let mut out = Vec::new();
        for id in ids {
            if let Some(d) = self.describe(&id).await {
                out.push(d);
            }
        }
        out
    }

    /// One group, or None when it has neither members nor committed offsets.
    pub async fn describe(&self, id: &str) -> Option<GroupDescription> {
        let has_offsets = self.controller.metadata().group_offsets.contains_key(id);
        let cell = self.group(id, false);
        let Some(cell) = cell else {
            return has_offsets.then(|| GroupDescription {
                group_id: id.to_string(),
                state: GroupState::Empty,
                generation: 0,
                assignor: None,
                leader: None,
                members: vec![],
            });
        };
        let g = cell.lock().await;
        if g.members.is_empty() && !has_offsets {
            return None;
        }
        Some(GroupDescription {
            group_id: id.to_string(),
            state: g.state,
            generation: g.generation,
            assignor: g.assignor.map(|a| a.name()),
            leader: g.leader.clone(),
            members: g
                .members
                .iter()
                .map(|(mid, m)| {
                    (
                        mid.clone(),
                        m.instance_id.clone(),
                        g.assignment
                            .get(mid)
                            .map(|s| s.iter().cloned().collect())
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        })
    }

    /// Committed offsets of a group.
    pub fn committed(&self, id: &str) -> GroupOffsets {
        self.controller
            .metadata()
            .group_offsets
            .get(id)
            .cloned()
            .unwrap_or_default()
    }
}
