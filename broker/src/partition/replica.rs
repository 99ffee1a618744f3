//! The replica side of a partition: its role, what the leader knows of each follower, ISR
//! changes, follower high watermarks and truncation, and where an acknowledgement stands.

use std::time::Instant;

use super::PartitionLog;
use crate::wal::WalLocation;

/// This broker's role for the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Takes produces and serves consumers and followers.
    #[default]
    Leader,
    /// Copies the leader's log.
    Follower {
        /// The leader's broker id.
        leader: u32,
    },
}

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy)]
pub(super) struct FollowerState {
    /// Its durable log end as of its last fetch (-1: not fetched since this leadership began).
    pub(super) end: i64,
    pub(super) last_fetch: Instant,
    /// Last time its log end reached the leader's.
    pub(super) caught_up: Instant,
    /// The leader's durable end at its previous fetch.
    pub(super) leader_end_then: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct ReplicaSettings {
    /// This broker.
    pub broker_id: u32,
    /// A follower that has not caught up for this long leaves the ISR.
    pub max_lag: std::time::Duration,
    /// A follower that has not fetched for this long leaves the ISR.
    pub fetch_timeout: std::time::Duration,
}

/// How many replicas an acknowledgement needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckNeed {
    /// The leader's WAL.
    Leader,
    /// Every in-sync replica: the high watermark passed the batch.
    All,
    /// This many replicas, leader included.
    Replicas(usize),
}

/// Where an acknowledgement stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckState {
    /// Enough replicas have it.
    Done,
    /// Not yet.
    Waiting,
    /// It can no longer be acknowledged by this broker (leadership moved or the batch was
    /// truncated).
    Lost(String),
}

/// What changed when a partition's assignment was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// Same role and epoch.
    None,
    /// This broker now leads (a new epoch).
    BecameLeader,
    /// This broker now follows (a new leader or epoch).
    BecameFollower,
}

/// A leader's proposed ISR change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    /// The new ISR.
    pub isr: Vec<u32>,
    /// The leader epoch it is based on.
    pub leader_epoch: i32,
    /// The partition epoch it is based on.
    pub partition_epoch: i32,
}

/// A partition's replication figures for health and metrics.
#[derive(Debug, Clone, Default)]
pub struct ReplicationView {
    /// Whether this broker leads it.
    pub leader: bool,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Replicas.
    pub replicas: Vec<u32>,
    /// In-sync replicas.
    pub isr: Vec<u32>,
    /// Offsets the slowest replica is behind this broker's log end (leader only).
    pub max_lag: i64,
    /// Durable log end.
    pub log_end: i64,
    /// High watermark.
    pub high_watermark: i64,
}

impl PartitionLog {
    /// Applies the controllers' view of the partition. A new leader epoch on the leader
    /// resets what it knows of followers (they must fetch again before they count for the
    /// high watermark).
    pub fn set_assignment(
        &self,
        leader: u32,
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: &[u32],
        isr: &[u32],
    ) -> RoleChange {
        let me = self.settings.broker_id;
        let mut s = self.state.lock();
        let role = if leader == me {
            Role::Leader
        } else {
            Role::Follower { leader }
        };
        let changed = role != s.role || leader_epoch != s.leader_epoch;
        s.replicas = replicas.to_vec();
        s.isr = isr.to_vec();
        s.partition_epoch = partition_epoch;
        let out = if !changed {
            RoleChange::None
        } else {
            s.role = role;
            s.leader_epoch = leader_epoch;
            s.followers.clear();
            // What followers were handed before matters only within that epoch: a later
            // epoch's batches at the same offsets are told apart by the epoch check.
            s.replica_served_end = 0;
            if role == Role::Leader {
                s.leading_since = Some(Instant::now());
                RoleChange::BecameLeader
            } else {
                s.leading_since = None;
                RoleChange::BecameFollower
            }
        };
        s.followers.retain(|id, _| replicas.contains(id));
        s.update_hw(me);
        drop(s);
        self.appended.notify_waiters();
        out
    }

