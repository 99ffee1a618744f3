//! The ACL check of each client API, before the request touches data: the parts of a
//! request the principal may not touch are taken out and answered `UNAUTHORIZED` (naming
//! the resource); the rest goes on. Kafka's operations: produce writes, fetch reads,
//! list-offsets and metadata describe topics (a listing leaves out what the principal may
//! not describe), group APIs read the group, a commit also reads each topic, and an offset
//! fetch describes them.

use rustmq_protocol::proto::{self, ErrorCode};
use rustmq_security::acl::{Operation, ResourceType};

use crate::security::{BrokerSecurity, Denied, Session};

/// One request's view of the security settings.
pub(super) struct Gate<'a> {
    pub security: &'a BrokerSecurity,
    pub session: &'a Session,
    pub request_id: u32,
}

const UNAUTHORIZED: i32 = ErrorCode::Unauthorized as i32;

impl Gate<'_> {
    fn check(&self, op: Operation, rt: ResourceType, name: &str) -> Result<(), Denied> {
        self.security
            .check(self.session, self.request_id, op, rt, name)
    }

    /// Splits out the topics `op` is refused on (one audit record each).
    fn take_denied<T>(
        &self,
        items: &mut Vec<T>,
        topic: impl Fn(&T) -> &str,
        op: Operation,
    ) -> Vec<(T, Denied)> {
        if !self.security.enabled() {
            return Vec::new();
        }
        let mut denied = Vec::new();
        let mut kept = Vec::with_capacity(items.len());
        for item in items.drain(..) {
            match self.check(op, ResourceType::Topic, topic(&item)) {
                Ok(()) => kept.push(item),
                Err(d) => denied.push((item, d)),
            }
        }
        *items = kept;
        denied
    }

    /// Produce: write on each topic.
    pub fn produce(&self, req: &mut proto::ProduceRequest) -> Vec<proto::TopicProduceResponse> {
        self.take_denied(&mut req.topics, |t| &t.topic, Operation::Write)
            .into_iter()
            .map(|(t, d)| proto::TopicProduceResponse {
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| proto::PartitionProduceResponse {
                        partition: p.partition,
                        error_code: UNAUTHORIZED,
                        error_message: d.message.clone(),
                        base_offset: -1,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
                    })
                    .collect(),
                topic: t.topic,
            })
            .collect()
    }

    /// Fetch: read on each topic.
    pub fn fetch(&self, req: &mut proto::FetchRequest) -> Vec<proto::FetchTopicResponse> {
        self.take_denied(&mut req.topics, |t| &t.topic, Operation::Read)
            .into_iter()
            .map(|(t, _)| proto::FetchTopicResponse {
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| proto::FetchPartitionResponse {
                        partition: p.partition,
                        error_code: UNAUTHORIZED,
                        high_watermark: -1,
                        log_start_offset: -1,
                        ..Default::default()
                    })
                    .collect(),
                topic: t.topic,
            })
            .collect()
    }

    /// List offsets: describe on each topic.
    pub fn list_offsets(
        &self,
        req: &mut proto::ListOffsetsRequest,
    ) -> Vec<proto::ListOffsetsTopicResponse> {
        self.take_denied(&mut req.topics, |t| &t.topic, Operation::Describe)
            .into_iter()
            .map(|(t, _)| proto::ListOffsetsTopicResponse {
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| proto::ListOffsetsPartitionResponse {
                        partition: p.partition,
                        error_code: UNAUTHORIZED,
                        offset: -1,
                        timestamp: -1,
                    })
                    .collect(),
                topic: t.topic,
            })
            .collect()
    }

    /// Metadata: topics asked for by name need describe (refused ones come back
    /// `UNAUTHORIZED` without partitions, whether they exist or not); a listing of every
    /// topic leaves out the ones the principal may not describe.
    pub fn metadata(&self, req: &proto::MetadataRequest, resp: &mut proto::MetadataResponse) {
        if !self.security.enabled() {
            return;
        }
        if req.topics.is_empty() {
            resp.topics.retain(|t| {
                self.security.permits(
                    self.session,
                    Operation::Describe,
                    ResourceType::Topic,
                    &t.name,
                )
            });
            return;
        }
        for t in &mut resp.topics {
            if self
                .check(Operation::Describe, ResourceType::Topic, &t.name)
                .is_err()
            {
                t.error_code = UNAUTHORIZED;
                t.partitions.clear();
            }
        }
    }

    /// Group membership and coordination: read on the group.
    pub fn group(&self, group_id: &str) -> Result<(), Denied> {
        self.check(Operation::Read, ResourceType::Group, group_id)
    }

    /// Finding a group's coordinator: describe on the group.
    pub fn describe_group(&self, group_id: &str) -> Result<(), Denied> {
        self.check(Operation::Describe, ResourceType::Group, group_id)
    }

    /// Offset commit: read on the group (checked by the caller), then read on each topic.
    pub fn offset_commit(
        &self,
        req: &mut proto::OffsetCommitRequest,
    ) -> Vec<proto::OffsetCommitPartitionResponse> {
        self.take_denied(&mut req.topics, |t| &t.topic, Operation::Read)
            .into_iter()
            .flat_map(|(t, d)| {
                let topic = t.topic;
                t.partitions
                    .into_iter()
                    .map(move |p| proto::OffsetCommitPartitionResponse {
                        topic: topic.clone(),
                        partition: p.partition,
                        error_code: UNAUTHORIZED,
                        error_message: d.message.clone(),
                    })
            })
            .collect()
    }

    /// Offset fetch: describe on the group (checked by the caller); offsets of topics the
    /// principal may not describe are answered `UNAUTHORIZED` without the offset.
    pub fn offset_fetch(&self, resp: &mut proto::OffsetFetchResponse) {
        if !self.security.enabled() {
            return;
        }
        let mut seen: Vec<(String, bool)> = Vec::new();
        for o in &mut resp.offsets {
            let allowed = match seen.iter().find(|(t, _)| *t == o.topic) {
                Some((_, a)) => *a,
                None => {
                    let a = self
                        .check(Operation::Describe, ResourceType::Topic, &o.topic)
                        .is_ok();
                    seen.push((o.topic.clone(), a));
                    a
                }
            };
            if !allowed {
                o.offset = -1;
                o.metadata.clear();
                o.error_code = UNAUTHORIZED;
            }
        }
    }
}
