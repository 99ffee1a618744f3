//! The frame header carried in front of every protobuf body.
//!
//! Layout (big endian, 16 bytes): `u32 body_length | u16 api_key | u16 api_version |
//! u32 request_id | u16 flags | u16 reserved`. The length comes first so a reader can refuse
//! an oversized body after reading 16 bytes, without reading the body.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Size of the fixed frame header in bytes.
pub const HEADER_LEN: usize = 16;

/// Flag set on every frame a broker sends back.
pub const FLAG_RESPONSE: u16 = 0x1;
/// Flag set when the body is an [`crate::proto::ErrorResponse`] rather than the API's response.
pub const FLAG_ERROR: u16 = 0x2;
/// Request flag: the body starts with [`TRACE_CONTEXT_LEN`] bytes of W3C trace context in
/// binary form (version 0, 16-byte trace id, 8-byte parent span id, 1-byte trace flags), then
/// the protobuf message; `body_len` counts both.
pub const FLAG_TRACE_CONTEXT: u16 = 0x4;
/// Bytes of the trace context [`FLAG_TRACE_CONTEXT`] announces.
pub const TRACE_CONTEXT_LEN: usize = 26;

/// The APIs of protocol version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ApiKey {
    /// Brokers, topics, partitions and their leaders.
    Metadata = 1,
    /// Append record batches.
    Produce = 2,
    /// Read record batches (long poll).
    Fetch = 3,
    /// Earliest, latest, or by-timestamp offsets.
    ListOffsets = 4,
    /// Broker health.
    Health = 5,
    /// Join a consumer group (waits for the rebalance round).
    JoinGroup = 6,
    /// Get this generation's assignment.
    SyncGroup = 7,
    /// Keep a membership alive; tells members to rejoin.
    Heartbeat = 8,
    /// Leave a group at once.
    LeaveGroup = 9,
    /// Commit offsets for a group.
    OffsetCommit = 10,
    /// Read a group's committed offsets.
    OffsetFetch = 11,
    /// Which broker coordinates a group.
    FindCoordinator = 12,
    /// A new idempotent-producer id.
    InitProducerId = 13,
    /// Prove the connection's principal with a bearer token (JWT).
    Authenticate = 14,
    /// Which APIs, versions and limits the broker has.
    ApiVersions = 15,
}

impl ApiKey {
    /// Every API of this build, by key.
    pub const ALL: [ApiKey; 15] = [
        Self::Metadata,
        Self::Produce,
        Self::Fetch,
        Self::ListOffsets,
        Self::Health,
        Self::JoinGroup,
        Self::SyncGroup,
        Self::Heartbeat,
        Self::LeaveGroup,
        Self::OffsetCommit,
        Self::OffsetFetch,
        Self::FindCoordinator,
        Self::InitProducerId,
        Self::Authenticate,
        Self::ApiVersions,
    ];

    /// The name of the spans of a request to this API (`rustmq.produce` ...).
    pub const fn span_name(self) -> &'static str {
        match self {
            Self::Metadata => "rustmq.metadata",
            Self::Produce => "rustmq.produce",
            Self::Fetch => "rustmq.fetch",
            Self::ListOffsets => "rustmq.list_offsets",
            Self::Health => "rustmq.health",
            Self::JoinGroup => "rustmq.join_group",
            Self::SyncGroup => "rustmq.sync_group",
            Self::Heartbeat => "rustmq.heartbeat",
            Self::LeaveGroup => "rustmq.leave_group",
            Self::OffsetCommit => "rustmq.offset_commit",
            Self::OffsetFetch => "rustmq.offset_fetch",
            Self::FindCoordinator => "rustmq.find_coordinator",
            Self::InitProducerId => "rustmq.init_producer_id",
            Self::Authenticate => "rustmq.authenticate",
            Self::ApiVersions => "rustmq.api_versions",
        }
    }

    /// Lowest version of each API this build speaks (0 is never a version).
    pub const fn min_version(self) -> u16 {
        1
    }

    /// Highest version of each API this build speaks.
    pub const fn max_version(self) -> u16 {
        1
    }
}

