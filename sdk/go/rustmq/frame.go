package rustmq

import (
	"encoding/binary"
	"fmt"
)

// HeaderLen is the size of the frame header every request and response starts with.
const HeaderLen = 16

// Header flags.
const (
	// FlagResponse is set on every frame a broker sends.
	FlagResponse uint16 = 0x1
	// FlagError is set when the body is an ErrorResponse instead of the API's response.
	FlagError uint16 = 0x2
	// FlagTraceContext (requests) says the body starts with TraceContextLen bytes of W3C
	// trace context: version 0, trace id, parent span id, trace flags.
	FlagTraceContext uint16 = 0x4
)

// TraceContextLen is the size of the trace context FlagTraceContext announces.
const TraceContextLen = 26

// APIKey names a request type.
type APIKey uint16

// The APIs of protocol version 1.
const (
	APIMetadata        APIKey = 1
	APIProduce         APIKey = 2
	APIFetch           APIKey = 3
	APIListOffsets     APIKey = 4
	APIHealth          APIKey = 5
	APIJoinGroup       APIKey = 6
	APISyncGroup       APIKey = 7
	APIHeartbeat       APIKey = 8
	APILeaveGroup      APIKey = 9
	APIOffsetCommit    APIKey = 10
	APIOffsetFetch     APIKey = 11
	APIFindCoordinator APIKey = 12
	APIInitProducerID  APIKey = 13
	APIAuthenticate    APIKey = 14
	APIVersions        APIKey = 15
)

// APIVersion is the version of every API this SDK sends.
const APIVersion uint16 = 1

// ALPN is the QUIC application protocol.
const ALPN = "rustmq/1"

// FrameHeader is the fixed header in front of each protobuf body (big endian).
type FrameHeader struct {
	BodyLen    uint32
	APIKey     APIKey
	APIVersion uint16
	RequestID  uint32
	Flags      uint16
}

// Append writes the header to b.
func (h FrameHeader) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, h.BodyLen)
	b = binary.BigEndian.AppendUint16(b, uint16(h.APIKey))
	b = binary.BigEndian.AppendUint16(b, h.APIVersion)
	b = binary.BigEndian.AppendUint32(b, h.RequestID)
	b = binary.BigEndian.AppendUint16(b, h.Flags)
	return binary.BigEndian.AppendUint16(b, 0)
}

// FrameError says why bytes are not a frame.
type FrameError struct{ Reason string }

func (e *FrameError) Error() string { return "rustmq: bad frame: " + e.Reason }

// DecodeFrame splits a whole frame into its header and body, refusing bodies larger than
// maxBody and frames whose length does not match the header.
func DecodeFrame(frame []byte, maxBody uint32) (FrameHeader, []byte, error) {
	if len(frame) < HeaderLen {
		return FrameHeader{}, nil, &FrameError{fmt.Sprintf("%d bytes, less than a header", len(frame))}
	}
	h := FrameHeader{
		BodyLen:    binary.BigEndian.Uint32(frame[0:]),
		APIKey:     APIKey(binary.BigEndian.Uint16(frame[4:])),
		APIVersion: binary.BigEndian.Uint16(frame[6:]),
		RequestID:  binary.BigEndian.Uint32(frame[8:]),
		Flags:      binary.BigEndian.Uint16(frame[12:]),
	}
	if h.BodyLen > maxBody {
		return h, nil, &FrameError{fmt.Sprintf("body of %d bytes exceeds %d", h.BodyLen, maxBody)}
	}
	if uint64(len(frame)-HeaderLen) != uint64(h.BodyLen) {
		return h, nil, &FrameError{fmt.Sprintf("header says %d body bytes, frame has %d", h.BodyLen, len(frame)-HeaderLen)}
	}
	return h, frame[HeaderLen:], nil
}
