package rustmq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"
)

// The Rust side: client/examples/interop.rs (`cargo test --workspace` builds it; or
// RUSTMQ_INTEROP_BIN).
func interopBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RUSTMQ_INTEROP_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "..", "target", "debug", "examples", "interop")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v (build it with `cargo build -p rustmq-client --example interop`, or set RUSTMQ_INTEROP_BIN)", bin, err)
	}
	return bin
}

// interopMessage is message i of the shared set (see client/examples/interop.rs).
func interopMessage(topic string, i int) *Message {
	payload := make([]byte, i*13%500)
	for j := range payload {
		payload[j] = byte((i*31 + j) % 256)
	}
	b := NewMessage().Topic(topic).Payload(payload).Header("i", fmt.Sprint(i))
	if i%11 != 3 {
		b = b.KeyString(fmt.Sprintf("k%d", i%7))
	}
	m := b.Build()
	if i%3 == 0 {
		m.Headers = append(m.Headers, Header{Key: "bin", Value: []byte{0, 255, byte(i % 256)}})
	}
	return m
}

// seen is a message as both sides print it: partition, offset, hex key (nil: none),
// hex payload, headers.
type seen struct {
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Key       *string     `json:"key"`
	Payload   string      `json:"payload"`
	Headers   [][2]string `json:"headers"`
}

func seenOf(m *ConsumedMessage) seen {
	s := seen{Partition: m.Partition, Offset: m.Offset, Payload: hex.EncodeToString(m.Payload), Headers: [][2]string{}}
	if m.Key != nil {
		k := hex.EncodeToString(m.Key)
		s.Key = &k
	}
	for _, h := range m.Headers {
		s.Headers = append(s.Headers, [2]string{h.Key, hex.EncodeToString(h.Value)})
	}
	return s
}

// expected is what the shared set must read back as, by header i: key, payload, headers.
func expected(topic string, n int) map[string]seen {
	out := map[string]seen{}
	for i := range n {
		m := interopMessage(topic, i)
		s := seen{Payload: hex.EncodeToString(m.Payload), Headers: [][2]string{}, Partition: -1}
		if m.Key != nil {
			k := hex.EncodeToString(m.Key)
			s.Key = &k
		}
		for _, h := range m.Headers {
			s.Headers = append(s.Headers, [2]string{h.Key, hex.EncodeToString(h.Value)})
		}
		out[fmt.Sprint(i)] = s
	}
	return out
}

// check compares what one side read with the shared set: every message once, its bytes
// unchanged, keyed messages on murmur2's partition, offsets consecutive per partition.
func check(t *testing.T, who string, got []seen, topic string, n, partitions int) {
	t.Helper()
	want := expected(topic, n)
	if len(got) != n {
		t.Fatalf("%s read %d messages, want %d", who, len(got), n)
	}
	byPart := map[int32][]int64{}
	for _, g := range got {
		id, _ := hex.DecodeString(g.Headers[0][1])
		w, ok := want[string(id)]
		if !ok {
			t.Fatalf("%s read an unexpected or repeated message %+v", who, g)
		}
		delete(want, string(id))
		if !reflect.DeepEqual(g.Key, w.Key) || g.Payload != w.Payload || !reflect.DeepEqual(g.Headers, w.Headers) {
			t.Fatalf("%s: message %s differs:\n got %+v\nwant %+v", who, id, g, w)
		}
		if g.Key != nil {
			key, _ := hex.DecodeString(*g.Key)
			if p := PartitionForKey(key, int32(partitions)); p != g.Partition {
				t.Fatalf("%s: key %q on partition %d, murmur2 says %d", who, key, g.Partition, p)
			}
		}
		byPart[g.Partition] = append(byPart[g.Partition], g.Offset)
	}
	for p, offs := range byPart {
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		for i, o := range offs {
			if o != int64(i) {
				t.Fatalf("%s: partition %d offsets %v", who, p, offs)
			}
		}
	}
}

// Go produces and the Rust client consumes, and the reverse, for every codec: byte for
// byte the same messages on the same partitions.
func TestInteropWithTheRustClient(t *testing.T) {
	b := startBroker(t)
	c := b.client(t)
	bin := interopBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const n, partitions = 120, 3
	for _, comp := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		// Go → Rust.
		topic := "go-to-rust-" + comp.String()
		b.createTopic(t, topic, partitions)
		p, err := c.CreateProducer(ctx, topic, ProducerConfig{Compression: comp, AckLevel: AckAll, Idempotent: true})
		if err != nil {
			t.Fatal(err)
		}
		msgs := make([]*Message, n)
		for i := range msgs {
			msgs[i] = interopMessage(topic, i)
		}
		if _, err := p.SendBatch(ctx, msgs); err != nil {
			t.Fatalf("%s: %v", comp, err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(ctx, bin, "consume", b.quic, b.ca, topic, fmt.Sprint(n)).Output()
		if err != nil {
			t.Fatalf("%s: rust consume: %v", comp, err)
		}
		var rust []seen
		lines := bufio.NewScanner(bytes.NewReader(out))
		lines.Buffer(nil, 1<<20)
		for lines.Scan() {
			var s seen
			if err := json.Unmarshal(lines.Bytes(), &s); err != nil {
				t.Fatalf("%s: %q: %v", comp, lines.Text(), err)
			}
			rust = append(rust, s)
		}
		check(t, "rust consumer ("+comp.String()+")", rust, topic, n, partitions)

		// Rust → Go.
		topic = "rust-to-go-" + comp.String()
		b.createTopic(t, topic, partitions)
		cmd := exec.CommandContext(ctx, bin, "produce", b.quic, b.ca, topic, fmt.Sprint(n), comp.String())
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: rust produce: %v", comp, err)
		}
		cons, err := c.CreatePartitionConsumer(ctx, topic, ConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := cons.Assign(ctx, 0, 1, 2); err != nil {
			t.Fatal(err)
		}
		var goSide []seen
		for range n {
			m, err := cons.Receive(ctx)
			if err != nil {
				t.Fatalf("%s: %v", comp, err)
			}
			goSide = append(goSide, seenOf(m))
		}
		check(t, "go consumer ("+comp.String()+")", goSide, topic, n, partitions)
	}
}
