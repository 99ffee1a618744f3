// RustMQ client protocol, version 1. This file is the whole specification: a client written
// from it alone (and Kafka's RecordBatch v2 format) interoperates with the brokers.
//
// TRANSPORT. QUIC (RFC 9000) with TLS 1.3, ALPN "rustmq/1". The broker's certificate is
// verified against the cluster CA; with security on, the client may present its own (mutual
// TLS) or authenticate with a token (Authenticate below). One connection per client-broker
// pair is enough: every request travels on its own bidirectional stream, which the client
// opens, writes one request frame to, and then finishes (FIN); the broker answers with one frame
// on the same stream and finishes it. Requests on different streams are independent and may
// be answered in any order. The broker reads exactly the frame the header announces and then
// sends STOP_SENDING (code 0) on the stream: bytes after the frame are ignored. For a frame
// larger than max_frame_bytes it sends STOP_SENDING (code 1) at once and answers
// FRAME_TOO_LARGE without reading the body. Connection limits (ApiVersions reports them): at
// most max_concurrent_streams (1000 by default) request streams open at once; the connection
// closes after max_idle_timeout_ms (30000 by default) without packets, so a client that idles
// longer must send QUIC keep-alives or reconnect; flow-control windows of 16 MiB per stream
// and 64 MiB per connection.
//
// FRAMES. A 16-byte header, big endian, then the body, one protobuf message of this file:
//
//   u32 body_length | u16 api_key | u16 api_version | u32 request_id | u16 flags | u16 reserved
//
//   body_length  bytes of the body after the header; at most max_frame_bytes (16 MiB default)
//   api_key      1 Metadata, 2 Produce, 3 Fetch, 4 ListOffsets, 5 Health, 6 JoinGroup,
//                7 SyncGroup, 8 Heartbeat, 9 LeaveGroup, 10 OffsetCommit, 11 OffsetFetch,
//                12 FindCoordinator, 13 InitProducerId, 14 Authenticate, 15 ApiVersions
//   api_version  1 for every API of this version (0 is never valid); other values get
//                UNSUPPORTED_API. Ask ApiVersions for the range a broker speaks.
//   request_id   chosen by the client; the response echoes it (and api_key, api_version)
//   flags        requests: 0, or bit 2 (0x4) TRACE_CONTEXT (below). Responses: bit 0 (0x1)
//                RESPONSE is always set; bit 1 (0x2) ERROR is set when the body is an
//                ErrorResponse instead of the API's response.
//   reserved     0
//
// TRACE CONTEXT. A request may carry the W3C trace context of the client span that sends it,
// so the broker's spans (admission, WAL fdatasync, replication) join the client's trace. With
// flag 0x4 the body starts with 26 bytes, then the protobuf message (body_length counts both):
//
//   u8 version (0) | 16 bytes trace-id | 8 bytes parent span-id | u8 trace-flags (bit 0 sampled)
//
// the binary form of a `traceparent` header. A broker ignores a context of another version or
// with an all-zero id (the request is still served); a body shorter than 26 bytes with the
// flag set is INVALID_REQUEST. Without the flag nothing precedes the message. Record headers
// may carry the same context as a text `traceparent` header (a producer's choice) so that a
// consumer's processing can link to the send.
//
// ERRORS. A request the broker cannot handle as a whole gets an ErrorResponse (flag ERROR):
// a frame too large (FRAME_TOO_LARGE), truncated (the stream finished before body_length
// bytes, INVALID_REQUEST), a body that is not the API's protobuf message (INVALID_REQUEST),
// an unknown api key or version (UNSUPPORTED_API), and any request but ApiVersions and
// Authenticate on a connection that must authenticate first (UNAUTHORIZED). Everything else
// is answered with the API's own response, whose error codes are per partition (Produce,
// Fetch, ListOffsets, Metadata's topics and partitions, OffsetCommit, OffsetFetch) or per
// response (the group APIs, FindCoordinator, InitProducerId, Authenticate): a refused topic
// never fails the other topics of the request. The connection survives every error; only a
// failed TLS handshake, a revoked or expired client certificate, or an expired token ends it.
// Retriable codes (NOT_LEADER, REBALANCE_IN_PROGRESS, REQUEST_TIMED_OUT, THROTTLED,
// STORAGE_ERROR, BROKER_NOT_AVAILABLE, WAL_FULL, NOT_COORDINATOR, NOT_ENOUGH_REPLICAS) may
// succeed on a retry after refreshing Metadata and backing off; the others will not. A topic
// just created may be UNKNOWN_TOPIC on a broker for a moment until its metadata arrives.
//
// RECORD BATCHES. Produce and Fetch carry Kafka RecordBatch v2 bytes opaque in `bytes`
// fields; the broker validates and stamps them but never re-encodes them (except when a
// WebAssembly ETL module changes the records). A produced batch must have: magic 2 (v0/v1
// message sets are refused, CORRUPT_MESSAGE); a CRC32C (Castagnoli) over the bytes from the
// attributes to the end that matches; a batch length that covers the records; at least one
// record and last_offset_delta >= record count - 1; compression in attributes bits 0-2 of
// none (0), gzip (1), snappy (2), lz4 (3) or zstd (4); a total size at most the topic's
// max.message.bytes (log.max_message_bytes by default, 16 MiB; MESSAGE_TOO_LARGE). The base
// offset and partition leader epoch are overwritten by the leader (they are outside the CRC):
// send base offset 0 and epoch -1. Not idempotent: producer id -1, epoch -1, base sequence -1.
// Idempotent: the id and epoch from InitProducerId and base sequences counting records per
// partition from 0 (wrapping from 2^31-1 to 0). Several batches may be concatenated in one
// partition's `records`. Timestamps are milliseconds since the epoch (create time).
//
// ZERO VALUES. proto3 cannot tell an unset field from 0, so 0 never carries a meaning of its
// own where that matters: FetchRequest max_bytes 0 means the broker's default (50 MiB),
// partition_max_bytes 0 means max_bytes, min_bytes 0 means 1, max_wait_ms 0 means answer at
// once (waits are capped at 30 s); ProduceRequest timeout_ms 0 means the broker's
// ack_timeout_ms; Acks 0 is LEADER. Producer ids start at 1: 0 is never issued, so a
// producer_id of 0 means "none" (as -1 does in an error response).

// Code generated by protoc-gen-go. DO NOT EDIT.
// versions:
// 	protoc-gen-go v1.36.12
// 	protoc        (unknown)
// source: rustmq.proto

package pb

import (
	protoreflect "google.golang.org/protobuf/reflect/protoreflect"
	protoimpl "google.golang.org/protobuf/runtime/protoimpl"
	reflect "reflect"
	sync "sync"
	unsafe "unsafe"
)

const (
	// Verify that this generated code is sufficiently up-to-date.
	_ = protoimpl.EnforceVersion(20 - protoimpl.MinVersion)
	// Verify that runtime/protoimpl is sufficiently up-to-date.
	_ = protoimpl.EnforceVersion(protoimpl.MaxVersion - 20)
)

// Typed error codes. Every response that can fail carries one.
type ErrorCode int32

const (
	ErrorCode_NONE                 ErrorCode = 0
	ErrorCode_UNKNOWN              ErrorCode = 1
	ErrorCode_UNKNOWN_TOPIC        ErrorCode = 2
	ErrorCode_UNKNOWN_PARTITION    ErrorCode = 3
	ErrorCode_NOT_LEADER           ErrorCode = 4
	ErrorCode_MESSAGE_TOO_LARGE    ErrorCode = 5
	ErrorCode_CORRUPT_MESSAGE      ErrorCode = 6
	ErrorCode_INVALID_REQUEST      ErrorCode = 7
	ErrorCode_FRAME_TOO_LARGE      ErrorCode = 8
	ErrorCode_UNSUPPORTED_API      ErrorCode = 9
	ErrorCode_REQUEST_TIMED_OUT    ErrorCode = 10
	ErrorCode_OFFSET_OUT_OF_RANGE  ErrorCode = 11
	ErrorCode_INVALID_TOPIC        ErrorCode = 12
	ErrorCode_THROTTLED            ErrorCode = 13
	ErrorCode_UNAUTHORIZED         ErrorCode = 14
	ErrorCode_STORAGE_ERROR        ErrorCode = 15
	ErrorCode_TOPIC_ALREADY_EXISTS ErrorCode = 16
	ErrorCode_BROKER_NOT_AVAILABLE ErrorCode = 17
	ErrorCode_INVALID_PARTITIONS   ErrorCode = 18
	// The member id is not (or no longer) in the group: join again with an empty id.
	ErrorCode_UNKNOWN_MEMBER_ID ErrorCode = 19
	// The request is from an older generation (a zombie member): rejoin.
	ErrorCode_ILLEGAL_GENERATION ErrorCode = 20
	// The group is rebalancing: rejoin to get the new assignment.
	ErrorCode_REBALANCE_IN_PROGRESS ErrorCode = 21
	// Session or rebalance timeout outside the broker's allowed range.
	ErrorCode_INVALID_SESSION_TIMEOUT ErrorCode = 22
	// No such group (nothing committed, no members).
	ErrorCode_UNKNOWN_GROUP ErrorCode = 23
	// The group id is empty or too long.
	ErrorCode_INVALID_GROUP_ID ErrorCode = 24
	// A committed offset is negative.
	ErrorCode_INVALID_OFFSET ErrorCode = 25
	// The member asked for an assignor the group does not use.
	ErrorCode_INCONSISTENT_ASSIGNOR ErrorCode = 26
	// The broker's WAL is at `wal.capacity_bytes` because uploads to object storage are
	// behind (the store is unreachable or slow). Retriable: back off and retry.
	ErrorCode_WAL_FULL ErrorCode = 27
	// This broker does not coordinate the group (group APIs other than OffsetFetch). Retriable:
	// ask FindCoordinator again and send the request there.
	ErrorCode_NOT_COORDINATOR ErrorCode = 28
	// acks=ALL (or MAJORITY/CUSTOM) needs more in-sync replicas than the partition has now
	// (min_insync_replicas, or the count asked for). Retriable: followers rejoin the ISR.
	ErrorCode_NOT_ENOUGH_REPLICAS ErrorCode = 29
	// An idempotent producer's batch does not continue its sequence on this partition (a gap:
	// an earlier batch is missing). Not retriable: the producer gets a new producer id.
	ErrorCode_OUT_OF_ORDER_SEQUENCE ErrorCode = 30
	// A WebAssembly ETL module whose on_error policy is `reject` failed on a record of the batch
	// (the message names the module and what it did). Nothing of the batch was appended. Not
	// retriable: the same records fail the same way until the module or the records change.
	ErrorCode_ETL_REJECTED ErrorCode = 31
)

// Enum value maps for ErrorCode.
var (
	ErrorCode_name = map[int32]string{
		0:  "NONE",
		1:  "UNKNOWN",
		2:  "UNKNOWN_TOPIC",
		3:  "UNKNOWN_PARTITION",
		4:  "NOT_LEADER",
		5:  "MESSAGE_TOO_LARGE",
		6:  "CORRUPT_MESSAGE",
		7:  "INVALID_REQUEST",
		8:  "FRAME_TOO_LARGE",
		9:  "UNSUPPORTED_API",
		10: "REQUEST_TIMED_OUT",
		11: "OFFSET_OUT_OF_RANGE",
		12: "INVALID_TOPIC",
		13: "THROTTLED",
		14: "UNAUTHORIZED",
		15: "STORAGE_ERROR",
		16: "TOPIC_ALREADY_EXISTS",
		17: "BROKER_NOT_AVAILABLE",
		18: "INVALID_PARTITIONS",
		19: "UNKNOWN_MEMBER_ID",
		20: "ILLEGAL_GENERATION",
		21: "REBALANCE_IN_PROGRESS",
		22: "INVALID_SESSION_TIMEOUT",
		23: "UNKNOWN_GROUP",
		24: "INVALID_GROUP_ID",
		25: "INVALID_OFFSET",
		26: "INCONSISTENT_ASSIGNOR",
		27: "WAL_FULL",
		28: "NOT_COORDINATOR",
		29: "NOT_ENOUGH_REPLICAS",
		30: "OUT_OF_ORDER_SEQUENCE",
		31: "ETL_REJECTED",
	}
	ErrorCode_value = map[string]int32{
		"NONE":                    0,
		"UNKNOWN":                 1,
		"UNKNOWN_TOPIC":           2,
		"UNKNOWN_PARTITION":       3,
		"NOT_LEADER":              4,
		"MESSAGE_TOO_LARGE":       5,
		"CORRUPT_MESSAGE":         6,
		"INVALID_REQUEST":         7,
		"FRAME_TOO_LARGE":         8,
		"UNSUPPORTED_API":         9,
		"REQUEST_TIMED_OUT":       10,
		"OFFSET_OUT_OF_RANGE":     11,
		"INVALID_TOPIC":           12,
		"THROTTLED":               13,
		"UNAUTHORIZED":            14,
		"STORAGE_ERROR":           15,
		"TOPIC_ALREADY_EXISTS":    16,
		"BROKER_NOT_AVAILABLE":    17,
		"INVALID_PARTITIONS":      18,
		"UNKNOWN_MEMBER_ID":       19,
		"ILLEGAL_GENERATION":      20,
		"REBALANCE_IN_PROGRESS":   21,
		"INVALID_SESSION_TIMEOUT": 22,
		"UNKNOWN_GROUP":           23,
		"INVALID_GROUP_ID":        24,
		"INVALID_OFFSET":          25,
		"INCONSISTENT_ASSIGNOR":   26,
		"WAL_FULL":                27,
		"NOT_COORDINATOR":         28,
		"NOT_ENOUGH_REPLICAS":     29,
		"OUT_OF_ORDER_SEQUENCE":   30,
		"ETL_REJECTED":            31,
	}
)

func (x ErrorCode) Enum() *ErrorCode {
	p := new(ErrorCode)
	*p = x
	return p
}

func (x ErrorCode) String() string {
	return protoimpl.X.EnumStringOf(x.Descriptor(), protoreflect.EnumNumber(x))
}

func (ErrorCode) Descriptor() protoreflect.EnumDescriptor {
	return file_rustmq_proto_enumTypes[0].Descriptor()
}

func (ErrorCode) Type() protoreflect.EnumType {
	return &file_rustmq_proto_enumTypes[0]
}

func (x ErrorCode) Number() protoreflect.EnumNumber {
	return protoreflect.EnumNumber(x)
}

