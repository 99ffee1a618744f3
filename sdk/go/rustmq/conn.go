package rustmq

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/rustmq/rustmq/sdk/go/rustmq/pb"
)

// Conn is one QUIC connection to a broker; every request travels on its own stream, so
// requests do not wait for each other. Safe for concurrent use.
type Conn struct {
	addr     string
	qc       *quic.Conn
	maxFrame uint32
	nextID   atomic.Uint32

	mu        sync.Mutex
	stats     ConnStats
	principal string
	renew     *time.Timer
}

func (c *Conn) setPrincipal(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.principal = p
}

// Principal is who the broker took this connection to be after a token (empty without one).
func (c *Conn) Principal() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.principal
}

// renewAfter runs f after d (a re-authentication), replacing a scheduled one.
func (c *Conn) renewAfter(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.renew != nil {
		c.renew.Stop()
	}
	c.renew = time.AfterFunc(max(d, time.Second), f)
}

// ConnStats counts what a connection did.
type ConnStats struct {
	Requests      uint64
	Errors        uint64
	BytesSent     uint64
	BytesReceived uint64
}

// Dial connects to a broker at addr (host:port) with tlsConf (its RootCAs must hold the
// cluster CA; ServerName defaults to the host).
func Dial(ctx context.Context, addr string, tlsConf *tls.Config, maxFrame uint32) (*Conn, error) {
	conf := tlsConf.Clone()
	conf.NextProtos = []string{ALPN}
	conf.MinVersion = tls.VersionTLS13
	qc, err := quic.DialAddr(ctx, addr, conf, &quic.Config{
		KeepAlivePeriod: 10 * time.Second,
		MaxIdleTimeout:  30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("rustmq: connecting to %s: %w", addr, err)
	}
	return &Conn{addr: addr, qc: qc, maxFrame: maxFrame}, nil
}

// Addr is the broker's address.
func (c *Conn) Addr() string { return c.addr }

// Stats is a snapshot of the connection's counters.
func (c *Conn) Stats() ConnStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.renew != nil {
		c.renew.Stop()
	}
	c.mu.Unlock()
	return c.qc.CloseWithError(0, "")
}

// Request sends req as api on a new stream and decodes the answer into resp. A frame-level
// refusal (an ErrorResponse) is returned as a *ServerError.
func (c *Conn) Request(ctx context.Context, api APIKey, req, resp proto.Message) error {
	// Sized first, so the message is encoded once, straight behind the frame header (a
	// produce request is mostly record bytes: one copy fewer of each).
	size := proto.Size(req)
	id := c.nextID.Add(1)
	h := FrameHeader{BodyLen: uint32(size), APIKey: api, APIVersion: APIVersion, RequestID: id}
	// The caller's span (an OpenTelemetry span context in ctx) travels with the request, so
	// the broker's spans join its trace.
	var traceCtx []byte
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		tid, sid := sc.TraceID(), sc.SpanID()
		traceCtx = append(append(append(make([]byte, 0, TraceContextLen), 0), tid[:]...), sid[:]...)
		traceCtx = append(traceCtx, byte(sc.TraceFlags()))
		h.Flags |= FlagTraceContext
		h.BodyLen += TraceContextLen
	}
	frame := append(h.Append(make([]byte, 0, HeaderLen+int(h.BodyLen))), traceCtx...)
	frame, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(frame, req)
	if err != nil {
		return err
	}
	if len(frame) != HeaderLen+int(h.BodyLen) {
		return &FrameError{fmt.Sprintf("a request encoded to %d bytes, %d were counted", len(frame)-HeaderLen, h.BodyLen)}
	}
	answer, err := c.RoundTrip(ctx, frame)
	if err != nil {
		return err
	}
	h, b, err := DecodeFrame(answer, c.maxFrame)
	if err != nil {
		return err
	}
	if h.RequestID != id || h.APIKey != api {
		return &FrameError{fmt.Sprintf("answer for request %d api %d, sent %d api %d", h.RequestID, h.APIKey, id, api)}
	}
	if h.Flags&FlagError != 0 {
		var e pb.ErrorResponse
		if err := proto.Unmarshal(b, &e); err != nil {
			return &FrameError{"undecodable error response: " + err.Error()}
		}
		// RoundTrip counted the request; the refusal is its error.
		c.mu.Lock()
		c.stats.Errors++
		c.mu.Unlock()
		return &ServerError{Code: e.GetErrorCode(), Message: e.GetMessage()}
	}
	return proto.Unmarshal(b, resp)
}

// RoundTrip writes one raw frame on a new stream and returns the broker's whole answer.
func (c *Conn) RoundTrip(ctx context.Context, frame []byte) ([]byte, error) {
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		c.count(0, 0, true)
		return nil, fmt.Errorf("rustmq: opening a stream to %s: %w", c.addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { s.CancelRead(0); s.CancelWrite(0) })
	defer stop()
	if _, err := s.Write(frame); err != nil {
		c.count(0, 0, true)
		return nil, fmt.Errorf("rustmq: writing to %s: %w", c.addr, err)
	}
	// FIN: the request is whole.
	_ = s.Close()
	answer, err := io.ReadAll(io.LimitReader(s, int64(c.maxFrame)+HeaderLen+1))
	if err != nil {
		c.count(0, 0, true)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("rustmq: reading from %s: %w", c.addr, err)
	}
	c.count(uint64(len(frame)), uint64(len(answer)), false)
	return answer, nil
}

func (c *Conn) count(sent, received uint64, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Requests++
	c.stats.BytesSent += sent
	c.stats.BytesReceived += received
	if failed {
		c.stats.Errors++
	}
}