impl TryFrom<u16> for ApiKey {
    type Error = FrameError;

    fn try_from(v: u16) -> Result<Self, FrameError> {
        Ok(match v {
            1 => Self::Metadata,
            2 => Self::Produce,
            3 => Self::Fetch,
            4 => Self::ListOffsets,
            5 => Self::Health,
            6 => Self::JoinGroup,
            7 => Self::SyncGroup,
            8 => Self::Heartbeat,
            9 => Self::LeaveGroup,
            10 => Self::OffsetCommit,
            11 => Self::OffsetFetch,
            12 => Self::FindCoordinator,
            13 => Self::InitProducerId,
            14 => Self::Authenticate,
            15 => Self::ApiVersions,
            other => return Err(FrameError::UnknownApi(other)),
        })
    }
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the header, or than the length the header announced.
    #[error("truncated frame: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// The announced body is larger than the configured maximum.
    #[error("frame body of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Announced body size.
        size: u32,
        /// Configured maximum.
        max: u32,
    },
    /// The api key is not one this build knows.
    #[error("unknown api key {0}")]
    UnknownApi(u16),
    /// The api version is newer than this build speaks.
    #[error("api {api:?} version {version} is not supported (max {max})")]
    UnsupportedVersion {
        /// The api.
        api: ApiKey,
        /// Version asked for.
        version: u16,
        /// Highest version supported.
        max: u16,
    },
    /// The body is not a valid protobuf message of the expected type.
    #[error("malformed body: {0}")]
    Malformed(String),
}

/// The decoded fixed header of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Length of the body that follows the header.
    pub body_len: u32,
    /// Raw api key (validated separately, so an unknown key can still be answered).
    pub api_key: u16,
    /// Api version.
    pub api_version: u16,
    /// Chosen by the client, echoed in the response.
    pub request_id: u32,
    /// [`FLAG_RESPONSE`], [`FLAG_ERROR`] on responses; [`FLAG_TRACE_CONTEXT`] on requests.
    pub flags: u16,
}

impl FrameHeader {
    /// Parses the 16 header bytes. Refuses bodies larger than `max_body`.
    ///
    /// ```
    /// use rustmq_protocol::frame::{FrameHeader, HEADER_LEN};
    /// let h = FrameHeader { body_len: 3, api_key: 2, api_version: 1, request_id: 7, flags: 0 };
    /// let mut buf = bytes::BytesMut::new();
    /// h.encode(&mut buf);
    /// assert_eq!(buf.len(), HEADER_LEN);
    /// assert_eq!(FrameHeader::decode(&buf, 1024).unwrap(), h);
    /// assert!(FrameHeader::decode(&buf, 2).is_err());
    /// ```
    pub fn decode(buf: &[u8], max_body: u32) -> Result<Self, FrameError> {
        if buf.len() < HEADER_LEN {
            return Err(FrameError::Truncated {
                needed: HEADER_LEN,
                have: buf.len(),
            });
        }
        let be16 = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
        let be32 = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let header = Self {
            body_len: be32(0),
            api_key: be16(4),
            api_version: be16(6),
            request_id: be32(8),
            flags: be16(12),
        };
        if header.body_len > max_body {
            return Err(FrameError::TooLarge {
                size: header.body_len,
                max: max_body,
            });
        }
        Ok(header)
    }

    /// Appends the 16 header bytes to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.reserve(HEADER_LEN);
        buf.put_u32(self.body_len);
        buf.put_u16(self.api_key);
        buf.put_u16(self.api_version);
        buf.put_u32(self.request_id);
        buf.put_u16(self.flags);
        buf.put_u16(0);
    }

    /// The api key, if this build knows it and speaks its version.
    pub fn api(&self) -> Result<ApiKey, FrameError> {
        let api = ApiKey::try_from(self.api_key)?;
        if self.api_version == 0 || self.api_version > api.max_version() {
            return Err(FrameError::UnsupportedVersion {
                api,
                version: self.api_version,
                max: api.max_version(),
            });
        }
        Ok(api)
    }
}