// Deprecated: Use ErrorCode.Descriptor instead.
func (ErrorCode) EnumDescriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{0}
}

// ---- Produce (api key 2) ----
type Acks int32

const (
	// Default: the partition leader has the batch durably in its WAL.
	Acks_LEADER Acks = 0
	// No acknowledgement wanted: the broker answers as soon as the batch is queued.
	Acks_NONE_ACK Acks = 1
	// Every in-sync replica has the batch (the high watermark passed it), and the ISR had at
	// least min_insync_replicas members when it was appended.
	Acks_ALL Acks = 2
	// A majority of the partition's replicas (leader included) have the batch.
	Acks_MAJORITY Acks = 3
	// `acks_replicas` replicas (leader included) have the batch.
	Acks_CUSTOM Acks = 4
)

// Enum value maps for Acks.
var (
	Acks_name = map[int32]string{
		0: "LEADER",
		1: "NONE_ACK",
		2: "ALL",
		3: "MAJORITY",
		4: "CUSTOM",
	}
	Acks_value = map[string]int32{
		"LEADER":   0,
		"NONE_ACK": 1,
		"ALL":      2,
		"MAJORITY": 3,
		"CUSTOM":   4,
	}
)

func (x Acks) Enum() *Acks {
	p := new(Acks)
	*p = x
	return p
}

func (x Acks) String() string {
	return protoimpl.X.EnumStringOf(x.Descriptor(), protoreflect.EnumNumber(x))
}

func (Acks) Descriptor() protoreflect.EnumDescriptor {
	return file_rustmq_proto_enumTypes[1].Descriptor()
}

func (Acks) Type() protoreflect.EnumType {
	return &file_rustmq_proto_enumTypes[1]
}

func (x Acks) Number() protoreflect.EnumNumber {
	return protoreflect.EnumNumber(x)
}

// Deprecated: Use Acks.Descriptor instead.
func (Acks) EnumDescriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{1}
}

// Sent instead of the API's response when the frame itself could not be handled
// (too large, undecodable, unknown API, or truncated: the stream finished before the body
// length the header declares, INVALID_REQUEST; with fewer than 16 bytes there is no request
// id to echo and the answer's header is all zeros). The stream is answered, the connection
// stays.
type ErrorResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	ErrorCode     ErrorCode              `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	Message       string                 `protobuf:"bytes,2,opt,name=message,proto3" json:"message,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ErrorResponse) Reset() {
	*x = ErrorResponse{}
	mi := &file_rustmq_proto_msgTypes[0]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ErrorResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ErrorResponse) ProtoMessage() {}

func (x *ErrorResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[0]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ErrorResponse.ProtoReflect.Descriptor instead.
func (*ErrorResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{0}
}

func (x *ErrorResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *ErrorResponse) GetMessage() string {
	if x != nil {
		return x.Message
	}
	return ""
}

// ---- Metadata (api key 1) ----
type MetadataRequest struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Empty: all topics.
	Topics        []string `protobuf:"bytes,1,rep,name=topics,proto3" json:"topics,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *MetadataRequest) Reset() {
	*x = MetadataRequest{}
	mi := &file_rustmq_proto_msgTypes[1]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *MetadataRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*MetadataRequest) ProtoMessage() {}

func (x *MetadataRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[1]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use MetadataRequest.ProtoReflect.Descriptor instead.
func (*MetadataRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{1}
}

func (x *MetadataRequest) GetTopics() []string {
	if x != nil {
		return x.Topics
	}
	return nil
}

type BrokerInfo struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Id            uint32                 `protobuf:"varint,1,opt,name=id,proto3" json:"id,omitempty"`
	Host          string                 `protobuf:"bytes,2,opt,name=host,proto3" json:"host,omitempty"`
	Port          uint32                 `protobuf:"varint,3,opt,name=port,proto3" json:"port,omitempty"`
	Rack          string                 `protobuf:"bytes,4,opt,name=rack,proto3" json:"rack,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *BrokerInfo) Reset() {
	*x = BrokerInfo{}
	mi := &file_rustmq_proto_msgTypes[2]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *BrokerInfo) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*BrokerInfo) ProtoMessage() {}

func (x *BrokerInfo) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[2]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use BrokerInfo.ProtoReflect.Descriptor instead.
func (*BrokerInfo) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{2}
}

func (x *BrokerInfo) GetId() uint32 {
	if x != nil {
		return x.Id
	}
	return 0
}

func (x *BrokerInfo) GetHost() string {
	if x != nil {
		return x.Host
	}
	return ""
}

func (x *BrokerInfo) GetPort() uint32 {
	if x != nil {
		return x.Port
	}
	return 0
}

func (x *BrokerInfo) GetRack() string {
	if x != nil {
		return x.Rack
	}
	return ""
}

type PartitionMetadata struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Partition     uint32                 `protobuf:"varint,1,opt,name=partition,proto3" json:"partition,omitempty"`
	ErrorCode     ErrorCode              `protobuf:"varint,2,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	LeaderId      uint32                 `protobuf:"varint,3,opt,name=leader_id,json=leaderId,proto3" json:"leader_id,omitempty"`
	LeaderEpoch   int32                  `protobuf:"varint,4,opt,name=leader_epoch,json=leaderEpoch,proto3" json:"leader_epoch,omitempty"`
	Replicas      []uint32               `protobuf:"varint,5,rep,packed,name=replicas,proto3" json:"replicas,omitempty"`
	Isr           []uint32               `protobuf:"varint,6,rep,packed,name=isr,proto3" json:"isr,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *PartitionMetadata) Reset() {
	*x = PartitionMetadata{}
	mi := &file_rustmq_proto_msgTypes[3]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *PartitionMetadata) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*PartitionMetadata) ProtoMessage() {}

func (x *PartitionMetadata) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[3]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use PartitionMetadata.ProtoReflect.Descriptor instead.
func (*PartitionMetadata) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{3}
}

func (x *PartitionMetadata) GetPartition() uint32 {
	if x != nil {
		return x.Partition
	}
	return 0
}

func (x *PartitionMetadata) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *PartitionMetadata) GetLeaderId() uint32 {
	if x != nil {
		return x.LeaderId
	}
	return 0
}

func (x *PartitionMetadata) GetLeaderEpoch() int32 {
	if x != nil {
		return x.LeaderEpoch
	}
	return 0
}

func (x *PartitionMetadata) GetReplicas() []uint32 {
	if x != nil {
		return x.Replicas
	}
	return nil
}

func (x *PartitionMetadata) GetIsr() []uint32 {
	if x != nil {
		return x.Isr
	}
	return nil
}

type TopicMetadata struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Name          string                 `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	ErrorCode     ErrorCode              `protobuf:"varint,2,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	Partitions    []*PartitionMetadata   `protobuf:"bytes,3,rep,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *TopicMetadata) Reset() {
	*x = TopicMetadata{}
	mi := &file_rustmq_proto_msgTypes[4]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *TopicMetadata) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*TopicMetadata) ProtoMessage() {}

func (x *TopicMetadata) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[4]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use TopicMetadata.ProtoReflect.Descriptor instead.
func (*TopicMetadata) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{4}
}

func (x *TopicMetadata) GetName() string {
	if x != nil {
		return x.Name
	}
	return ""
}

func (x *TopicMetadata) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *TopicMetadata) GetPartitions() []*PartitionMetadata {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type MetadataResponse struct {
	state   protoimpl.MessageState `protogen:"open.v1"`
	Brokers []*BrokerInfo          `protobuf:"bytes,1,rep,name=brokers,proto3" json:"brokers,omitempty"`
	Topics  []*TopicMetadata       `protobuf:"bytes,2,rep,name=topics,proto3" json:"topics,omitempty"`
	// 32 hex digits chosen once by the cluster's first controller leader and kept in Raft
	// (empty for the moment between a new cluster's bootstrap and that choice).
	ClusterId     string `protobuf:"bytes,3,opt,name=cluster_id,json=clusterId,proto3" json:"cluster_id,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *MetadataResponse) Reset() {
	*x = MetadataResponse{}
	mi := &file_rustmq_proto_msgTypes[5]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *MetadataResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*MetadataResponse) ProtoMessage() {}

func (x *MetadataResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[5]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use MetadataResponse.ProtoReflect.Descriptor instead.
func (*MetadataResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{5}
}

func (x *MetadataResponse) GetBrokers() []*BrokerInfo {
	if x != nil {
		return x.Brokers
	}
	return nil
}

func (x *MetadataResponse) GetTopics() []*TopicMetadata {
	if x != nil {
		return x.Topics
	}
	return nil
}

func (x *MetadataResponse) GetClusterId() string {
	if x != nil {
		return x.ClusterId
	}
	return ""
}

type PartitionProduceData struct {
	state     protoimpl.MessageState `protogen:"open.v1"`
	Partition uint32                 `protobuf:"varint,1,opt,name=partition,proto3" json:"partition,omitempty"`
	// One or more concatenated Kafka RecordBatch v2 batches.
	Records       []byte `protobuf:"bytes,2,opt,name=records,proto3" json:"records,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *PartitionProduceData) Reset() {
	*x = PartitionProduceData{}
	mi := &file_rustmq_proto_msgTypes[6]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *PartitionProduceData) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*PartitionProduceData) ProtoMessage() {}

func (x *PartitionProduceData) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[6]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use PartitionProduceData.ProtoReflect.Descriptor instead.
func (*PartitionProduceData) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{6}
}

func (x *PartitionProduceData) GetPartition() uint32 {
	if x != nil {
		return x.Partition
	}
	return 0
}

func (x *PartitionProduceData) GetRecords() []byte {
	if x != nil {
		return x.Records
	}
	return nil
}

type TopicProduceData struct {
	state         protoimpl.MessageState  `protogen:"open.v1"`
	Topic         string                  `protobuf:"bytes,1,opt,name=topic,proto3" json:"topic,omitempty"`
	Partitions    []*PartitionProduceData `protobuf:"bytes,2,rep,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *TopicProduceData) Reset() {
	*x = TopicProduceData{}
	mi := &file_rustmq_proto_msgTypes[7]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *TopicProduceData) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*TopicProduceData) ProtoMessage() {}

func (x *TopicProduceData) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[7]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use TopicProduceData.ProtoReflect.Descriptor instead.
func (*TopicProduceData) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{7}
}

func (x *TopicProduceData) GetTopic() string {
	if x != nil {
		return x.Topic
	}
	return ""
}

func (x *TopicProduceData) GetPartitions() []*PartitionProduceData {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type ProduceRequest struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// A value this broker does not know gets INVALID_REQUEST for every partition.
	Acks Acks `protobuf:"varint,1,opt,name=acks,proto3,enum=rustmq.v1.Acks" json:"acks,omitempty"`
	// Most the broker waits for the acknowledgement (capped by its ack_timeout_ms, and at
	// 300000); 0 means the broker's default, ack_timeout_ms.
	TimeoutMs uint32 `protobuf:"varint,2,opt,name=timeout_ms,json=timeoutMs,proto3" json:"timeout_ms,omitempty"`
	// A partition may appear once: a request naming one twice (under one topic entry or in
	// two entries of the topic) gets INVALID_REQUEST for every partition and appends nothing,
	// since answers are matched by partition.
	Topics []*TopicProduceData `protobuf:"bytes,3,rep,name=topics,proto3" json:"topics,omitempty"`
	// With acks = CUSTOM: how many replicas (leader included) must have each batch.
	AcksReplicas  uint32 `protobuf:"varint,4,opt,name=acks_replicas,json=acksReplicas,proto3" json:"acks_replicas,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ProduceRequest) Reset() {
	*x = ProduceRequest{}
	mi := &file_rustmq_proto_msgTypes[8]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ProduceRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ProduceRequest) ProtoMessage() {}