    /// Offsets below this are in object storage.
    pub fn uploaded_end(&self) -> i64 {
        self.state.lock().uploaded_end
    }

    /// This broker's role.
    pub fn role(&self) -> Role {
        self.state.lock().role
    }

    /// Whether this broker leads the partition (and has not been fenced by a failed write
    /// of batches its followers already had).
    pub fn is_leader(&self) -> bool {
        self.state.lock().leads()
    }

    /// The leader epoch this broker knows.
    pub fn leader_epoch(&self) -> i32 {
        self.state.lock().leader_epoch
    }

    /// `(durable log end, epoch of the last local batch or -1)`: what a follower fetches from.
    pub fn fetch_position(&self) -> (i64, i32) {
        let s = self.state.lock();
        (
            s.durable_end,
            s.epochs.last().map(|(e, _)| *e).unwrap_or(-1),
        )
    }

    /// In-sync replicas as this broker knows them.
    pub fn isr(&self) -> Vec<u32> {
        self.state.lock().isr.clone()
    }

    /// The end of this log's batches of `epoch`: where the first later epoch begins, or the
    /// log end when no later epoch exists (followers are handed batches before they are
    /// durable here). A follower whose log goes past this with `epoch` as its last epoch
    /// diverges there.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> i64 {
        let s = self.state.lock();
        s.epochs
            .iter()
            .find(|(e, _)| *e > epoch)
            .map(|(_, start)| *start)
            .unwrap_or(s.next_offset)
    }

    /// Leader: a follower fetched from `end` (its durable log end). Updates what the leader
    /// knows of it and the high watermark; returns true when the follower is out of the ISR
    /// but has caught up enough to join it (at the high watermark, within this epoch).
    pub fn follower_fetched(&self, follower: u32, end: i64) -> bool {
        let now = Instant::now();
        let me = self.settings.broker_id;
        let mut s = self.state.lock();
        if s.role != Role::Leader {
            return false;
        }
        let leader_end = s.durable_end;
        let since = s.leading_since.unwrap_or(now);
        let f = s.followers.entry(follower).or_insert(FollowerState {
            end: -1,
            last_fetch: now,
            caught_up: since,
            leader_end_then: leader_end,
        });
        if end >= leader_end {
            f.caught_up = now;
        } else if end >= f.leader_end_then {
            f.caught_up = f.last_fetch;
        }
        f.end = end;
        f.last_fetch = now;
        f.leader_end_then = leader_end;
        let moved = s.update_hw(me);
        let epoch_start = s.epochs.last().map(|(_, o)| *o).unwrap_or(0);
        let eligible = !s.isr.contains(&follower)
            && s.replicas.contains(&follower)
            && end >= s.high_watermark
            && end >= epoch_start.min(s.durable_end);
        drop(s);
        if moved {
            self.appended.notify_waiters();
        }
        eligible
    }

    /// Leader: the ISR this partition should have now — followers that have not caught up
    /// within `max_lag` leave, `joining` ones (caught up) join; None when nothing changes.
    pub fn isr_change(&self, joining: &[u32]) -> Option<IsrChange> {
        let now = Instant::now();
        let me = self.settings.broker_id;
        let s = self.state.lock();
        if s.role != Role::Leader {
            return None;
        }
        let since = s.leading_since.unwrap_or(now);
        let lagging = |r: &u32| {
            *r != me
                && match s.followers.get(r) {
                    Some(f) => {
                        now.duration_since(f.caught_up) > self.settings.max_lag
                            || now.duration_since(f.last_fetch) > self.settings.fetch_timeout
                    }
                    None => now.duration_since(since) > self.settings.max_lag,
                }
        };
        let mut isr: Vec<u32> = s.isr.iter().copied().filter(|r| !lagging(r)).collect();
        for j in joining {
            if !isr.contains(j) && s.replicas.contains(j) {
                isr.push(*j);
            }
        }
        if !isr.contains(&me) {
            isr.push(me);
        }
        let mut a = isr.clone();
        let mut b = s.isr.clone();
        a.sort_unstable();
        b.sort_unstable();
        (a != b).then(|| IsrChange {
            isr,
            leader_epoch: s.leader_epoch,
            partition_epoch: s.partition_epoch,
        })
    }

    /// Follower: the leader's high watermark (capped by what is durable here).
    pub fn set_follower_hw(&self, leader_hw: i64) {
        let mut s = self.state.lock();
        if s.role == Role::Leader {
            return;
        }
        let hw = leader_hw.min(s.durable_end);
        if hw > s.high_watermark {
            s.high_watermark = hw;
        }
    }

    /// Follower: drops the divergent tail from `offset` on; returns the WAL locations to
    /// release.
    pub fn truncate_to(&self, offset: i64) -> Vec<WalLocation> {
        let mut s = self.state.lock();
        let (released, freed, unuploaded) = s.truncate_from(offset);
        drop(s);
        self.backlog.sub(unuploaded);
        self.cache.released(freed);
        self.appended.notify_waiters();
        released
    }

    /// Follower behind the leader's uploaded end: everything below `offset` is in object
    /// storage already, so the local log continues at `offset` (uploaded data moves by
    /// metadata only). Returns the WAL locations to release.
    pub fn skip_to(&self, offset: i64) -> Vec<WalLocation> {
        let mut s = self.state.lock();
        let Some((released, freed, unuploaded)) = s.skip_to(offset) else {
            return Vec::new();
        };
        drop(s);
        self.backlog.sub(unuploaded);
        self.cache.released(freed);
        released
    }

    /// Leader: whether a batch ending at `last`, appended in `epoch`, has the replicas `need`
    /// asks for. Durable appends, follower fetches and high-watermark moves all notify
    /// [`appended`](Self::appended).
    pub fn ack_state(&self, last: i64, epoch: i32, need: AckNeed) -> AckState {
        let me = self.settings.broker_id;
        let s = self.state.lock();
        if s.role != Role::Leader || s.leader_epoch != epoch {
            return AckState::Lost(format!(
                "leadership moved (epoch {epoch} -> {}) before the batch was replicated",
                s.leader_epoch
            ));
        }
        if s.fenced {
            return AckState::Lost(
                "the leader's write-ahead log failed after followers had fetched from it".into(),
            );
        }
        if s.next_offset <= last {
            return AckState::Lost("the batch was truncated after a failed write".into());
        }
        let done = match need {
            AckNeed::Leader => s.durable_end > last,
            AckNeed::All => s.high_watermark > last,
            AckNeed::Replicas(n) => {
                // The leader's own copy is required: followers may have fsynced a batch
                // before the leader has.
                let followers = s
                    .followers
                    .iter()
                    .filter(|(id, f)| **id != me && f.end > last)
                    .count();
                s.durable_end > last && 1 + followers >= n
            }
        };
        if done {
            AckState::Done
        } else {
            AckState::Waiting
        }
    }

    /// Replication figures.
    pub fn replication_view(&self) -> ReplicationView {
        let me = self.settings.broker_id;
        let s = self.state.lock();
        let leader = s.role == Role::Leader;
        let max_lag = if leader {
            s.replicas
                .iter()
                .filter(|r| **r != me)
                .map(|r| {
                    s.followers
                        .get(r)
                        .map(|f| (s.durable_end - f.end.max(0)).max(0))
                        .unwrap_or(s.durable_end - s.log_start_offset)
                })
                .max()
                .unwrap_or(0)
        } else {
            0
        };
        ReplicationView {
            leader,
            leader_epoch: s.leader_epoch,
            replicas: s.replicas.clone(),
            isr: s.isr.clone(),
            max_lag,
            log_end: s.durable_end,
            high_watermark: s.high_watermark,
        }
    }
}