/// Encodes a whole frame (header + protobuf body).
///
/// ```
/// use rustmq_protocol::{frame, proto, ApiKey};
/// let bytes = frame::encode(ApiKey::Health as u16, 1, 42, 0, &proto::HealthRequest {});
/// let (header, body) = frame::decode(bytes, 1024).unwrap();
/// assert_eq!(header.request_id, 42);
/// assert!(body.is_empty());
/// ```
pub fn encode<M: prost::Message>(
    api_key: u16,
    api_version: u16,
    request_id: u32,
    flags: u16,
    body: &M,
) -> Bytes {
    encode_after(api_key, api_version, request_id, flags, &[], body)
}

/// A frame whose body is `prefix` and then the message.
fn encode_after<M: prost::Message>(
    api_key: u16,
    api_version: u16,
    request_id: u32,
    flags: u16,
    prefix: &[u8],
    body: &M,
) -> Bytes {
    let len = prefix.len() + body.encoded_len();
    let mut buf = BytesMut::with_capacity(HEADER_LEN + len);
    FrameHeader {
        body_len: len as u32,
        api_key,
        api_version,
        request_id,
        flags,
    }
    .encode(&mut buf);
    buf.put_slice(prefix);
    // Encoding into a buffer reserved for `encoded_len` cannot run out of space.
    body.encode_raw(&mut buf);
    buf.freeze()
}

/// Encodes a request frame carrying `trace` (the caller's span, so the broker's spans join
/// its trace) in front of the body; without one, exactly [`encode`]'s frame.
///
/// ```
/// use rustmq_protocol::{frame, proto, ApiKey};
/// let mut trace = [0u8; frame::TRACE_CONTEXT_LEN];
/// trace[1] = 0xab;
/// let bytes = frame::encode_request(ApiKey::Health as u16, 1, 42, Some(&trace), &proto::HealthRequest {});
/// let (header, body) = frame::decode(bytes, 1024).unwrap();
/// let (got, message) = frame::split_trace_context(&header, body).unwrap();
/// assert_eq!(got, Some(trace));
/// assert!(message.is_empty());
/// ```
pub fn encode_request<M: prost::Message>(
    api_key: u16,
    api_version: u16,
    request_id: u32,
    trace: Option<&[u8; TRACE_CONTEXT_LEN]>,
    body: &M,
) -> Bytes {
    match trace {
        Some(trace) => encode_after(
            api_key,
            api_version,
            request_id,
            FLAG_TRACE_CONTEXT,
            trace,
            body,
        ),
        None => encode(api_key, api_version, request_id, 0, body),
    }
}

/// Takes a request's trace context off the front of its body when the header says one is
/// there; a body too short to hold it is malformed.
pub fn split_trace_context<B: Buf>(
    header: &FrameHeader,
    mut body: B,
) -> Result<(Option<[u8; TRACE_CONTEXT_LEN]>, B), FrameError> {
    if header.flags & FLAG_TRACE_CONTEXT == 0 {
        return Ok((None, body));
    }
    if body.remaining() < TRACE_CONTEXT_LEN {
        return Err(FrameError::Malformed(format!(
            "the trace context flag is set but the body has {} bytes, fewer than its {TRACE_CONTEXT_LEN}",
            body.remaining()
        )));
    }
    let mut trace = [0u8; TRACE_CONTEXT_LEN];
    body.copy_to_slice(&mut trace);
    Ok((Some(trace), body))
}