func (x *ProduceRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[8]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ProduceRequest.ProtoReflect.Descriptor instead.
func (*ProduceRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{8}
}

func (x *ProduceRequest) GetAcks() Acks {
	if x != nil {
		return x.Acks
	}
	return Acks_LEADER
}

func (x *ProduceRequest) GetTimeoutMs() uint32 {
	if x != nil {
		return x.TimeoutMs
	}
	return 0
}

func (x *ProduceRequest) GetTopics() []*TopicProduceData {
	if x != nil {
		return x.Topics
	}
	return nil
}

func (x *ProduceRequest) GetAcksReplicas() uint32 {
	if x != nil {
		return x.AcksReplicas
	}
	return 0
}

type PartitionProduceResponse struct {
	state        protoimpl.MessageState `protogen:"open.v1"`
	Partition    uint32                 `protobuf:"varint,1,opt,name=partition,proto3" json:"partition,omitempty"`
	ErrorCode    ErrorCode              `protobuf:"varint,2,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	ErrorMessage string                 `protobuf:"bytes,3,opt,name=error_message,json=errorMessage,proto3" json:"error_message,omitempty"`
	// Offset given to the first record of the first batch.
	BaseOffset int64 `protobuf:"varint,4,opt,name=base_offset,json=baseOffset,proto3" json:"base_offset,omitempty"`
	// Log-append time in ms when the topic uses it, else -1.
	LogAppendTimeMs int64 `protobuf:"varint,5,opt,name=log_append_time_ms,json=logAppendTimeMs,proto3" json:"log_append_time_ms,omitempty"`
	LogStartOffset  int64 `protobuf:"varint,6,opt,name=log_start_offset,json=logStartOffset,proto3" json:"log_start_offset,omitempty"`
	unknownFields   protoimpl.UnknownFields
	sizeCache       protoimpl.SizeCache
}

func (x *PartitionProduceResponse) Reset() {
	*x = PartitionProduceResponse{}
	mi := &file_rustmq_proto_msgTypes[9]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *PartitionProduceResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*PartitionProduceResponse) ProtoMessage() {}

func (x *PartitionProduceResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[9]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use PartitionProduceResponse.ProtoReflect.Descriptor instead.
func (*PartitionProduceResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{9}
}

func (x *PartitionProduceResponse) GetPartition() uint32 {
	if x != nil {
		return x.Partition
	}
	return 0
}

func (x *PartitionProduceResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *PartitionProduceResponse) GetErrorMessage() string {
	if x != nil {
		return x.ErrorMessage
	}
	return ""
}

func (x *PartitionProduceResponse) GetBaseOffset() int64 {
	if x != nil {
		return x.BaseOffset
	}
	return 0
}

func (x *PartitionProduceResponse) GetLogAppendTimeMs() int64 {
	if x != nil {
		return x.LogAppendTimeMs
	}
	return 0
}

func (x *PartitionProduceResponse) GetLogStartOffset() int64 {
	if x != nil {
		return x.LogStartOffset
	}
	return 0
}

type TopicProduceResponse struct {
	state         protoimpl.MessageState      `protogen:"open.v1"`
	Topic         string                      `protobuf:"bytes,1,opt,name=topic,proto3" json:"topic,omitempty"`
	Partitions    []*PartitionProduceResponse `protobuf:"bytes,2,rep,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *TopicProduceResponse) Reset() {
	*x = TopicProduceResponse{}
	mi := &file_rustmq_proto_msgTypes[10]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *TopicProduceResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*TopicProduceResponse) ProtoMessage() {}

func (x *TopicProduceResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[10]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use TopicProduceResponse.ProtoReflect.Descriptor instead.
func (*TopicProduceResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{10}
}

func (x *TopicProduceResponse) GetTopic() string {
	if x != nil {
		return x.Topic
	}
	return ""
}

func (x *TopicProduceResponse) GetPartitions() []*PartitionProduceResponse {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type ProduceResponse struct {
	state         protoimpl.MessageState  `protogen:"open.v1"`
	Topics        []*TopicProduceResponse `protobuf:"bytes,1,rep,name=topics,proto3" json:"topics,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ProduceResponse) Reset() {
	*x = ProduceResponse{}
	mi := &file_rustmq_proto_msgTypes[11]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ProduceResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ProduceResponse) ProtoMessage() {}

func (x *ProduceResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[11]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ProduceResponse.ProtoReflect.Descriptor instead.
func (*ProduceResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{11}
}

func (x *ProduceResponse) GetTopics() []*TopicProduceResponse {
	if x != nil {
		return x.Topics
	}
	return nil
}

// ---- Fetch (api key 3) ----
type FetchPartition struct {
	state       protoimpl.MessageState `protogen:"open.v1"`
	Partition   uint32                 `protobuf:"varint,1,opt,name=partition,proto3" json:"partition,omitempty"`
	FetchOffset int64                  `protobuf:"varint,2,opt,name=fetch_offset,json=fetchOffset,proto3" json:"fetch_offset,omitempty"`
	// Most bytes of records for this partition (0: max_bytes).
	PartitionMaxBytes uint32 `protobuf:"varint,3,opt,name=partition_max_bytes,json=partitionMaxBytes,proto3" json:"partition_max_bytes,omitempty"`
	unknownFields     protoimpl.UnknownFields
	sizeCache         protoimpl.SizeCache
}

func (x *FetchPartition) Reset() {
	*x = FetchPartition{}
	mi := &file_rustmq_proto_msgTypes[12]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FetchPartition) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FetchPartition) ProtoMessage() {}

func (x *FetchPartition) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[12]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FetchPartition.ProtoReflect.Descriptor instead.
func (*FetchPartition) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{12}
}

func (x *FetchPartition) GetPartition() uint32 {
	if x != nil {
		return x.Partition
	}
	return 0
}

func (x *FetchPartition) GetFetchOffset() int64 {
	if x != nil {
		return x.FetchOffset
	}
	return 0
}

func (x *FetchPartition) GetPartitionMaxBytes() uint32 {
	if x != nil {
		return x.PartitionMaxBytes
	}
	return 0
}

type FetchTopic struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Topic         string                 `protobuf:"bytes,1,opt,name=topic,proto3" json:"topic,omitempty"`
	Partitions    []*FetchPartition      `protobuf:"bytes,2,rep,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FetchTopic) Reset() {
	*x = FetchTopic{}
	mi := &file_rustmq_proto_msgTypes[13]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FetchTopic) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FetchTopic) ProtoMessage() {}

func (x *FetchTopic) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[13]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FetchTopic.ProtoReflect.Descriptor instead.
func (*FetchTopic) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{13}
}

func (x *FetchTopic) GetTopic() string {
	if x != nil {
		return x.Topic
	}
	return ""
}

func (x *FetchTopic) GetPartitions() []*FetchPartition {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type FetchRequest struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Long poll: wait up to max_wait_ms (0: answer at once; at most 30000) for min_bytes of
	// data in total (0 means 1).
	MaxWaitMs uint32 `protobuf:"varint,1,opt,name=max_wait_ms,json=maxWaitMs,proto3" json:"max_wait_ms,omitempty"`
	MinBytes  uint32 `protobuf:"varint,2,opt,name=min_bytes,json=minBytes,proto3" json:"min_bytes,omitempty"`
	// Most bytes of records in the whole response (0: the broker's default, 50 MiB). At least
	// one batch is returned per partition even if it is larger, so a consumer always progresses.
	MaxBytes      uint32        `protobuf:"varint,3,opt,name=max_bytes,json=maxBytes,proto3" json:"max_bytes,omitempty"`
	Topics        []*FetchTopic `protobuf:"bytes,4,rep,name=topics,proto3" json:"topics,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FetchRequest) Reset() {
	*x = FetchRequest{}
	mi := &file_rustmq_proto_msgTypes[14]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FetchRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FetchRequest) ProtoMessage() {}

func (x *FetchRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[14]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FetchRequest.ProtoReflect.Descriptor instead.
func (*FetchRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{14}
}

func (x *FetchRequest) GetMaxWaitMs() uint32 {
	if x != nil {
		return x.MaxWaitMs
	}
	return 0
}

func (x *FetchRequest) GetMinBytes() uint32 {
	if x != nil {
		return x.MinBytes
	}
	return 0
}

func (x *FetchRequest) GetMaxBytes() uint32 {
	if x != nil {
		return x.MaxBytes
	}
	return 0
}

func (x *FetchRequest) GetTopics() []*FetchTopic {
	if x != nil {
		return x.Topics
	}
	return nil
}

type FetchPartitionResponse struct {
	state          protoimpl.MessageState `protogen:"open.v1"`
	Partition      uint32                 `protobuf:"varint,1,opt,name=partition,proto3" json:"partition,omitempty"`
	ErrorCode      ErrorCode              `protobuf:"varint,2,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	HighWatermark  int64                  `protobuf:"varint,3,opt,name=high_watermark,json=highWatermark,proto3" json:"high_watermark,omitempty"`
	LogStartOffset int64                  `protobuf:"varint,4,opt,name=log_start_offset,json=logStartOffset,proto3" json:"log_start_offset,omitempty"`
	// Whole RecordBatch v2 batches; the first may start below fetch_offset.
	Records       []byte `protobuf:"bytes,5,opt,name=records,proto3" json:"records,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FetchPartitionResponse) Reset() {
	*x = FetchPartitionResponse{}
	mi := &file_rustmq_proto_msgTypes[15]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FetchPartitionResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FetchPartitionResponse) ProtoMessage() {}

func (x *FetchPartitionResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[15]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FetchPartitionResponse.ProtoReflect.Descriptor instead.
func (*FetchPartitionResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{15}
}

func (x *FetchPartitionResponse) GetPartition() uint32 {
	if x != nil {
		return x.Partition
	}
	return 0
}

func (x *FetchPartitionResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *FetchPartitionResponse) GetHighWatermark() int64 {
	if x != nil {
		return x.HighWatermark
	}
	return 0
}

func (x *FetchPartitionResponse) GetLogStartOffset() int64 {
	if x != nil {
		return x.LogStartOffset
	}
	return 0
}

func (x *FetchPartitionResponse) GetRecords() []byte {
	if x != nil {
		return x.Records
	}
	return nil
}

type FetchTopicResponse struct {
	state         protoimpl.MessageState    `protogen:"open.v1"`
	Topic         string                    `protobuf:"bytes,1,opt,name=topic,proto3" json:"topic,omitempty"`
	Partitions    []*FetchPartitionResponse `protobuf:"bytes,2,rep,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FetchTopicResponse) Reset() {
	*x = FetchTopicResponse{}
	mi := &file_rustmq_proto_msgTypes[16]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FetchTopicResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FetchTopicResponse) ProtoMessage() {}

func (x *FetchTopicResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[16]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FetchTopicResponse.ProtoReflect.Descriptor instead.
func (*FetchTopicResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{16}
}

func (x *FetchTopicResponse) GetTopic() string {
	if x != nil {
		return x.Topic
	}
	return ""
}

func (x *FetchTopicResponse) GetPartitions() []*FetchPartitionResponse {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type FetchResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Topics        []*FetchTopicResponse  `protobuf:"bytes,1,rep,name=topics,proto3" json:"topics,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FetchResponse) Reset() {
	*x = FetchResponse{}
	mi := &file_rustmq_proto_msgTypes[17]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FetchResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FetchResponse) ProtoMessage() {}

func (x *FetchResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[17]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FetchResponse.ProtoReflect.Descriptor instead.
func (*FetchResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{17}
}

func (x *FetchResponse) GetTopics() []*FetchTopicResponse {
	if x != nil {
		return x.Topics
	}
	return nil
}

// ---- ListOffsets (api key 4) ----
type ListOffsetsPartition struct {
	state     protoimpl.MessageState `protogen:"open.v1"`
	Partition uint32                 `protobuf:"varint,1,opt,name=partition,proto3" json:"partition,omitempty"`
	// -2: earliest, -1: latest (next offset to be written), otherwise a timestamp in ms:
	// the first offset whose record timestamp is >= it.
	Timestamp     int64 `protobuf:"varint,2,opt,name=timestamp,proto3" json:"timestamp,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ListOffsetsPartition) Reset() {
	*x = ListOffsetsPartition{}
	mi := &file_rustmq_proto_msgTypes[18]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ListOffsetsPartition) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ListOffsetsPartition) ProtoMessage() {}

func (x *ListOffsetsPartition) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[18]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ListOffsetsPartition.ProtoReflect.Descriptor instead.
func (*ListOffsetsPartition) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{18}
}

func (x *ListOffsetsPartition) GetPartition() uint32 {
	if x != nil {
		return x.Partition
	}
	return 0
}

func (x *ListOffsetsPartition) GetTimestamp() int64 {
	if x != nil {
		return x.Timestamp
	}
	return 0
}

type ListOffsetsTopic struct {
	state         protoimpl.MessageState  `protogen:"open.v1"`
	Topic         string                  `protobuf:"bytes,1,opt,name=topic,proto3" json:"topic,omitempty"`
	Partitions    []*ListOffsetsPartition `protobuf:"bytes,2,rep,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ListOffsetsTopic) Reset() {
	*x = ListOffsetsTopic{}
	mi := &file_rustmq_proto_msgTypes[19]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ListOffsetsTopic) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ListOffsetsTopic) ProtoMessage() {}

func (x *ListOffsetsTopic) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[19]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ListOffsetsTopic.ProtoReflect.Descriptor instead.
func (*ListOffsetsTopic) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{19}
}

func (x *ListOffsetsTopic) GetTopic() string {
	if x != nil {
		return x.Topic
	}
	return ""
}

func (x *ListOffsetsTopic) GetPartitions() []*ListOffsetsPartition {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type ListOffsetsRequest struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Topics        []*ListOffsetsTopic    `protobuf:"bytes,1,rep,name=topics,proto3" json:"topics,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ListOffsetsRequest) Reset() {
	*x = ListOffsetsRequest{}
	mi := &file_rustmq_proto_msgTypes[20]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ListOffsetsRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ListOffsetsRequest) ProtoMessage() {}

func (x *ListOffsetsRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[20]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ListOffsetsRequest.ProtoReflect.Descriptor instead.
func (*ListOffsetsRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{20}
}

func (x *ListOffsetsRequest) GetTopics() []*ListOffsetsTopic {
	if x != nil {
		return x.Topics
	}
	return nil
}

type ListOffsetsPartitionResponse struct {
	state     protoimpl.MessageState `protogen:"open.v1"`
	Partition uint32                 `protobuf:"varint,1,opt,name=partition,proto3" json:"partition,omitempty"`
	ErrorCode ErrorCode              `protobuf:"varint,2,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	// -1 when no record has a timestamp at or after the one asked for.
	Offset        int64 `protobuf:"varint,3,opt,name=offset,proto3" json:"offset,omitempty"`
	Timestamp     int64 `protobuf:"varint,4,opt,name=timestamp,proto3" json:"timestamp,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ListOffsetsPartitionResponse) Reset() {
	*x = ListOffsetsPartitionResponse{}
	mi := &file_rustmq_proto_msgTypes[21]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ListOffsetsPartitionResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ListOffsetsPartitionResponse) ProtoMessage() {}

func (x *ListOffsetsPartitionResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[21]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ListOffsetsPartitionResponse.ProtoReflect.Descriptor instead.
func (*ListOffsetsPartitionResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{21}
}

func (x *ListOffsetsPartitionResponse) GetPartition() uint32 {
	if x != nil {
		return x.Partition
	}
	return 0
}

func (x *ListOffsetsPartitionResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *ListOffsetsPartitionResponse) GetOffset() int64 {
	if x != nil {
		return x.Offset
	}
	return 0
}

func (x *ListOffsetsPartitionResponse) GetTimestamp() int64 {
	if x != nil {
		return x.Timestamp
	}
	return 0
}

type ListOffsetsTopicResponse struct {
	state         protoimpl.MessageState          `protogen:"open.v1"`
	Topic         string                          `protobuf:"bytes,1,opt,name=topic,proto3" json:"topic,omitempty"`
	Partitions    []*ListOffsetsPartitionResponse `protobuf:"bytes,2,rep,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ListOffsetsTopicResponse) Reset() {
	*x = ListOffsetsTopicResponse{}
	mi := &file_rustmq_proto_msgTypes[22]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ListOffsetsTopicResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ListOffsetsTopicResponse) ProtoMessage() {}

func (x *ListOffsetsTopicResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[22]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ListOffsetsTopicResponse.ProtoReflect.Descriptor instead.
func (*ListOffsetsTopicResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{22}
}

func (x *ListOffsetsTopicResponse) GetTopic() string {
	if x != nil {
		return x.Topic
	}
	return ""
}

func (x *ListOffsetsTopicResponse) GetPartitions() []*ListOffsetsPartitionResponse {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type ListOffsetsResponse struct {
	state         protoimpl.MessageState      `protogen:"open.v1"`
	Topics        []*ListOffsetsTopicResponse `protobuf:"bytes,1,rep,name=topics,proto3" json:"topics,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ListOffsetsResponse) Reset() {
	*x = ListOffsetsResponse{}
	mi := &file_rustmq_proto_msgTypes[23]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ListOffsetsResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ListOffsetsResponse) ProtoMessage() {}

func (x *ListOffsetsResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[23]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ListOffsetsResponse.ProtoReflect.Descriptor instead.
func (*ListOffsetsResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{23}
}

func (x *ListOffsetsResponse) GetTopics() []*ListOffsetsTopicResponse {
	if x != nil {
		return x.Topics
	}
	return nil
}

// ---- Health (api key 5) ----
type HealthRequest struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *HealthRequest) Reset() {
	*x = HealthRequest{}
	mi := &file_rustmq_proto_msgTypes[24]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *HealthRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*HealthRequest) ProtoMessage() {}

func (x *HealthRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[24]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use HealthRequest.ProtoReflect.Descriptor instead.
func (*HealthRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{24}
}

type ComponentHealth struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Name          string                 `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	Healthy       bool                   `protobuf:"varint,2,opt,name=healthy,proto3" json:"healthy,omitempty"`
	Detail        string                 `protobuf:"bytes,3,opt,name=detail,proto3" json:"detail,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ComponentHealth) Reset() {
	*x = ComponentHealth{}
	mi := &file_rustmq_proto_msgTypes[25]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ComponentHealth) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ComponentHealth) ProtoMessage() {}

func (x *ComponentHealth) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[25]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ComponentHealth.ProtoReflect.Descriptor instead.
func (*ComponentHealth) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{25}
}

