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