/// Encodes a Fetch response frame as a list of buffers whose concatenation is exactly
/// [`encode`]'s output, with every partition's record batches as their own buffer, shared
/// and not copied: a catch-up fetch carries tens of MiB of batches, and copying them into
/// one frame took milliseconds of a runtime thread per response.
///
/// ```
/// use bytes::Bytes;
/// use rustmq_protocol::{frame, proto, ApiKey};
/// let m = proto::FetchResponse {
///     topics: vec![proto::FetchTopicResponse {
///         topic: "t".into(),
///         partitions: vec![proto::FetchPartitionResponse {
///             records: Bytes::from_static(b"batches"),
///             ..Default::default()
///         }],
///     }],
/// };
/// let parts = frame::encode_fetch_response(ApiKey::Fetch as u16, 1, 7, 0, &m);
/// assert_eq!(parts.concat(), frame::encode(ApiKey::Fetch as u16, 1, 7, 0, &m).to_vec());
/// ```
pub fn encode_fetch_response(
    api_key: u16,
    api_version: u16,
    request_id: u32,
    flags: u16,
    body: &crate::proto::FetchResponse,
) -> Vec<Bytes> {
    use prost::Message;
    use prost::encoding::{WireType, encode_key, encode_varint};
    let mut parts = Vec::new();
    let mut buf = BytesMut::with_capacity(HEADER_LEN + 64);
    FrameHeader {
        body_len: body.encoded_len() as u32,
        api_key,
        api_version,
        request_id,
        flags,
    }
    .encode(&mut buf);
    // Field by field in prost's order (field numbers ascending); `records` (5) is the last
    // field of a partition, so it can be written after the others as a buffer of its own.
    for t in &body.topics {
        encode_key(1, WireType::LengthDelimited, &mut buf);
        encode_varint(t.encoded_len() as u64, &mut buf);
        crate::proto::FetchTopicResponse {
            topic: t.topic.clone(),
            partitions: Vec::new(),
        }
        .encode_raw(&mut buf);
        for p in &t.partitions {
            encode_key(2, WireType::LengthDelimited, &mut buf);
            encode_varint(p.encoded_len() as u64, &mut buf);
            crate::proto::FetchPartitionResponse {
                records: Bytes::new(),
                ..p.clone()
            }
            .encode_raw(&mut buf);
            if !p.records.is_empty() {
                encode_key(5, WireType::LengthDelimited, &mut buf);
                encode_varint(p.records.len() as u64, &mut buf);
                parts.push(buf.split().freeze());
                parts.push(p.records.clone());
            }
        }
    }
    if !buf.is_empty() {
        parts.push(buf.freeze());
    }
    parts
}

/// Splits a complete frame into its header and body (zero-copy).
pub fn decode(frame: Bytes, max_body: u32) -> Result<(FrameHeader, Bytes), FrameError> {
    let header = FrameHeader::decode(&frame, max_body)?;
    let needed = HEADER_LEN + header.body_len as usize;
    if frame.len() < needed {
        return Err(FrameError::Truncated {
            needed,
            have: frame.len(),
        });
    }
    if frame.len() > needed {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes after the body",
            frame.len() - needed
        )));
    }
    Ok((header, frame.slice(HEADER_LEN..)))
}