func (x *ComponentHealth) GetName() string {
	if x != nil {
		return x.Name
	}
	return ""
}

func (x *ComponentHealth) GetHealthy() bool {
	if x != nil {
		return x.Healthy
	}
	return false
}

func (x *ComponentHealth) GetDetail() string {
	if x != nil {
		return x.Detail
	}
	return ""
}

type HealthResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Healthy       bool                   `protobuf:"varint,1,opt,name=healthy,proto3" json:"healthy,omitempty"`
	Version       string                 `protobuf:"bytes,2,opt,name=version,proto3" json:"version,omitempty"`
	UptimeSeconds uint64                 `protobuf:"varint,3,opt,name=uptime_seconds,json=uptimeSeconds,proto3" json:"uptime_seconds,omitempty"`
	BrokerId      uint32                 `protobuf:"varint,4,opt,name=broker_id,json=brokerId,proto3" json:"broker_id,omitempty"`
	Components    []*ComponentHealth     `protobuf:"bytes,5,rep,name=components,proto3" json:"components,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *HealthResponse) Reset() {
	*x = HealthResponse{}
	mi := &file_rustmq_proto_msgTypes[26]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *HealthResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*HealthResponse) ProtoMessage() {}

func (x *HealthResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[26]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use HealthResponse.ProtoReflect.Descriptor instead.
func (*HealthResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{26}
}

func (x *HealthResponse) GetHealthy() bool {
	if x != nil {
		return x.Healthy
	}
	return false
}

func (x *HealthResponse) GetVersion() string {
	if x != nil {
		return x.Version
	}
	return ""
}

func (x *HealthResponse) GetUptimeSeconds() uint64 {
	if x != nil {
		return x.UptimeSeconds
	}
	return 0
}

func (x *HealthResponse) GetBrokerId() uint32 {
	if x != nil {
		return x.BrokerId
	}
	return 0
}

func (x *HealthResponse) GetComponents() []*ComponentHealth {
	if x != nil {
		return x.Components
	}
	return nil
}

type TopicPartitions struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Topic         string                 `protobuf:"bytes,1,opt,name=topic,proto3" json:"topic,omitempty"`
	Partitions    []uint32               `protobuf:"varint,2,rep,packed,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *TopicPartitions) Reset() {
	*x = TopicPartitions{}
	mi := &file_rustmq_proto_msgTypes[27]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *TopicPartitions) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*TopicPartitions) ProtoMessage() {}

func (x *TopicPartitions) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[27]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use TopicPartitions.ProtoReflect.Descriptor instead.
func (*TopicPartitions) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{27}
}

func (x *TopicPartitions) GetTopic() string {
	if x != nil {
		return x.Topic
	}
	return ""
}

func (x *TopicPartitions) GetPartitions() []uint32 {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type JoinGroupRequest struct {
	state   protoimpl.MessageState `protogen:"open.v1"`
	GroupId string                 `protobuf:"bytes,1,opt,name=group_id,json=groupId,proto3" json:"group_id,omitempty"`
	// Empty on first join: the coordinator gives one.
	MemberId string `protobuf:"bytes,2,opt,name=member_id,json=memberId,proto3" json:"member_id,omitempty"`
	// Static membership: the same instance id rejoining keeps its member id and assignment.
	GroupInstanceId    string   `protobuf:"bytes,3,opt,name=group_instance_id,json=groupInstanceId,proto3" json:"group_instance_id,omitempty"`
	SessionTimeoutMs   uint32   `protobuf:"varint,4,opt,name=session_timeout_ms,json=sessionTimeoutMs,proto3" json:"session_timeout_ms,omitempty"`
	RebalanceTimeoutMs uint32   `protobuf:"varint,5,opt,name=rebalance_timeout_ms,json=rebalanceTimeoutMs,proto3" json:"rebalance_timeout_ms,omitempty"`
	Topics             []string `protobuf:"bytes,6,rep,name=topics,proto3" json:"topics,omitempty"`
	Assignor           string   `protobuf:"bytes,7,opt,name=assignor,proto3" json:"assignor,omitempty"`
	// What the member currently owns (cooperative-sticky keeps it where it can).
	Owned         []*TopicPartitions `protobuf:"bytes,8,rep,name=owned,proto3" json:"owned,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *JoinGroupRequest) Reset() {
	*x = JoinGroupRequest{}
	mi := &file_rustmq_proto_msgTypes[28]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *JoinGroupRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*JoinGroupRequest) ProtoMessage() {}

func (x *JoinGroupRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[28]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use JoinGroupRequest.ProtoReflect.Descriptor instead.
func (*JoinGroupRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{28}
}

func (x *JoinGroupRequest) GetGroupId() string {
	if x != nil {
		return x.GroupId
	}
	return ""
}

func (x *JoinGroupRequest) GetMemberId() string {
	if x != nil {
		return x.MemberId
	}
	return ""
}

func (x *JoinGroupRequest) GetGroupInstanceId() string {
	if x != nil {
		return x.GroupInstanceId
	}
	return ""
}

func (x *JoinGroupRequest) GetSessionTimeoutMs() uint32 {
	if x != nil {
		return x.SessionTimeoutMs
	}
	return 0
}

func (x *JoinGroupRequest) GetRebalanceTimeoutMs() uint32 {
	if x != nil {
		return x.RebalanceTimeoutMs
	}
	return 0
}

func (x *JoinGroupRequest) GetTopics() []string {
	if x != nil {
		return x.Topics
	}
	return nil
}

func (x *JoinGroupRequest) GetAssignor() string {
	if x != nil {
		return x.Assignor
	}
	return ""
}

func (x *JoinGroupRequest) GetOwned() []*TopicPartitions {
	if x != nil {
		return x.Owned
	}
	return nil
}

type JoinGroupResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	ErrorCode     ErrorCode              `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	ErrorMessage  string                 `protobuf:"bytes,2,opt,name=error_message,json=errorMessage,proto3" json:"error_message,omitempty"`
	GenerationId  int32                  `protobuf:"varint,3,opt,name=generation_id,json=generationId,proto3" json:"generation_id,omitempty"`
	MemberId      string                 `protobuf:"bytes,4,opt,name=member_id,json=memberId,proto3" json:"member_id,omitempty"`
	LeaderId      string                 `protobuf:"bytes,5,opt,name=leader_id,json=leaderId,proto3" json:"leader_id,omitempty"`
	Assignor      string                 `protobuf:"bytes,6,opt,name=assignor,proto3" json:"assignor,omitempty"`
	Members       []string               `protobuf:"bytes,7,rep,name=members,proto3" json:"members,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *JoinGroupResponse) Reset() {
	*x = JoinGroupResponse{}
	mi := &file_rustmq_proto_msgTypes[29]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *JoinGroupResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*JoinGroupResponse) ProtoMessage() {}

func (x *JoinGroupResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[29]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use JoinGroupResponse.ProtoReflect.Descriptor instead.
func (*JoinGroupResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{29}
}

func (x *JoinGroupResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *JoinGroupResponse) GetErrorMessage() string {
	if x != nil {
		return x.ErrorMessage
	}
	return ""
}

func (x *JoinGroupResponse) GetGenerationId() int32 {
	if x != nil {
		return x.GenerationId
	}
	return 0
}

func (x *JoinGroupResponse) GetMemberId() string {
	if x != nil {
		return x.MemberId
	}
	return ""
}

func (x *JoinGroupResponse) GetLeaderId() string {
	if x != nil {
		return x.LeaderId
	}
	return ""
}

func (x *JoinGroupResponse) GetAssignor() string {
	if x != nil {
		return x.Assignor
	}
	return ""
}

func (x *JoinGroupResponse) GetMembers() []string {
	if x != nil {
		return x.Members
	}
	return nil
}

type SyncGroupRequest struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	GroupId       string                 `protobuf:"bytes,1,opt,name=group_id,json=groupId,proto3" json:"group_id,omitempty"`
	MemberId      string                 `protobuf:"bytes,2,opt,name=member_id,json=memberId,proto3" json:"member_id,omitempty"`
	GenerationId  int32                  `protobuf:"varint,3,opt,name=generation_id,json=generationId,proto3" json:"generation_id,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *SyncGroupRequest) Reset() {
	*x = SyncGroupRequest{}
	mi := &file_rustmq_proto_msgTypes[30]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *SyncGroupRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*SyncGroupRequest) ProtoMessage() {}

func (x *SyncGroupRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[30]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use SyncGroupRequest.ProtoReflect.Descriptor instead.
func (*SyncGroupRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{30}
}

func (x *SyncGroupRequest) GetGroupId() string {
	if x != nil {
		return x.GroupId
	}
	return ""
}

func (x *SyncGroupRequest) GetMemberId() string {
	if x != nil {
		return x.MemberId
	}
	return ""
}

func (x *SyncGroupRequest) GetGenerationId() int32 {
	if x != nil {
		return x.GenerationId
	}
	return 0
}

type SyncGroupResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	ErrorCode     ErrorCode              `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	ErrorMessage  string                 `protobuf:"bytes,2,opt,name=error_message,json=errorMessage,proto3" json:"error_message,omitempty"`
	Assignment    []*TopicPartitions     `protobuf:"bytes,3,rep,name=assignment,proto3" json:"assignment,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *SyncGroupResponse) Reset() {
	*x = SyncGroupResponse{}
	mi := &file_rustmq_proto_msgTypes[31]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *SyncGroupResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*SyncGroupResponse) ProtoMessage() {}

func (x *SyncGroupResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[31]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use SyncGroupResponse.ProtoReflect.Descriptor instead.
func (*SyncGroupResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{31}
}

func (x *SyncGroupResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *SyncGroupResponse) GetErrorMessage() string {
	if x != nil {
		return x.ErrorMessage
	}
	return ""
}

func (x *SyncGroupResponse) GetAssignment() []*TopicPartitions {
	if x != nil {
		return x.Assignment
	}
	return nil
}

type HeartbeatRequest struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	GroupId       string                 `protobuf:"bytes,1,opt,name=group_id,json=groupId,proto3" json:"group_id,omitempty"`
	MemberId      string                 `protobuf:"bytes,2,opt,name=member_id,json=memberId,proto3" json:"member_id,omitempty"`
	GenerationId  int32                  `protobuf:"varint,3,opt,name=generation_id,json=generationId,proto3" json:"generation_id,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *HeartbeatRequest) Reset() {
	*x = HeartbeatRequest{}
	mi := &file_rustmq_proto_msgTypes[32]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *HeartbeatRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*HeartbeatRequest) ProtoMessage() {}

func (x *HeartbeatRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[32]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use HeartbeatRequest.ProtoReflect.Descriptor instead.
func (*HeartbeatRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{32}
}

func (x *HeartbeatRequest) GetGroupId() string {
	if x != nil {
		return x.GroupId
	}
	return ""
}

func (x *HeartbeatRequest) GetMemberId() string {
	if x != nil {
		return x.MemberId
	}
	return ""
}

func (x *HeartbeatRequest) GetGenerationId() int32 {
	if x != nil {
		return x.GenerationId
	}
	return 0
}

type HeartbeatResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	ErrorCode     ErrorCode              `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	ErrorMessage  string                 `protobuf:"bytes,2,opt,name=error_message,json=errorMessage,proto3" json:"error_message,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *HeartbeatResponse) Reset() {
	*x = HeartbeatResponse{}
	mi := &file_rustmq_proto_msgTypes[33]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *HeartbeatResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*HeartbeatResponse) ProtoMessage() {}

func (x *HeartbeatResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[33]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use HeartbeatResponse.ProtoReflect.Descriptor instead.
func (*HeartbeatResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{33}
}

func (x *HeartbeatResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *HeartbeatResponse) GetErrorMessage() string {
	if x != nil {
		return x.ErrorMessage
	}
	return ""
}

type LeaveGroupRequest struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	GroupId       string                 `protobuf:"bytes,1,opt,name=group_id,json=groupId,proto3" json:"group_id,omitempty"`
	MemberId      string                 `protobuf:"bytes,2,opt,name=member_id,json=memberId,proto3" json:"member_id,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *LeaveGroupRequest) Reset() {
	*x = LeaveGroupRequest{}
	mi := &file_rustmq_proto_msgTypes[34]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *LeaveGroupRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*LeaveGroupRequest) ProtoMessage() {}

func (x *LeaveGroupRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[34]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use LeaveGroupRequest.ProtoReflect.Descriptor instead.
func (*LeaveGroupRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{34}
}

func (x *LeaveGroupRequest) GetGroupId() string {
	if x != nil {
		return x.GroupId
	}
	return ""
}

func (x *LeaveGroupRequest) GetMemberId() string {
	if x != nil {
		return x.MemberId
	}
	return ""
}

type LeaveGroupResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	ErrorCode     ErrorCode              `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	ErrorMessage  string                 `protobuf:"bytes,2,opt,name=error_message,json=errorMessage,proto3" json:"error_message,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *LeaveGroupResponse) Reset() {
	*x = LeaveGroupResponse{}
	mi := &file_rustmq_proto_msgTypes[35]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *LeaveGroupResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*LeaveGroupResponse) ProtoMessage() {}

func (x *LeaveGroupResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[35]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use LeaveGroupResponse.ProtoReflect.Descriptor instead.
func (*LeaveGroupResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{35}
}

func (x *LeaveGroupResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *LeaveGroupResponse) GetErrorMessage() string {
	if x != nil {
		return x.ErrorMessage
	}
	return ""
}

type OffsetCommitPartition struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Partition     uint32                 `protobuf:"varint,1,opt,name=partition,proto3" json:"partition,omitempty"`
	Offset        int64                  `protobuf:"varint,2,opt,name=offset,proto3" json:"offset,omitempty"`
	Metadata      string                 `protobuf:"bytes,3,opt,name=metadata,proto3" json:"metadata,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *OffsetCommitPartition) Reset() {
	*x = OffsetCommitPartition{}
	mi := &file_rustmq_proto_msgTypes[36]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *OffsetCommitPartition) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*OffsetCommitPartition) ProtoMessage() {}

func (x *OffsetCommitPartition) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[36]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use OffsetCommitPartition.ProtoReflect.Descriptor instead.
func (*OffsetCommitPartition) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{36}
}

func (x *OffsetCommitPartition) GetPartition() uint32 {
	if x != nil {
		return x.Partition
	}
	return 0
}

func (x *OffsetCommitPartition) GetOffset() int64 {
	if x != nil {
		return x.Offset
	}
	return 0
}

func (x *OffsetCommitPartition) GetMetadata() string {
	if x != nil {
		return x.Metadata
	}
	return ""
}

type OffsetCommitTopic struct {
	state         protoimpl.MessageState   `protogen:"open.v1"`
	Topic         string                   `protobuf:"bytes,1,opt,name=topic,proto3" json:"topic,omitempty"`
	Partitions    []*OffsetCommitPartition `protobuf:"bytes,2,rep,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *OffsetCommitTopic) Reset() {
	*x = OffsetCommitTopic{}
	mi := &file_rustmq_proto_msgTypes[37]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *OffsetCommitTopic) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*OffsetCommitTopic) ProtoMessage() {}

