package rustmq

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rustmq/rustmq/sdk/go/rustmq/pb"
)

func TestHealthAPIVersionsAndMetadataFromARealBroker(t *testing.T) {
	b := startBroker(t)
	c := b.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	h, err := c.Health(ctx)
	if err != nil || !h.GetHealthy() {
		t.Fatalf("health: %v %v", h, err)
	}
	if err := c.HealthCheck(ctx); err != nil || !c.IsConnected() {
		t.Fatalf("health check: %v, connected %v", err, c.IsConnected())
	}
	v, err := c.APIVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.GetApis()) != 15 || v.GetMaxFrameBytes() != 16<<20 || v.GetAuthenticationRequired() {
		t.Fatalf("api versions: %v", v)
	}
	for _, a := range v.GetApis() {
		if a.GetMinVersion() > uint32(APIVersion) || a.GetMaxVersion() < uint32(APIVersion) {
			t.Fatalf("%s does not speak version %d", a.GetName(), APIVersion)
		}
	}

	b.createTopic(t, "go-topic", 3)
	var md *pb.MetadataResponse
	for deadline := time.Now().Add(10 * time.Second); ; {
		md, err = c.Metadata(ctx, "go-topic")
		if err == nil && TopicError(md, "go-topic") == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("go-topic never appeared: %v %v", md, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(md.GetTopics()[0].GetPartitions()); n != 3 {
		t.Fatalf("%d partitions", n)
	}
	if md.GetClusterId() == "" || len(md.GetBrokers()) != 1 {
		t.Fatalf("metadata: %v", md)
	}
	md, err = c.Metadata(ctx, "no-such-topic")
	if err != nil {
		t.Fatal(err)
	}
	if err := TopicError(md, "no-such-topic"); !errors.Is(err, ErrUnknownTopic) || !errors.Is(err, ErrServer) {
		t.Fatalf("unknown topic: %v", err)
	}
	st := c.Stats()[b.quic]
	if st.Requests < 4 || st.BytesReceived == 0 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestFrameLevelRefusalsAreTypedErrors(t *testing.T) {
	b := startBroker(t)
	c := b.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c.connection(ctx, b.quic)
	if err != nil {
		t.Fatal(err)
	}
	// An api the broker does not have.
	err = conn.Request(ctx, APIKey(99), &pb.HealthRequest{}, &pb.HealthResponse{})
	var se *ServerError
	if !errors.As(err, &se) || !errors.Is(err, ErrUnsupportedAPI) || se.Retriable() {
		t.Fatalf("unknown api: %v", err)
	}
	// A body that is not the api's message.
	frame := FrameHeader{BodyLen: 8, APIKey: APIFetch, APIVersion: 1, RequestID: 5}.Append(nil)
	frame = append(frame, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	answer, err := conn.RoundTrip(ctx, frame)
	if err != nil {
		t.Fatal(err)
	}
	h, body, err := DecodeFrame(answer, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if h.Flags != FlagResponse|FlagError || h.RequestID != 5 {
		t.Fatalf("header %+v", h)
	}
	if len(body) == 0 {
		t.Fatal("empty error body")
	}
	// The connection still serves; each request counted once, the refusal as an error.
	before := conn.Stats()
	if _, err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	after := conn.Stats()
	if after.Requests != before.Requests+1 || after.Errors != before.Errors || before.Requests != 2 || before.Errors != 1 {
		t.Fatalf("stats before %+v after %+v", before, after)
	}
}

// A broker that goes away: the health check names it, and a client reconnects on its own
// when the broker is back on the same address.
func TestHealthCheckAndReconnect(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerIn(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A short request timeout: a broker killed with -9 sends no close, so a request on its
	// connection ends by the timeout.
	c, err := NewClient(ctx, ClientConfig{Brokers: []string{b.quic}, TLS: TLSConfig{CACertFile: b.ca}, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := b.quic
	b.stop()
	if err := c.HealthCheck(ctx); err == nil {
		t.Fatal("health check passed with the broker gone")
	}
	back := startBrokerIn(t, dir, "RUSTMQ_NETWORK__QUIC_LISTEN="+addr)
	if back.quic != addr {
		t.Fatalf("restarted on %s, not %s", back.quic, addr)
	}
	for {
		if _, err := c.Health(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no reconnection")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !c.IsConnected() {
		t.Fatal("not connected after a successful request")
	}
}
