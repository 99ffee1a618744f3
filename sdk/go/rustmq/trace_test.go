package rustmq

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// startCollector runs the OpenTelemetry Collector .ci/build-otelcol.sh builds (OTLP in, a
// JSON-lines file out) and returns its OTLP/HTTP base URL and the file.
func startCollector(t *testing.T, dir string) (string, string) {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join("..", "..", "..", ".ci", "build-otelcol.sh")).Output()
	if err != nil {
		t.Fatalf(".ci/build-otelcol.sh: %v", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(out)), "rustmq-otelcol")
	grpc, http := freePort(t), freePort(t)
	file := filepath.Join(dir, "spans.jsonl")
	config := filepath.Join(dir, "otelcol.yaml")
	write(t, config, fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
exporters:
  file:
    path: %s
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
`, grpc, http, file))
	cmd := exec.Command(bin, "--config", config)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", http)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the collector did not listen")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", http), file
}

// A Go client's span context (in the ctx of SendAsync, as an OpenTelemetry-instrumented
// application has it) travels in the QUIC frame: the broker's produce span, exported to a
// real collector, is its child in the same trace.
func TestTraceContextReachesTheBroker(t *testing.T) {
	dir := t.TempDir()
	endpoint, file := startCollector(t, dir)
	b := startBrokerIn(t, filepath.Join(dir, "data"),
		"RUSTMQ_TELEMETRY__ENDPOINT="+endpoint, "RUSTMQ_TELEMETRY__PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=100")
	b.createTopic(t, "traced", 1)
	c := b.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tid, sid := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	p, err := c.CreateProducer(ctx, "traced", ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Send(trace.ContextWithSpanContext(ctx, sc), NewMessage().PayloadString("traced").Build()); err != nil {
		t.Fatal(err)
	}
	for {
		if found(t, file, hex.EncodeToString(tid[:]), hex.EncodeToString(sid[:])) {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("no broker span in the client's trace")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// found reports whether the collector wrote a rustmq.produce span of traceID whose parent is
// spanID.
func found(t *testing.T, file, traceID, spanID string) bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	lines.Buffer(nil, 16<<20)
	for lines.Scan() {
		var doc struct {
			ResourceSpans []struct {
				ScopeSpans []struct {
					Spans []struct {
						Name, TraceID, ParentSpanID string
					} `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if json.Unmarshal(lines.Bytes(), &doc) != nil {
			continue
		}
		for _, rs := range doc.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					if s.Name == "rustmq.produce" && s.TraceID == traceID && s.ParentSpanID == spanID {
						return true
					}
				}
			}
		}
	}
	return false
}