func (x *OffsetCommitTopic) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[37]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use OffsetCommitTopic.ProtoReflect.Descriptor instead.
func (*OffsetCommitTopic) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{37}
}

func (x *OffsetCommitTopic) GetTopic() string {
	if x != nil {
		return x.Topic
	}
	return ""
}

func (x *OffsetCommitTopic) GetPartitions() []*OffsetCommitPartition {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type OffsetCommitRequest struct {
	state   protoimpl.MessageState `protogen:"open.v1"`
	GroupId string                 `protobuf:"bytes,1,opt,name=group_id,json=groupId,proto3" json:"group_id,omitempty"`
	// Members commit with their member id and generation; -1 and an empty member id commit
	// for a group without active members (admin offset resets).
	MemberId      string               `protobuf:"bytes,2,opt,name=member_id,json=memberId,proto3" json:"member_id,omitempty"`
	GenerationId  int32                `protobuf:"varint,3,opt,name=generation_id,json=generationId,proto3" json:"generation_id,omitempty"`
	Topics        []*OffsetCommitTopic `protobuf:"bytes,4,rep,name=topics,proto3" json:"topics,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *OffsetCommitRequest) Reset() {
	*x = OffsetCommitRequest{}
	mi := &file_rustmq_proto_msgTypes[38]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *OffsetCommitRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*OffsetCommitRequest) ProtoMessage() {}

func (x *OffsetCommitRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[38]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use OffsetCommitRequest.ProtoReflect.Descriptor instead.
func (*OffsetCommitRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{38}
}

func (x *OffsetCommitRequest) GetGroupId() string {
	if x != nil {
		return x.GroupId
	}
	return ""
}

func (x *OffsetCommitRequest) GetMemberId() string {
	if x != nil {
		return x.MemberId
	}
	return ""
}

func (x *OffsetCommitRequest) GetGenerationId() int32 {
	if x != nil {
		return x.GenerationId
	}
	return 0
}

func (x *OffsetCommitRequest) GetTopics() []*OffsetCommitTopic {
	if x != nil {
		return x.Topics
	}
	return nil
}

type OffsetCommitPartitionResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Topic         string                 `protobuf:"bytes,1,opt,name=topic,proto3" json:"topic,omitempty"`
	Partition     uint32                 `protobuf:"varint,2,opt,name=partition,proto3" json:"partition,omitempty"`
	ErrorCode     ErrorCode              `protobuf:"varint,3,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	ErrorMessage  string                 `protobuf:"bytes,4,opt,name=error_message,json=errorMessage,proto3" json:"error_message,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *OffsetCommitPartitionResponse) Reset() {
	*x = OffsetCommitPartitionResponse{}
	mi := &file_rustmq_proto_msgTypes[39]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *OffsetCommitPartitionResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*OffsetCommitPartitionResponse) ProtoMessage() {}

func (x *OffsetCommitPartitionResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[39]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use OffsetCommitPartitionResponse.ProtoReflect.Descriptor instead.
func (*OffsetCommitPartitionResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{39}
}

func (x *OffsetCommitPartitionResponse) GetTopic() string {
	if x != nil {
		return x.Topic
	}
	return ""
}

func (x *OffsetCommitPartitionResponse) GetPartition() uint32 {
	if x != nil {
		return x.Partition
	}
	return 0
}

func (x *OffsetCommitPartitionResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *OffsetCommitPartitionResponse) GetErrorMessage() string {
	if x != nil {
		return x.ErrorMessage
	}
	return ""
}

type OffsetCommitResponse struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Request-level error (fencing); when set, nothing was committed.
	ErrorCode     ErrorCode                        `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	ErrorMessage  string                           `protobuf:"bytes,2,opt,name=error_message,json=errorMessage,proto3" json:"error_message,omitempty"`
	Partitions    []*OffsetCommitPartitionResponse `protobuf:"bytes,3,rep,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *OffsetCommitResponse) Reset() {
	*x = OffsetCommitResponse{}
	mi := &file_rustmq_proto_msgTypes[40]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *OffsetCommitResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*OffsetCommitResponse) ProtoMessage() {}

func (x *OffsetCommitResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[40]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use OffsetCommitResponse.ProtoReflect.Descriptor instead.
func (*OffsetCommitResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{40}
}

func (x *OffsetCommitResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *OffsetCommitResponse) GetErrorMessage() string {
	if x != nil {
		return x.ErrorMessage
	}
	return ""
}

func (x *OffsetCommitResponse) GetPartitions() []*OffsetCommitPartitionResponse {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type OffsetFetchRequest struct {
	state   protoimpl.MessageState `protogen:"open.v1"`
	GroupId string                 `protobuf:"bytes,1,opt,name=group_id,json=groupId,proto3" json:"group_id,omitempty"`
	// Empty: every committed offset of the group.
	Partitions    []*TopicPartitions `protobuf:"bytes,2,rep,name=partitions,proto3" json:"partitions,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *OffsetFetchRequest) Reset() {
	*x = OffsetFetchRequest{}
	mi := &file_rustmq_proto_msgTypes[41]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *OffsetFetchRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*OffsetFetchRequest) ProtoMessage() {}

func (x *OffsetFetchRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[41]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use OffsetFetchRequest.ProtoReflect.Descriptor instead.
func (*OffsetFetchRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{41}
}

func (x *OffsetFetchRequest) GetGroupId() string {
	if x != nil {
		return x.GroupId
	}
	return ""
}

func (x *OffsetFetchRequest) GetPartitions() []*TopicPartitions {
	if x != nil {
		return x.Partitions
	}
	return nil
}

type CommittedOffset struct {
	state     protoimpl.MessageState `protogen:"open.v1"`
	Topic     string                 `protobuf:"bytes,1,opt,name=topic,proto3" json:"topic,omitempty"`
	Partition uint32                 `protobuf:"varint,2,opt,name=partition,proto3" json:"partition,omitempty"`
	// -1 when nothing is committed.
	Offset        int64     `protobuf:"varint,3,opt,name=offset,proto3" json:"offset,omitempty"`
	Metadata      string    `protobuf:"bytes,4,opt,name=metadata,proto3" json:"metadata,omitempty"`
	ErrorCode     ErrorCode `protobuf:"varint,5,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *CommittedOffset) Reset() {
	*x = CommittedOffset{}
	mi := &file_rustmq_proto_msgTypes[42]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *CommittedOffset) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*CommittedOffset) ProtoMessage() {}

func (x *CommittedOffset) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[42]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use CommittedOffset.ProtoReflect.Descriptor instead.
func (*CommittedOffset) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{42}
}

func (x *CommittedOffset) GetTopic() string {
	if x != nil {
		return x.Topic
	}
	return ""
}

func (x *CommittedOffset) GetPartition() uint32 {
	if x != nil {
		return x.Partition
	}
	return 0
}

func (x *CommittedOffset) GetOffset() int64 {
	if x != nil {
		return x.Offset
	}
	return 0
}

func (x *CommittedOffset) GetMetadata() string {
	if x != nil {
		return x.Metadata
	}
	return ""
}

func (x *CommittedOffset) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

type OffsetFetchResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	ErrorCode     ErrorCode              `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	Offsets       []*CommittedOffset     `protobuf:"bytes,2,rep,name=offsets,proto3" json:"offsets,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *OffsetFetchResponse) Reset() {
	*x = OffsetFetchResponse{}
	mi := &file_rustmq_proto_msgTypes[43]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *OffsetFetchResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*OffsetFetchResponse) ProtoMessage() {}

func (x *OffsetFetchResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[43]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use OffsetFetchResponse.ProtoReflect.Descriptor instead.
func (*OffsetFetchResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{43}
}

func (x *OffsetFetchResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *OffsetFetchResponse) GetOffsets() []*CommittedOffset {
	if x != nil {
		return x.Offsets
	}
	return nil
}

type FindCoordinatorRequest struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	GroupId       string                 `protobuf:"bytes,1,opt,name=group_id,json=groupId,proto3" json:"group_id,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FindCoordinatorRequest) Reset() {
	*x = FindCoordinatorRequest{}
	mi := &file_rustmq_proto_msgTypes[44]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FindCoordinatorRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FindCoordinatorRequest) ProtoMessage() {}

func (x *FindCoordinatorRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[44]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FindCoordinatorRequest.ProtoReflect.Descriptor instead.
func (*FindCoordinatorRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{44}
}

func (x *FindCoordinatorRequest) GetGroupId() string {
	if x != nil {
		return x.GroupId
	}
	return ""
}

type FindCoordinatorResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	ErrorCode     ErrorCode              `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	ErrorMessage  string                 `protobuf:"bytes,2,opt,name=error_message,json=errorMessage,proto3" json:"error_message,omitempty"`
	BrokerId      uint32                 `protobuf:"varint,3,opt,name=broker_id,json=brokerId,proto3" json:"broker_id,omitempty"`
	Host          string                 `protobuf:"bytes,4,opt,name=host,proto3" json:"host,omitempty"`
	Port          uint32                 `protobuf:"varint,5,opt,name=port,proto3" json:"port,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FindCoordinatorResponse) Reset() {
	*x = FindCoordinatorResponse{}
	mi := &file_rustmq_proto_msgTypes[45]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FindCoordinatorResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FindCoordinatorResponse) ProtoMessage() {}

func (x *FindCoordinatorResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[45]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FindCoordinatorResponse.ProtoReflect.Descriptor instead.
func (*FindCoordinatorResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{45}
}

func (x *FindCoordinatorResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *FindCoordinatorResponse) GetErrorMessage() string {
	if x != nil {
		return x.ErrorMessage
	}
	return ""
}

func (x *FindCoordinatorResponse) GetBrokerId() uint32 {
	if x != nil {
		return x.BrokerId
	}
	return 0
}

func (x *FindCoordinatorResponse) GetHost() string {
	if x != nil {
		return x.Host
	}
	return ""
}

func (x *FindCoordinatorResponse) GetPort() uint32 {
	if x != nil {
		return x.Port
	}
	return 0
}

type InitProducerIdRequest struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *InitProducerIdRequest) Reset() {
	*x = InitProducerIdRequest{}
	mi := &file_rustmq_proto_msgTypes[46]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *InitProducerIdRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*InitProducerIdRequest) ProtoMessage() {}

func (x *InitProducerIdRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[46]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use InitProducerIdRequest.ProtoReflect.Descriptor instead.
func (*InitProducerIdRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{46}
}

type InitProducerIdResponse struct {
	state        protoimpl.MessageState `protogen:"open.v1"`
	ErrorCode    ErrorCode              `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	ErrorMessage string                 `protobuf:"bytes,2,opt,name=error_message,json=errorMessage,proto3" json:"error_message,omitempty"`
	// At least 1 (0 is never issued: it is proto3's unset value); -1 with an error.
	ProducerId    int64 `protobuf:"varint,3,opt,name=producer_id,json=producerId,proto3" json:"producer_id,omitempty"`
	ProducerEpoch int32 `protobuf:"varint,4,opt,name=producer_epoch,json=producerEpoch,proto3" json:"producer_epoch,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *InitProducerIdResponse) Reset() {
	*x = InitProducerIdResponse{}
	mi := &file_rustmq_proto_msgTypes[47]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *InitProducerIdResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*InitProducerIdResponse) ProtoMessage() {}

func (x *InitProducerIdResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[47]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use InitProducerIdResponse.ProtoReflect.Descriptor instead.
func (*InitProducerIdResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{47}
}

func (x *InitProducerIdResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *InitProducerIdResponse) GetErrorMessage() string {
	if x != nil {
		return x.ErrorMessage
	}
	return ""
}

func (x *InitProducerIdResponse) GetProducerId() int64 {
	if x != nil {
		return x.ProducerId
	}
	return 0
}

func (x *InitProducerIdResponse) GetProducerEpoch() int32 {
	if x != nil {
		return x.ProducerEpoch
	}
	return 0
}

type ApiVersionsRequest struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ApiVersionsRequest) Reset() {
	*x = ApiVersionsRequest{}
	mi := &file_rustmq_proto_msgTypes[48]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ApiVersionsRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ApiVersionsRequest) ProtoMessage() {}

func (x *ApiVersionsRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[48]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ApiVersionsRequest.ProtoReflect.Descriptor instead.
func (*ApiVersionsRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{48}
}

type ApiVersionRange struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// The api key (1 Metadata ... 15 ApiVersions).
	ApiKey        uint32 `protobuf:"varint,1,opt,name=api_key,json=apiKey,proto3" json:"api_key,omitempty"`
	Name          string `protobuf:"bytes,2,opt,name=name,proto3" json:"name,omitempty"`
	MinVersion    uint32 `protobuf:"varint,3,opt,name=min_version,json=minVersion,proto3" json:"min_version,omitempty"`
	MaxVersion    uint32 `protobuf:"varint,4,opt,name=max_version,json=maxVersion,proto3" json:"max_version,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ApiVersionRange) Reset() {
	*x = ApiVersionRange{}
	mi := &file_rustmq_proto_msgTypes[49]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ApiVersionRange) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ApiVersionRange) ProtoMessage() {}