/// Decodes a protobuf body (one buffer, or the chunks it arrived in), mapping failures to
/// [`FrameError::Malformed`].
pub fn decode_body<M: prost::Message + Default>(body: impl Buf) -> Result<M, FrameError> {
    M::decode(body).map_err(|e| FrameError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {

    #[test]
    fn fetch_response_in_parts_is_the_same_frame_and_shares_the_batches() {
        let batch = |n: usize| Bytes::from((0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let big = batch(300_000);
        let cases = vec![
            proto::FetchResponse::default(),
            proto::FetchResponse {
                topics: vec![
                    proto::FetchTopicResponse {
                        topic: "orders".into(),
                        partitions: vec![
                            proto::FetchPartitionResponse {
                                partition: 3,
                                error_code: 0,
                                high_watermark: 1 << 40,
                                log_start_offset: 17,
                                records: big.clone(),
                            },
                            proto::FetchPartitionResponse {
                                partition: 4,
                                error_code: proto::ErrorCode::OffsetOutOfRange as i32,
                                high_watermark: -1,
                                log_start_offset: -1,
                                records: Bytes::new(),
                            },
                            proto::FetchPartitionResponse {
                                partition: 5,
                                high_watermark: 9,
                                records: batch(1),
                                ..Default::default()
                            },
                        ],
                    },
                    proto::FetchTopicResponse {
                        topic: String::new(),
                        partitions: vec![],
                    },
                    proto::FetchTopicResponse {
                        topic: "é".into(),
                        partitions: vec![proto::FetchPartitionResponse {
                            records: batch(200),
                            ..Default::default()
                        }],
                    },
                ],
            },
        ];
        for m in cases {
            let whole = encode(2, 1, 99, FLAG_RESPONSE, &m);
            let parts = encode_fetch_response(2, 1, 99, FLAG_RESPONSE, &m);
            assert_eq!(parts.concat(), whole.to_vec());
            let (_, body) = decode(Bytes::from(parts.concat()), u32::MAX).unwrap();
            assert_eq!(
                <proto::FetchResponse as prost::Message>::decode(body).unwrap(),
                m
            );
        }
        let m = proto::FetchResponse {
            topics: vec![proto::FetchTopicResponse {
                topic: "t".into(),
                partitions: vec![proto::FetchPartitionResponse {
                    records: big.clone(),
                    ..Default::default()
                }],
            }],
        };
        let parts = encode_fetch_response(2, 1, 1, 0, &m);
        assert!(
            parts
                .iter()
                .any(|p| p.as_ptr() == big.as_ptr() && p.len() == big.len()),
            "the batches are not copied"
        );
    }

    use super::*;
    use crate::proto;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_produce_frame_with_large_body() {
        let req = proto::ProduceRequest {
            acks: proto::Acks::All as i32,
            acks_replicas: 0,
            timeout_ms: 1000,
            topics: vec![proto::TopicProduceData {
                topic: "t".into(),
                partitions: vec![proto::PartitionProduceData {
                    partition: 3,
                    records: Bytes::from(vec![7u8; 10 * 1024 * 1024]),
                }],
            }],
        };
        let f = encode(ApiKey::Produce as u16, 1, 9, 0, &req);
        let (h, body) = decode(f, 16 * 1024 * 1024).unwrap();
        assert_eq!(h.api().unwrap(), ApiKey::Produce);
        let back: proto::ProduceRequest = decode_body(body).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn oversized_unknown_and_truncated_frames_are_typed_errors() {
        let f = encode(2, 1, 1, 0, &proto::HealthRequest {});
        let mut big = BytesMut::new();
        FrameHeader {
            body_len: 100,
            api_key: 2,
            api_version: 1,
            request_id: 1,
            flags: 0,
        }
        .encode(&mut big);
        assert_eq!(
            decode(big.clone().freeze(), 99),
            Err(FrameError::TooLarge { size: 100, max: 99 })
        );
        assert!(matches!(
            decode(big.freeze(), 1000),
            Err(FrameError::Truncated { .. })
        ));
        let (h, _) = decode(f, 10).unwrap();
        let unknown = FrameHeader { api_key: 77, ..h };
        assert_eq!(unknown.api(), Err(FrameError::UnknownApi(77)));
        let future = FrameHeader {
            api_version: 9,
            ..h
        };
        assert!(matches!(
            future.api(),
            Err(FrameError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            decode_body::<proto::FetchRequest>(Bytes::from_static(&[0xff, 0xff, 0xff])),
            Err(FrameError::Malformed(_))
        ));
    }

    proptest! {
        // Fuzz: no input makes the frame decoder or the body decoders panic.
        #[test]
        fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let bytes = Bytes::from(data);
            if let Ok((h, body)) = decode(bytes.clone(), 1 << 20) {
                let _ = h.api();
                let _ = decode_body::<proto::ProduceRequest>(body.clone());
                let _ = decode_body::<proto::FetchRequest>(body.clone());
                let _ = decode_body::<proto::MetadataRequest>(body.clone());
                let _ = decode_body::<proto::ListOffsetsRequest>(body);
            }
            let _ = FrameHeader::decode(&bytes, 1 << 20);
        }

        #[test]
        fn header_roundtrip(len in 0u32..1000, key: u16, ver: u16, id: u32, flags: u16) {
            let h = FrameHeader { body_len: len, api_key: key, api_version: ver, request_id: id, flags };
            let mut b = BytesMut::new();
            h.encode(&mut b);
            prop_assert_eq!(FrameHeader::decode(&b, 1000).unwrap(), h);
        }
    }
}
