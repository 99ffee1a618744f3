package rustmq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/rustmq/rustmq/sdk/go/rustmq/pb"
)

// Every codec, against a real broker: what the Go producer sends, the Go consumer reads back
// unchanged (keys, null keys, headers, binary payloads, tombstones), at consecutive offsets.
func TestProduceAndConsumeEveryCompression(t *testing.T) {
	b := startBroker(t)
	c := b.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, comp := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		topic := "go-" + comp.String()
		b.createTopic(t, topic, 1)
		p, err := c.CreateProducer(ctx, topic, ProducerConfig{Compression: comp, AckLevel: AckAll, Idempotent: true})
		if err != nil {
			t.Fatalf("%s: %v", comp, err)
		}
		var sent []*Message
		for i := range 50 {
			m := NewMessage().Topic(topic).KeyString(fmt.Sprintf("k%d", i%5)).
				Payload(bytes.Repeat([]byte{byte(i), 0, 0xff}, 100+i)).Header("i", fmt.Sprint(i)).Partition(0).Build()
			if i == 7 {
				m.Key = nil
			}
			if i == 9 {
				m.Payload = nil
			}
			sent = append(sent, m)
		}
		results, err := p.SendBatch(ctx, sent)
		if err != nil {
			t.Fatalf("%s: %v", comp, err)
		}
		for i, r := range results {
			if r.Offset != int64(i) || r.Partition != 0 {
				t.Fatalf("%s: message %d at %d/%d", comp, i, r.Partition, r.Offset)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Send(ctx, sent[0]); !errors.Is(err, ErrClosed) {
			t.Fatalf("send after close: %v", err)
		}
		cons, err := c.CreatePartitionConsumer(ctx, topic, ConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := cons.Assign(ctx, 0); err != nil {
			t.Fatal(err)
		}
		for i, want := range sent {
			got, err := cons.Receive(ctx)
			if err != nil {
				t.Fatalf("%s: receive %d: %v", comp, i, err)
			}
			if got.Offset != int64(i) || !bytes.Equal(got.Key, want.Key) || (got.Key == nil) != (want.Key == nil) ||
				!bytes.Equal(got.Payload, want.Payload) || (got.Payload == nil) != (want.Payload == nil) {
				t.Fatalf("%s: message %d differs: %+v", comp, i, got)
			}
			if v, ok := got.Header("i"); !ok || string(v) != fmt.Sprint(i) {
				t.Fatalf("%s: message %d header %q", comp, i, v)
			}
		}
		if lag := cons.Lag()[0]; lag != 0 {
			t.Fatalf("%s: lag %d after reading everything", comp, lag)
		}
	}
}

// Keys land where murmur2 puts them (as the Rust client does), sticky messages spread,
// and seek / seek-to-timestamp / pause behave.
func TestPartitioningSeekAndPause(t *testing.T) {
	b := startBroker(t)
	c := b.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b.createTopic(t, "keyed", 4)
	p, err := c.CreateProducer(ctx, "keyed", ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	for i := range 40 {
		key := fmt.Sprintf("user-%d", i)
		r, err := p.Send(ctx, NewMessage().KeyString(key).PayloadString(key).Build())
		if err != nil {
			t.Fatal(err)
		}
		if want := PartitionForKey([]byte(key), 4); r.Partition != want {
			t.Fatalf("%s on %d, murmur2 says %d", key, r.Partition, want)
		}
	}
	if _, err := p.Send(ctx, NewMessage().PayloadString("x").Partition(9).Build()); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("partition 9 of 4: %v", err)
	}
	if _, err := p.Send(ctx, NewMessage().Topic("other").PayloadString("x").Build()); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("other topic: %v", err)
	}
	cons, err := c.CreatePartitionConsumer(ctx, "keyed", ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Assign(ctx, 0, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for seen < 40 {
		if _, err := cons.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		seen++
	}
	// Back to the start of partition 1 by timestamp; partition 2 paused.
	if err := cons.SeekToTimestamp(ctx, 1, start.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	cons.Pause(2)
	pos, _ := cons.Position(1)
	if pos != 0 {
		t.Fatalf("seek to timestamp: position %d", pos)
	}
	if _, err := p.Send(ctx, NewMessage().PayloadString("while paused").Partition(2).Build()); err != nil {
		t.Fatal(err)
	}
	m, err := cons.Receive(ctx)
	if err != nil || m.Partition != 1 || m.Offset != 0 {
		t.Fatalf("after seek: %+v %v", m, err)
	}
	cons.Resume(2)
	for {
		m, err := cons.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Partition == 2 && m.PayloadAsString() == "while paused" {
			break
		}
	}
	if _, err := c.CreatePartitionConsumer(ctx, "no-such-topic", ConsumerConfig{}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
}

// Batches stay within BatchBytes while one is in flight: messages sent meanwhile queue up in
// further batches instead of growing one past the broker's frame limit (64 KiB here).
func TestBatchesStayBelowTheFrameLimitUnderLoad(t *testing.T) {
	b := startBrokerIn(t, t.TempDir(), "RUSTMQ_NETWORK__MAX_FRAME_BYTES=65536", "RUSTMQ_LOG__MAX_MESSAGE_BYTES=65536")
	c := b.client(t)
	b.createTopic(t, "bounded", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := c.CreateProducer(ctx, "bounded", ProducerConfig{BatchBytes: 16 << 10, AckLevel: AckAll})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]*Message, 3000)
	for i := range msgs {
		msgs[i] = NewMessage().Payload(bytes.Repeat([]byte{byte(i)}, 1024)).Build()
	}
	results, err := p.SendBatch(ctx, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if last := results[len(results)-1]; last.Offset != int64(len(msgs)-1) {
		t.Fatalf("last offset %d", last.Offset)
	}
	if m := p.Metrics(); m.BatchesSent < uint64(len(msgs)*1024/(16<<10)) {
		t.Fatalf("%d batches for %d KiB in batches of 16 KiB", m.BatchesSent, len(msgs))
	}
	_ = p.Close()
}

// Per-partition refusals of a real broker reach the caller as typed errors: a record batch
// above the topic's max.message.bytes, a batch whose CRC does not match, a partition the
// topic does not have; and none of them is retried.
func TestBrokerRefusalsAreTypedErrors(t *testing.T) {
	b := startBroker(t)
	c := b.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	body := []byte(`{"name": "small", "partitions": 1, "config": {"max.message.bytes": "2048"}}`)
	resp, err := http.Post(b.admin+"/api/v1/topics", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create topic: %v %v", resp, err)
	}
	resp.Body.Close()
	p, err := c.CreateProducer(ctx, "small", ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Send(ctx, NewMessage().Payload(make([]byte, 8000)).Build()); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("8000 bytes to a 2048-byte topic: %v", err)
	}
	if m := p.Metrics(); m.Retries != 0 || m.MessagesFailed != 1 {
		t.Fatalf("metrics %+v", m)
	}
	conn, err := c.leader(ctx, "small", 0)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := EncodeBatch([]Record{{Value: []byte("x"), Timestamp: time.Now()}}, NotIdempotent)
	if err != nil {
		t.Fatal(err)
	}
	batch[len(batch)-1] ^= 0xff
	produce := func(partition uint32, records []byte) error {
		var resp pb.ProduceResponse
		if err := conn.Request(ctx, APIProduce, &pb.ProduceRequest{Topics: []*pb.TopicProduceData{{Topic: "small",
			Partitions: []*pb.PartitionProduceData{{Partition: partition, Records: records}}}}}, &resp); err != nil {
			return err
		}
		pr := resp.GetTopics()[0].GetPartitions()[0]
		return codeError(pr.GetErrorCode(), pr.GetErrorMessage())
	}
	if err := produce(0, batch); !errors.Is(err, ErrCorruptMessage) {
		t.Fatalf("bad crc: %v", err)
	}
	batch[len(batch)-1] ^= 0xff
	if err := produce(5, batch); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("partition 5 of 1: %v", err)
	}
	if err := produce(0, batch); err != nil {
		t.Fatalf("the same batch, intact: %v", err)
	}
	if _, err := c.CreateProducer(ctx, "no-such-topic", ProducerConfig{}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
}