func (x *ApiVersionRange) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[49]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ApiVersionRange.ProtoReflect.Descriptor instead.
func (*ApiVersionRange) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{49}
}

func (x *ApiVersionRange) GetApiKey() uint32 {
	if x != nil {
		return x.ApiKey
	}
	return 0
}

func (x *ApiVersionRange) GetName() string {
	if x != nil {
		return x.Name
	}
	return ""
}

func (x *ApiVersionRange) GetMinVersion() uint32 {
	if x != nil {
		return x.MinVersion
	}
	return 0
}

func (x *ApiVersionRange) GetMaxVersion() uint32 {
	if x != nil {
		return x.MaxVersion
	}
	return 0
}

type ApiVersionsResponse struct {
	state     protoimpl.MessageState `protogen:"open.v1"`
	ErrorCode ErrorCode              `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	Apis      []*ApiVersionRange     `protobuf:"bytes,2,rep,name=apis,proto3" json:"apis,omitempty"`
	// The broker's release (as HealthResponse.version).
	BrokerVersion string `protobuf:"bytes,3,opt,name=broker_version,json=brokerVersion,proto3" json:"broker_version,omitempty"`
	// Largest frame body the broker reads (network.max_frame_bytes; 16 MiB by default).
	MaxFrameBytes uint32 `protobuf:"varint,4,opt,name=max_frame_bytes,json=maxFrameBytes,proto3" json:"max_frame_bytes,omitempty"`
	// Largest record batch the broker takes by default (log.max_message_bytes); a topic may
	// set a lower or higher `max.message.bytes`, never above max_frame_bytes.
	MaxMessageBytes uint32 `protobuf:"varint,5,opt,name=max_message_bytes,json=maxMessageBytes,proto3" json:"max_message_bytes,omitempty"`
	// The QUIC idle timeout the broker applies to connections (ms).
	MaxIdleTimeoutMs uint32 `protobuf:"varint,6,opt,name=max_idle_timeout_ms,json=maxIdleTimeoutMs,proto3" json:"max_idle_timeout_ms,omitempty"`
	// Request streams a connection may have open at once.
	MaxConcurrentStreams uint32 `protobuf:"varint,7,opt,name=max_concurrent_streams,json=maxConcurrentStreams,proto3" json:"max_concurrent_streams,omitempty"`
	// Every request but ApiVersions and Authenticate is refused UNAUTHORIZED until the
	// connection authenticates (no client certificate identity and security on).
	AuthenticationRequired bool `protobuf:"varint,8,opt,name=authentication_required,json=authenticationRequired,proto3" json:"authentication_required,omitempty"`
	unknownFields          protoimpl.UnknownFields
	sizeCache              protoimpl.SizeCache
}

func (x *ApiVersionsResponse) Reset() {
	*x = ApiVersionsResponse{}
	mi := &file_rustmq_proto_msgTypes[50]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ApiVersionsResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ApiVersionsResponse) ProtoMessage() {}

func (x *ApiVersionsResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[50]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ApiVersionsResponse.ProtoReflect.Descriptor instead.
func (*ApiVersionsResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{50}
}

func (x *ApiVersionsResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *ApiVersionsResponse) GetApis() []*ApiVersionRange {
	if x != nil {
		return x.Apis
	}
	return nil
}

func (x *ApiVersionsResponse) GetBrokerVersion() string {
	if x != nil {
		return x.BrokerVersion
	}
	return ""
}

func (x *ApiVersionsResponse) GetMaxFrameBytes() uint32 {
	if x != nil {
		return x.MaxFrameBytes
	}
	return 0
}

func (x *ApiVersionsResponse) GetMaxMessageBytes() uint32 {
	if x != nil {
		return x.MaxMessageBytes
	}
	return 0
}

func (x *ApiVersionsResponse) GetMaxIdleTimeoutMs() uint32 {
	if x != nil {
		return x.MaxIdleTimeoutMs
	}
	return 0
}

func (x *ApiVersionsResponse) GetMaxConcurrentStreams() uint32 {
	if x != nil {
		return x.MaxConcurrentStreams
	}
	return 0
}

func (x *ApiVersionsResponse) GetAuthenticationRequired() bool {
	if x != nil {
		return x.AuthenticationRequired
	}
	return false
}

type AuthenticateRequest struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// "jwt".
	Mechanism     string `protobuf:"bytes,1,opt,name=mechanism,proto3" json:"mechanism,omitempty"`
	Token         string `protobuf:"bytes,2,opt,name=token,proto3" json:"token,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *AuthenticateRequest) Reset() {
	*x = AuthenticateRequest{}
	mi := &file_rustmq_proto_msgTypes[51]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *AuthenticateRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*AuthenticateRequest) ProtoMessage() {}

func (x *AuthenticateRequest) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[51]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use AuthenticateRequest.ProtoReflect.Descriptor instead.
func (*AuthenticateRequest) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{51}
}

func (x *AuthenticateRequest) GetMechanism() string {
	if x != nil {
		return x.Mechanism
	}
	return ""
}

func (x *AuthenticateRequest) GetToken() string {
	if x != nil {
		return x.Token
	}
	return ""
}

type AuthenticateResponse struct {
	state        protoimpl.MessageState `protogen:"open.v1"`
	ErrorCode    ErrorCode              `protobuf:"varint,1,opt,name=error_code,json=errorCode,proto3,enum=rustmq.v1.ErrorCode" json:"error_code,omitempty"`
	ErrorMessage string                 `protobuf:"bytes,2,opt,name=error_message,json=errorMessage,proto3" json:"error_message,omitempty"`
	// The principal the token names.
	Principal string `protobuf:"bytes,3,opt,name=principal,proto3" json:"principal,omitempty"`
	// When the session ends unless re-authenticated (ms since the epoch).
	SessionExpiresAtMs int64 `protobuf:"varint,4,opt,name=session_expires_at_ms,json=sessionExpiresAtMs,proto3" json:"session_expires_at_ms,omitempty"`
	unknownFields      protoimpl.UnknownFields
	sizeCache          protoimpl.SizeCache
}

func (x *AuthenticateResponse) Reset() {
	*x = AuthenticateResponse{}
	mi := &file_rustmq_proto_msgTypes[52]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *AuthenticateResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*AuthenticateResponse) ProtoMessage() {}

