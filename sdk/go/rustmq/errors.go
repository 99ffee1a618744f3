package rustmq

import (
	"errors"
	"fmt"

	"github.com/rustmq/rustmq/sdk/go/rustmq/pb"
)

// Sentinel errors for the broker's error codes; test with errors.Is.
var (
	ErrUnknownTopic      = errors.New("rustmq: unknown topic")
	ErrUnknownPartition  = errors.New("rustmq: unknown partition")
	ErrNotLeader         = errors.New("rustmq: not the partition leader")
	ErrMessageTooLarge   = errors.New("rustmq: message too large")
	ErrCorruptMessage    = errors.New("rustmq: corrupt message")
	ErrInvalidRequest    = errors.New("rustmq: invalid request")
	ErrFrameTooLarge     = errors.New("rustmq: frame too large")
	ErrUnsupportedAPI    = errors.New("rustmq: unsupported api or version")
	ErrTimedOut          = errors.New("rustmq: request timed out")
	ErrOffsetOutOfRange  = errors.New("rustmq: offset out of range")
	ErrThrottled         = errors.New("rustmq: throttled")
	ErrUnauthorized      = errors.New("rustmq: unauthorized")
	ErrNotEnoughReplicas = errors.New("rustmq: not enough in-sync replicas")
	ErrServer            = errors.New("rustmq: broker error")
	// ErrClosed is returned by a producer or consumer used after Close.
	ErrClosed = errors.New("rustmq: closed")
)

var sentinels = map[pb.ErrorCode]error{
	pb.ErrorCode_UNKNOWN_TOPIC:       ErrUnknownTopic,
	pb.ErrorCode_UNKNOWN_PARTITION:   ErrUnknownPartition,
	pb.ErrorCode_NOT_LEADER:          ErrNotLeader,
	pb.ErrorCode_MESSAGE_TOO_LARGE:   ErrMessageTooLarge,
	pb.ErrorCode_CORRUPT_MESSAGE:     ErrCorruptMessage,
	pb.ErrorCode_INVALID_REQUEST:     ErrInvalidRequest,
	pb.ErrorCode_FRAME_TOO_LARGE:     ErrFrameTooLarge,
	pb.ErrorCode_UNSUPPORTED_API:     ErrUnsupportedAPI,
	pb.ErrorCode_REQUEST_TIMED_OUT:   ErrTimedOut,
	pb.ErrorCode_OFFSET_OUT_OF_RANGE: ErrOffsetOutOfRange,
	pb.ErrorCode_THROTTLED:           ErrThrottled,
	pb.ErrorCode_UNAUTHORIZED:        ErrUnauthorized,
	pb.ErrorCode_NOT_ENOUGH_REPLICAS: ErrNotEnoughReplicas,
}

// ServerError is an error code a broker answered with, and its message.
type ServerError struct {
	Code    pb.ErrorCode
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("rustmq: %s: %s", e.Code, e.Message)
}

// Is makes errors.Is(err, ErrNotLeader) and the like work; every ServerError is ErrServer.
func (e *ServerError) Is(target error) bool {
	return target == ErrServer || sentinels[e.Code] == target
}

// Retriable reports whether the same request may succeed later (after refreshing metadata).
func (e *ServerError) Retriable() bool {
	switch e.Code {
	case pb.ErrorCode_NOT_LEADER, pb.ErrorCode_REBALANCE_IN_PROGRESS, pb.ErrorCode_REQUEST_TIMED_OUT,
		pb.ErrorCode_THROTTLED, pb.ErrorCode_STORAGE_ERROR, pb.ErrorCode_BROKER_NOT_AVAILABLE,
		pb.ErrorCode_WAL_FULL, pb.ErrorCode_NOT_COORDINATOR, pb.ErrorCode_NOT_ENOUGH_REPLICAS:
		return true
	}
	return false
}

// codeError is nil for NONE, else a *ServerError.
func codeError(code pb.ErrorCode, message string) error {
	if code == pb.ErrorCode_NONE {
		return nil
	}
	return &ServerError{Code: code, Message: message}
}