func (x *AuthenticateResponse) ProtoReflect() protoreflect.Message {
	mi := &file_rustmq_proto_msgTypes[52]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use AuthenticateResponse.ProtoReflect.Descriptor instead.
func (*AuthenticateResponse) Descriptor() ([]byte, []int) {
	return file_rustmq_proto_rawDescGZIP(), []int{52}
}

func (x *AuthenticateResponse) GetErrorCode() ErrorCode {
	if x != nil {
		return x.ErrorCode
	}
	return ErrorCode_NONE
}

func (x *AuthenticateResponse) GetErrorMessage() string {
	if x != nil {
		return x.ErrorMessage
	}
	return ""
}

func (x *AuthenticateResponse) GetPrincipal() string {
	if x != nil {
		return x.Principal
	}
	return ""
}

func (x *AuthenticateResponse) GetSessionExpiresAtMs() int64 {
	if x != nil {
		return x.SessionExpiresAtMs
	}
	return 0
}

var File_rustmq_proto protoreflect.FileDescriptor

const file_rustmq_proto_rawDesc = "" +
	"\n" +
	"\frustmq.proto\x12\trustmq.v1\"^\n" +
	"\rErrorResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12\x18\n" +
	"\amessage\x18\x02 \x01(\tR\amessage\")\n" +
	"\x0fMetadataRequest\x12\x16\n" +
	"\x06topics\x18\x01 \x03(\tR\x06topics\"X\n" +
	"\n" +
	"BrokerInfo\x12\x0e\n" +
	"\x02id\x18\x01 \x01(\rR\x02id\x12\x12\n" +
	"\x04host\x18\x02 \x01(\tR\x04host\x12\x12\n" +
	"\x04port\x18\x03 \x01(\rR\x04port\x12\x12\n" +
	"\x04rack\x18\x04 \x01(\tR\x04rack\"\xd4\x01\n" +
	"\x11PartitionMetadata\x12\x1c\n" +
	"\tpartition\x18\x01 \x01(\rR\tpartition\x123\n" +
	"\n" +
	"error_code\x18\x02 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12\x1b\n" +
	"\tleader_id\x18\x03 \x01(\rR\bleaderId\x12!\n" +
	"\fleader_epoch\x18\x04 \x01(\x05R\vleaderEpoch\x12\x1a\n" +
	"\breplicas\x18\x05 \x03(\rR\breplicas\x12\x10\n" +
	"\x03isr\x18\x06 \x03(\rR\x03isr\"\x96\x01\n" +
	"\rTopicMetadata\x12\x12\n" +
	"\x04name\x18\x01 \x01(\tR\x04name\x123\n" +
	"\n" +
	"error_code\x18\x02 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12<\n" +
	"\n" +
	"partitions\x18\x03 \x03(\v2\x1c.rustmq.v1.PartitionMetadataR\n" +
	"partitions\"\x94\x01\n" +
	"\x10MetadataResponse\x12/\n" +
	"\abrokers\x18\x01 \x03(\v2\x15.rustmq.v1.BrokerInfoR\abrokers\x120\n" +
	"\x06topics\x18\x02 \x03(\v2\x18.rustmq.v1.TopicMetadataR\x06topics\x12\x1d\n" +
	"\n" +
	"cluster_id\x18\x03 \x01(\tR\tclusterId\"N\n" +
	"\x14PartitionProduceData\x12\x1c\n" +
	"\tpartition\x18\x01 \x01(\rR\tpartition\x12\x18\n" +
	"\arecords\x18\x02 \x01(\fR\arecords\"i\n" +
	"\x10TopicProduceData\x12\x14\n" +
	"\x05topic\x18\x01 \x01(\tR\x05topic\x12?\n" +
	"\n" +
	"partitions\x18\x02 \x03(\v2\x1f.rustmq.v1.PartitionProduceDataR\n" +
	"partitions\"\xae\x01\n" +
	"\x0eProduceRequest\x12#\n" +
	"\x04acks\x18\x01 \x01(\x0e2\x0f.rustmq.v1.AcksR\x04acks\x12\x1d\n" +
	"\n" +
	"timeout_ms\x18\x02 \x01(\rR\ttimeoutMs\x123\n" +
	"\x06topics\x18\x03 \x03(\v2\x1b.rustmq.v1.TopicProduceDataR\x06topics\x12#\n" +
	"\racks_replicas\x18\x04 \x01(\rR\facksReplicas\"\x8a\x02\n" +
	"\x18PartitionProduceResponse\x12\x1c\n" +
	"\tpartition\x18\x01 \x01(\rR\tpartition\x123\n" +
	"\n" +
	"error_code\x18\x02 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12#\n" +
	"\rerror_message\x18\x03 \x01(\tR\ferrorMessage\x12\x1f\n" +
	"\vbase_offset\x18\x04 \x01(\x03R\n" +
	"baseOffset\x12+\n" +
	"\x12log_append_time_ms\x18\x05 \x01(\x03R\x0flogAppendTimeMs\x12(\n" +
	"\x10log_start_offset\x18\x06 \x01(\x03R\x0elogStartOffset\"q\n" +
	"\x14TopicProduceResponse\x12\x14\n" +
	"\x05topic\x18\x01 \x01(\tR\x05topic\x12C\n" +
	"\n" +
	"partitions\x18\x02 \x03(\v2#.rustmq.v1.PartitionProduceResponseR\n" +
	"partitions\"J\n" +
	"\x0fProduceResponse\x127\n" +
	"\x06topics\x18\x01 \x03(\v2\x1f.rustmq.v1.TopicProduceResponseR\x06topics\"\x81\x01\n" +
	"\x0eFetchPartition\x12\x1c\n" +
	"\tpartition\x18\x01 \x01(\rR\tpartition\x12!\n" +
	"\ffetch_offset\x18\x02 \x01(\x03R\vfetchOffset\x12.\n" +
	"\x13partition_max_bytes\x18\x03 \x01(\rR\x11partitionMaxBytes\"]\n" +
	"\n" +
	"FetchTopic\x12\x14\n" +
	"\x05topic\x18\x01 \x01(\tR\x05topic\x129\n" +
	"\n" +
	"partitions\x18\x02 \x03(\v2\x19.rustmq.v1.FetchPartitionR\n" +
	"partitions\"\x97\x01\n" +
	"\fFetchRequest\x12\x1e\n" +
	"\vmax_wait_ms\x18\x01 \x01(\rR\tmaxWaitMs\x12\x1b\n" +
	"\tmin_bytes\x18\x02 \x01(\rR\bminBytes\x12\x1b\n" +
	"\tmax_bytes\x18\x03 \x01(\rR\bmaxBytes\x12-\n" +
	"\x06topics\x18\x04 \x03(\v2\x15.rustmq.v1.FetchTopicR\x06topics\"\xd6\x01\n" +
	"\x16FetchPartitionResponse\x12\x1c\n" +
	"\tpartition\x18\x01 \x01(\rR\tpartition\x123\n" +
	"\n" +
	"error_code\x18\x02 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12%\n" +
	"\x0ehigh_watermark\x18\x03 \x01(\x03R\rhighWatermark\x12(\n" +
	"\x10log_start_offset\x18\x04 \x01(\x03R\x0elogStartOffset\x12\x18\n" +
	"\arecords\x18\x05 \x01(\fR\arecords\"m\n" +
	"\x12FetchTopicResponse\x12\x14\n" +
	"\x05topic\x18\x01 \x01(\tR\x05topic\x12A\n" +
	"\n" +
	"partitions\x18\x02 \x03(\v2!.rustmq.v1.FetchPartitionResponseR\n" +
	"partitions\"F\n" +
	"\rFetchResponse\x125\n" +
	"\x06topics\x18\x01 \x03(\v2\x1d.rustmq.v1.FetchTopicResponseR\x06topics\"R\n" +
	"\x14ListOffsetsPartition\x12\x1c\n" +
	"\tpartition\x18\x01 \x01(\rR\tpartition\x12\x1c\n" +
	"\ttimestamp\x18\x02 \x01(\x03R\ttimestamp\"i\n" +
	"\x10ListOffsetsTopic\x12\x14\n" +
	"\x05topic\x18\x01 \x01(\tR\x05topic\x12?\n" +
	"\n" +
	"partitions\x18\x02 \x03(\v2\x1f.rustmq.v1.ListOffsetsPartitionR\n" +
	"partitions\"I\n" +
	"\x12ListOffsetsRequest\x123\n" +
	"\x06topics\x18\x01 \x03(\v2\x1b.rustmq.v1.ListOffsetsTopicR\x06topics\"\xa7\x01\n" +
	"\x1cListOffsetsPartitionResponse\x12\x1c\n" +
	"\tpartition\x18\x01 \x01(\rR\tpartition\x123\n" +
	"\n" +
	"error_code\x18\x02 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12\x16\n" +
	"\x06offset\x18\x03 \x01(\x03R\x06offset\x12\x1c\n" +
	"\ttimestamp\x18\x04 \x01(\x03R\ttimestamp\"y\n" +
	"\x18ListOffsetsTopicResponse\x12\x14\n" +
	"\x05topic\x18\x01 \x01(\tR\x05topic\x12G\n" +
	"\n" +
	"partitions\x18\x02 \x03(\v2'.rustmq.v1.ListOffsetsPartitionResponseR\n" +
	"partitions\"R\n" +
	"\x13ListOffsetsResponse\x12;\n" +
	"\x06topics\x18\x01 \x03(\v2#.rustmq.v1.ListOffsetsTopicResponseR\x06topics\"\x0f\n" +
	"\rHealthRequest\"W\n" +
	"\x0fComponentHealth\x12\x12\n" +
	"\x04name\x18\x01 \x01(\tR\x04name\x12\x18\n" +
	"\ahealthy\x18\x02 \x01(\bR\ahealthy\x12\x16\n" +
	"\x06detail\x18\x03 \x01(\tR\x06detail\"\xc4\x01\n" +
	"\x0eHealthResponse\x12\x18\n" +
	"\ahealthy\x18\x01 \x01(\bR\ahealthy\x12\x18\n" +
	"\aversion\x18\x02 \x01(\tR\aversion\x12%\n" +
	"\x0euptime_seconds\x18\x03 \x01(\x04R\ruptimeSeconds\x12\x1b\n" +
	"\tbroker_id\x18\x04 \x01(\rR\bbrokerId\x12:\n" +
	"\n" +
	"components\x18\x05 \x03(\v2\x1a.rustmq.v1.ComponentHealthR\n" +
	"components\"G\n" +
	"\x0fTopicPartitions\x12\x14\n" +
	"\x05topic\x18\x01 \x01(\tR\x05topic\x12\x1e\n" +
	"\n" +
	"partitions\x18\x02 \x03(\rR\n" +
	"partitions\"\xbc\x02\n" +
	"\x10JoinGroupRequest\x12\x19\n" +
	"\bgroup_id\x18\x01 \x01(\tR\agroupId\x12\x1b\n" +
	"\tmember_id\x18\x02 \x01(\tR\bmemberId\x12*\n" +
	"\x11group_instance_id\x18\x03 \x01(\tR\x0fgroupInstanceId\x12,\n" +
	"\x12session_timeout_ms\x18\x04 \x01(\rR\x10sessionTimeoutMs\x120\n" +
	"\x14rebalance_timeout_ms\x18\x05 \x01(\rR\x12rebalanceTimeoutMs\x12\x16\n" +
	"\x06topics\x18\x06 \x03(\tR\x06topics\x12\x1a\n" +
	"\bassignor\x18\a \x01(\tR\bassignor\x120\n" +
	"\x05owned\x18\b \x03(\v2\x1a.rustmq.v1.TopicPartitionsR\x05owned\"\x82\x02\n" +
	"\x11JoinGroupResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12#\n" +
	"\rerror_message\x18\x02 \x01(\tR\ferrorMessage\x12#\n" +
	"\rgeneration_id\x18\x03 \x01(\x05R\fgenerationId\x12\x1b\n" +
	"\tmember_id\x18\x04 \x01(\tR\bmemberId\x12\x1b\n" +
	"\tleader_id\x18\x05 \x01(\tR\bleaderId\x12\x1a\n" +
	"\bassignor\x18\x06 \x01(\tR\bassignor\x12\x18\n" +
	"\amembers\x18\a \x03(\tR\amembers\"o\n" +
	"\x10SyncGroupRequest\x12\x19\n" +
	"\bgroup_id\x18\x01 \x01(\tR\agroupId\x12\x1b\n" +
	"\tmember_id\x18\x02 \x01(\tR\bmemberId\x12#\n" +
	"\rgeneration_id\x18\x03 \x01(\x05R\fgenerationId\"\xa9\x01\n" +
	"\x11SyncGroupResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12#\n" +
	"\rerror_message\x18\x02 \x01(\tR\ferrorMessage\x12:\n" +
	"\n" +
	"assignment\x18\x03 \x03(\v2\x1a.rustmq.v1.TopicPartitionsR\n" +
	"assignment\"o\n" +
	"\x10HeartbeatRequest\x12\x19\n" +
	"\bgroup_id\x18\x01 \x01(\tR\agroupId\x12\x1b\n" +
	"\tmember_id\x18\x02 \x01(\tR\bmemberId\x12#\n" +
	"\rgeneration_id\x18\x03 \x01(\x05R\fgenerationId\"m\n" +
	"\x11HeartbeatResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12#\n" +
	"\rerror_message\x18\x02 \x01(\tR\ferrorMessage\"K\n" +
	"\x11LeaveGroupRequest\x12\x19\n" +
	"\bgroup_id\x18\x01 \x01(\tR\agroupId\x12\x1b\n" +
	"\tmember_id\x18\x02 \x01(\tR\bmemberId\"n\n" +
	"\x12LeaveGroupResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12#\n" +
	"\rerror_message\x18\x02 \x01(\tR\ferrorMessage\"i\n" +
	"\x15OffsetCommitPartition\x12\x1c\n" +
	"\tpartition\x18\x01 \x01(\rR\tpartition\x12\x16\n" +
	"\x06offset\x18\x02 \x01(\x03R\x06offset\x12\x1a\n" +
	"\bmetadata\x18\x03 \x01(\tR\bmetadata\"k\n" +
	"\x11OffsetCommitTopic\x12\x14\n" +
	"\x05topic\x18\x01 \x01(\tR\x05topic\x12@\n" +
	"\n" +
	"partitions\x18\x02 \x03(\v2 .rustmq.v1.OffsetCommitPartitionR\n" +
	"partitions\"\xa8\x01\n" +
	"\x13OffsetCommitRequest\x12\x19\n" +
	"\bgroup_id\x18\x01 \x01(\tR\agroupId\x12\x1b\n" +
	"\tmember_id\x18\x02 \x01(\tR\bmemberId\x12#\n" +
	"\rgeneration_id\x18\x03 \x01(\x05R\fgenerationId\x124\n" +
	"\x06topics\x18\x04 \x03(\v2\x1c.rustmq.v1.OffsetCommitTopicR\x06topics\"\xad\x01\n" +
	"\x1dOffsetCommitPartitionResponse\x12\x14\n" +
	"\x05topic\x18\x01 \x01(\tR\x05topic\x12\x1c\n" +
	"\tpartition\x18\x02 \x01(\rR\tpartition\x123\n" +
	"\n" +
	"error_code\x18\x03 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12#\n" +
	"\rerror_message\x18\x04 \x01(\tR\ferrorMessage\"\xba\x01\n" +
	"\x14OffsetCommitResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12#\n" +
	"\rerror_message\x18\x02 \x01(\tR\ferrorMessage\x12H\n" +
	"\n" +
	"partitions\x18\x03 \x03(\v2(.rustmq.v1.OffsetCommitPartitionResponseR\n" +
	"partitions\"k\n" +
	"\x12OffsetFetchRequest\x12\x19\n" +
	"\bgroup_id\x18\x01 \x01(\tR\agroupId\x12:\n" +
	"\n" +
	"partitions\x18\x02 \x03(\v2\x1a.rustmq.v1.TopicPartitionsR\n" +
	"partitions\"\xae\x01\n" +
	"\x0fCommittedOffset\x12\x14\n" +
	"\x05topic\x18\x01 \x01(\tR\x05topic\x12\x1c\n" +
	"\tpartition\x18\x02 \x01(\rR\tpartition\x12\x16\n" +
	"\x06offset\x18\x03 \x01(\x03R\x06offset\x12\x1a\n" +
	"\bmetadata\x18\x04 \x01(\tR\bmetadata\x123\n" +
	"\n" +
	"error_code\x18\x05 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\"\x80\x01\n" +
	"\x13OffsetFetchResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x124\n" +
	"\aoffsets\x18\x02 \x03(\v2\x1a.rustmq.v1.CommittedOffsetR\aoffsets\"3\n" +
	"\x16FindCoordinatorRequest\x12\x19\n" +
	"\bgroup_id\x18\x01 \x01(\tR\agroupId\"\xb8\x01\n" +
	"\x17FindCoordinatorResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12#\n" +
	"\rerror_message\x18\x02 \x01(\tR\ferrorMessage\x12\x1b\n" +
	"\tbroker_id\x18\x03 \x01(\rR\bbrokerId\x12\x12\n" +
	"\x04host\x18\x04 \x01(\tR\x04host\x12\x12\n" +
	"\x04port\x18\x05 \x01(\rR\x04port\"\x17\n" +
	"\x15InitProducerIdRequest\"\xba\x01\n" +
	"\x16InitProducerIdResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12#\n" +
	"\rerror_message\x18\x02 \x01(\tR\ferrorMessage\x12\x1f\n" +
	"\vproducer_id\x18\x03 \x01(\x03R\n" +
	"producerId\x12%\n" +
	"\x0eproducer_epoch\x18\x04 \x01(\x05R\rproducerEpoch\"\x14\n" +
	"\x12ApiVersionsRequest\"\x80\x01\n" +
	"\x0fApiVersionRange\x12\x17\n" +
	"\aapi_key\x18\x01 \x01(\rR\x06apiKey\x12\x12\n" +
	"\x04name\x18\x02 \x01(\tR\x04name\x12\x1f\n" +
	"\vmin_version\x18\x03 \x01(\rR\n" +
	"minVersion\x12\x1f\n" +
	"\vmax_version\x18\x04 \x01(\rR\n" +
	"maxVersion\"\x93\x03\n" +
	"\x13ApiVersionsResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12.\n" +
	"\x04apis\x18\x02 \x03(\v2\x1a.rustmq.v1.ApiVersionRangeR\x04apis\x12%\n" +
	"\x0ebroker_version\x18\x03 \x01(\tR\rbrokerVersion\x12&\n" +
	"\x0fmax_frame_bytes\x18\x04 \x01(\rR\rmaxFrameBytes\x12*\n" +
	"\x11max_message_bytes\x18\x05 \x01(\rR\x0fmaxMessageBytes\x12-\n" +
	"\x13max_idle_timeout_ms\x18\x06 \x01(\rR\x10maxIdleTimeoutMs\x124\n" +
	"\x16max_concurrent_streams\x18\a \x01(\rR\x14maxConcurrentStreams\x127\n" +
	"\x17authentication_required\x18\b \x01(\bR\x16authenticationRequired\"I\n" +
	"\x13AuthenticateRequest\x12\x1c\n" +
	"\tmechanism\x18\x01 \x01(\tR\tmechanism\x12\x14\n" +
	"\x05token\x18\x02 \x01(\tR\x05token\"\xc1\x01\n" +
	"\x14AuthenticateResponse\x123\n" +
	"\n" +
	"error_code\x18\x01 \x01(\x0e2\x14.rustmq.v1.ErrorCodeR\terrorCode\x12#\n" +
	"\rerror_message\x18\x02 \x01(\tR\ferrorMessage\x12\x1c\n" +
	"\tprincipal\x18\x03 \x01(\tR\tprincipal\x121\n" +
	"\x15session_expires_at_ms\x18\x04 \x01(\x03R\x12sessionExpiresAtMs*\xb2\x05\n" +
	"\tErrorCode\x12\b\n" +
	"\x04NONE\x10\x00\x12\v\n" +
	"\aUNKNOWN\x10\x01\x12\x11\n" +
	"\rUNKNOWN_TOPIC\x10\x02\x12\x15\n" +
	"\x11UNKNOWN_PARTITION\x10\x03\x12\x0e\n" +
	"\n" +
	"NOT_LEADER\x10\x04\x12\x15\n" +
	"\x11MESSAGE_TOO_LARGE\x10\x05\x12\x13\n" +
	"\x0fCORRUPT_MESSAGE\x10\x06\x12\x13\n" +
	"\x0fINVALID_REQUEST\x10\a\x12\x13\n" +
	"\x0fFRAME_TOO_LARGE\x10\b\x12\x13\n" +
	"\x0fUNSUPPORTED_API\x10\t\x12\x15\n" +
	"\x11REQUEST_TIMED_OUT\x10\n" +
	"\x12\x17\n" +
	"\x13OFFSET_OUT_OF_RANGE\x10\v\x12\x11\n" +
	"\rINVALID_TOPIC\x10\f\x12\r\n" +
	"\tTHROTTLED\x10\r\x12\x10\n" +
	"\fUNAUTHORIZED\x10\x0e\x12\x11\n" +
	"\rSTORAGE_ERROR\x10\x0f\x12\x18\n" +
	"\x14TOPIC_ALREADY_EXISTS\x10\x10\x12\x18\n" +
	"\x14BROKER_NOT_AVAILABLE\x10\x11\x12\x16\n" +
	"\x12INVALID_PARTITIONS\x10\x12\x12\x15\n" +
	"\x11UNKNOWN_MEMBER_ID\x10\x13\x12\x16\n" +
	"\x12ILLEGAL_GENERATION\x10\x14\x12\x19\n" +
	"\x15REBALANCE_IN_PROGRESS\x10\x15\x12\x1b\n" +
	"\x17INVALID_SESSION_TIMEOUT\x10\x16\x12\x11\n" +
	"\rUNKNOWN_GROUP\x10\x17\x12\x14\n" +
	"\x10INVALID_GROUP_ID\x10\x18\x12\x12\n" +
	"\x0eINVALID_OFFSET\x10\x19\x12\x19\n" +
	"\x15INCONSISTENT_ASSIGNOR\x10\x1a\x12\f\n" +
	"\bWAL_FULL\x10\x1b\x12\x13\n" +
	"\x0fNOT_COORDINATOR\x10\x1c\x12\x17\n" +
	"\x13NOT_ENOUGH_REPLICAS\x10\x1d\x12\x19\n" +
	"\x15OUT_OF_ORDER_SEQUENCE\x10\x1e\x12\x10\n" +
	"\fETL_REJECTED\x10\x1f*C\n" +
	"\x04Acks\x12\n" +
	"\n" +
	"\x06LEADER\x10\x00\x12\f\n" +
	"\bNONE_ACK\x10\x01\x12\a\n" +
	"\x03ALL\x10\x02\x12\f\n" +
	"\bMAJORITY\x10\x03\x12\n" +
	"\n" +
	"\x06CUSTOM\x10\x04b\x06proto3"

var (
	file_rustmq_proto_rawDescOnce sync.Once
	file_rustmq_proto_rawDescData []byte
)

func file_rustmq_proto_rawDescGZIP() []byte {
	file_rustmq_proto_rawDescOnce.Do(func() {
		file_rustmq_proto_rawDescData = protoimpl.X.CompressGZIP(unsafe.Slice(unsafe.StringData(file_rustmq_proto_rawDesc), len(file_rustmq_proto_rawDesc)))
	})
	return file_rustmq_proto_rawDescData
}

var file_rustmq_proto_enumTypes = make([]protoimpl.EnumInfo, 2)
var file_rustmq_proto_msgTypes = make([]protoimpl.MessageInfo, 53)
var file_rustmq_proto_goTypes = []any{
	(ErrorCode)(0),                        // 0: rustmq.v1.ErrorCode
	(Acks)(0),                             // 1: rustmq.v1.Acks
	(*ErrorResponse)(nil),                 // 2: rustmq.v1.ErrorResponse
	(*MetadataRequest)(nil),               // 3: rustmq.v1.MetadataRequest
	(*BrokerInfo)(nil),                    // 4: rustmq.v1.BrokerInfo
	(*PartitionMetadata)(nil),             // 5: rustmq.v1.PartitionMetadata
	(*TopicMetadata)(nil),                 // 6: rustmq.v1.TopicMetadata
	(*MetadataResponse)(nil),              // 7: rustmq.v1.MetadataResponse
	(*PartitionProduceData)(nil),          // 8: rustmq.v1.PartitionProduceData
	(*TopicProduceData)(nil),              // 9: rustmq.v1.TopicProduceData
	(*ProduceRequest)(nil),                // 10: rustmq.v1.ProduceRequest
	(*PartitionProduceResponse)(nil),      // 11: rustmq.v1.PartitionProduceResponse
	(*TopicProduceResponse)(nil),          // 12: rustmq.v1.TopicProduceResponse
	(*ProduceResponse)(nil),               // 13: rustmq.v1.ProduceResponse
	(*FetchPartition)(nil),                // 14: rustmq.v1.FetchPartition
	(*FetchTopic)(nil),                    // 15: rustmq.v1.FetchTopic
	(*FetchRequest)(nil),                  // 16: rustmq.v1.FetchRequest
	(*FetchPartitionResponse)(nil),        // 17: rustmq.v1.FetchPartitionResponse
	(*FetchTopicResponse)(nil),            // 18: rustmq.v1.FetchTopicResponse
	(*FetchResponse)(nil),                 // 19: rustmq.v1.FetchResponse
	(*ListOffsetsPartition)(nil),          // 20: rustmq.v1.ListOffsetsPartition
	(*ListOffsetsTopic)(nil),              // 21: rustmq.v1.ListOffsetsTopic
	(*ListOffsetsRequest)(nil),            // 22: rustmq.v1.ListOffsetsRequest
	(*ListOffsetsPartitionResponse)(nil),  // 23: rustmq.v1.ListOffsetsPartitionResponse
	(*ListOffsetsTopicResponse)(nil),      // 24: rustmq.v1.ListOffsetsTopicResponse
	(*ListOffsetsResponse)(nil),           // 25: rustmq.v1.ListOffsetsResponse
	(*HealthRequest)(nil),                 // 26: rustmq.v1.HealthRequest
	(*ComponentHealth)(nil),               // 27: rustmq.v1.ComponentHealth
	(*HealthResponse)(nil),                // 28: rustmq.v1.HealthResponse
	(*TopicPartitions)(nil),               // 29: rustmq.v1.TopicPartitions
	(*JoinGroupRequest)(nil),              // 30: rustmq.v1.JoinGroupRequest
	(*JoinGroupResponse)(nil),             // 31: rustmq.v1.JoinGroupResponse
	(*SyncGroupRequest)(nil),              // 32: rustmq.v1.SyncGroupRequest
	(*SyncGroupResponse)(nil),             // 33: rustmq.v1.SyncGroupResponse
	(*HeartbeatRequest)(nil),              // 34: rustmq.v1.HeartbeatRequest
	(*HeartbeatResponse)(nil),             // 35: rustmq.v1.HeartbeatResponse
	(*LeaveGroupRequest)(nil),             // 36: rustmq.v1.LeaveGroupRequest
	(*LeaveGroupResponse)(nil),            // 37: rustmq.v1.LeaveGroupResponse
	(*OffsetCommitPartition)(nil),         // 38: rustmq.v1.OffsetCommitPartition
	(*OffsetCommitTopic)(nil),             // 39: rustmq.v1.OffsetCommitTopic
	(*OffsetCommitRequest)(nil),           // 40: rustmq.v1.OffsetCommitRequest
	(*OffsetCommitPartitionResponse)(nil), // 41: rustmq.v1.OffsetCommitPartitionResponse
	(*OffsetCommitResponse)(nil),          // 42: rustmq.v1.OffsetCommitResponse
	(*OffsetFetchRequest)(nil),            // 43: rustmq.v1.OffsetFetchRequest
	(*CommittedOffset)(nil),               // 44: rustmq.v1.CommittedOffset
	(*OffsetFetchResponse)(nil),           // 45: rustmq.v1.OffsetFetchResponse
	(*FindCoordinatorRequest)(nil),        // 46: rustmq.v1.FindCoordinatorRequest
	(*FindCoordinatorResponse)(nil),       // 47: rustmq.v1.FindCoordinatorResponse
	(*InitProducerIdRequest)(nil),         // 48: rustmq.v1.InitProducerIdRequest
	(*InitProducerIdResponse)(nil),        // 49: rustmq.v1.InitProducerIdResponse
	(*ApiVersionsRequest)(nil),            // 50: rustmq.v1.ApiVersionsRequest
	(*ApiVersionRange)(nil),               // 51: rustmq.v1.ApiVersionRange
	(*ApiVersionsResponse)(nil),           // 52: rustmq.v1.ApiVersionsResponse
	(*AuthenticateRequest)(nil),           // 53: rustmq.v1.AuthenticateRequest
	(*AuthenticateResponse)(nil),          // 54: rustmq.v1.AuthenticateResponse
}
var file_rustmq_proto_depIdxs = []int32{
	0,  // 0: rustmq.v1.ErrorResponse.error_code:type_name -> rustmq.v1.ErrorCode
	0,  // 1: rustmq.v1.PartitionMetadata.error_code:type_name -> rustmq.v1.ErrorCode
	0,  // 2: rustmq.v1.TopicMetadata.error_code:type_name -> rustmq.v1.ErrorCode
	5,  // 3: rustmq.v1.TopicMetadata.partitions:type_name -> rustmq.v1.PartitionMetadata
	4,  // 4: rustmq.v1.MetadataResponse.brokers:type_name -> rustmq.v1.BrokerInfo
	6,  // 5: rustmq.v1.MetadataResponse.topics:type_name -> rustmq.v1.TopicMetadata
	8,  // 6: rustmq.v1.TopicProduceData.partitions:type_name -> rustmq.v1.PartitionProduceData
	1,  // 7: rustmq.v1.ProduceRequest.acks:type_name -> rustmq.v1.Acks
	9,  // 8: rustmq.v1.ProduceRequest.topics:type_name -> rustmq.v1.TopicProduceData
	0,  // 9: rustmq.v1.PartitionProduceResponse.error_code:type_name -> rustmq.v1.ErrorCode
	11, // 10: rustmq.v1.TopicProduceResponse.partitions:type_name -> rustmq.v1.PartitionProduceResponse
	12, // 11: rustmq.v1.ProduceResponse.topics:type_name -> rustmq.v1.TopicProduceResponse
	14, // 12: rustmq.v1.FetchTopic.partitions:type_name -> rustmq.v1.FetchPartition
	15, // 13: rustmq.v1.FetchRequest.topics:type_name -> rustmq.v1.FetchTopic
	0,  // 14: rustmq.v1.FetchPartitionResponse.error_code:type_name -> rustmq.v1.ErrorCode
	17, // 15: rustmq.v1.FetchTopicResponse.partitions:type_name -> rustmq.v1.FetchPartitionResponse
	18, // 16: rustmq.v1.FetchResponse.topics:type_name -> rustmq.v1.FetchTopicResponse
	20, // 17: rustmq.v1.ListOffsetsTopic.partitions:type_name -> rustmq.v1.ListOffsetsPartition
	21, // 18: rustmq.v1.ListOffsetsRequest.topics:type_name -> rustmq.v1.ListOffsetsTopic
	0,  // 19: rustmq.v1.ListOffsetsPartitionResponse.error_code:type_name -> rustmq.v1.ErrorCode
	23, // 20: rustmq.v1.ListOffsetsTopicResponse.partitions:type_name -> rustmq.v1.ListOffsetsPartitionResponse
	24, // 21: rustmq.v1.ListOffsetsResponse.topics:type_name -> rustmq.v1.ListOffsetsTopicResponse
	27, // 22: rustmq.v1.HealthResponse.components:type_name -> rustmq.v1.ComponentHealth
	29, // 23: rustmq.v1.JoinGroupRequest.owned:type_name -> rustmq.v1.TopicPartitions
	0,  // 24: rustmq.v1.JoinGroupResponse.error_code:type_name -> rustmq.v1.ErrorCode
	0,  // 25: rustmq.v1.SyncGroupResponse.error_code:type_name -> rustmq.v1.ErrorCode
	29, // 26: rustmq.v1.SyncGroupResponse.assignment:type_name -> rustmq.v1.TopicPartitions
	0,  // 27: rustmq.v1.HeartbeatResponse.error_code:type_name -> rustmq.v1.ErrorCode
	0,  // 28: rustmq.v1.LeaveGroupResponse.error_code:type_name -> rustmq.v1.ErrorCode
	38, // 29: rustmq.v1.OffsetCommitTopic.partitions:type_name -> rustmq.v1.OffsetCommitPartition
	39, // 30: rustmq.v1.OffsetCommitRequest.topics:type_name -> rustmq.v1.OffsetCommitTopic
	0,  // 31: rustmq.v1.OffsetCommitPartitionResponse.error_code:type_name -> rustmq.v1.ErrorCode
	0,  // 32: rustmq.v1.OffsetCommitResponse.error_code:type_name -> rustmq.v1.ErrorCode
	41, // 33: rustmq.v1.OffsetCommitResponse.partitions:type_name -> rustmq.v1.OffsetCommitPartitionResponse
	29, // 34: rustmq.v1.OffsetFetchRequest.partitions:type_name -> rustmq.v1.TopicPartitions
	0,  // 35: rustmq.v1.CommittedOffset.error_code:type_name -> rustmq.v1.ErrorCode
	0,  // 36: rustmq.v1.OffsetFetchResponse.error_code:type_name -> rustmq.v1.ErrorCode
	44, // 37: rustmq.v1.OffsetFetchResponse.offsets:type_name -> rustmq.v1.CommittedOffset
	0,  // 38: rustmq.v1.FindCoordinatorResponse.error_code:type_name -> rustmq.v1.ErrorCode
	0,  // 39: rustmq.v1.InitProducerIdResponse.error_code:type_name -> rustmq.v1.ErrorCode
	0,  // 40: rustmq.v1.ApiVersionsResponse.error_code:type_name -> rustmq.v1.ErrorCode
	51, // 41: rustmq.v1.ApiVersionsResponse.apis:type_name -> rustmq.v1.ApiVersionRange
	0,  // 42: rustmq.v1.AuthenticateResponse.error_code:type_name -> rustmq.v1.ErrorCode
	43, // [43:43] is the sub-list for method output_type
	43, // [43:43] is the sub-list for method input_type
	43, // [43:43] is the sub-list for extension type_name
	43, // [43:43] is the sub-list for extension extendee
	0,  // [0:43] is the sub-list for field type_name
}

func init() { file_rustmq_proto_init() }
func file_rustmq_proto_init() {
	if File_rustmq_proto != nil {
		return
	}
	type x struct{}
	out := protoimpl.TypeBuilder{
		File: protoimpl.DescBuilder{
			GoPackagePath: reflect.TypeOf(x{}).PkgPath(),
			RawDescriptor: unsafe.Slice(unsafe.StringData(file_rustmq_proto_rawDesc), len(file_rustmq_proto_rawDesc)),
			NumEnums:      2,
			NumMessages:   53,
			NumExtensions: 0,
			NumServices:   0,
		},
		GoTypes:           file_rustmq_proto_goTypes,
		DependencyIndexes: file_rustmq_proto_depIdxs,
		EnumInfos:         file_rustmq_proto_enumTypes,
		MessageInfos:      file_rustmq_proto_msgTypes,
	}.Build()
	File_rustmq_proto = out.File
	file_rustmq_proto_goTypes = nil
	file_rustmq_proto_depIdxs = nil
}
