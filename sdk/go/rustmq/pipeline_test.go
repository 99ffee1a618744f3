package rustmq

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// The rule for one more batch of a partition with batches already in flight.
func TestMayPipelineOnlyIdempotentToTheConfirmedLeader(t *testing.T) {
	const leader = "10.0.0.1:9092"
	cases := []struct {
		name                 string
		inFlight, limit      int
		idempotent, retrying bool
		confirmed, current   string
		want                 bool
	}{
		{"nothing in flight", 0, 5, false, false, "", "", true},
		{"not idempotent", 1, 5, false, false, leader, leader, false},
		{"idempotent, confirmed leader", 1, 5, true, false, leader, leader, true},
		{"at the limit", 5, 5, true, false, leader, leader, false},
		{"limit one", 1, 1, true, false, leader, leader, false},
		{"a batch waits to be retried", 1, 5, true, true, leader, leader, false},
		{"no leader acknowledged yet", 1, 5, true, false, "", leader, false},
		{"leader moved", 1, 5, true, false, leader, "10.0.0.2:9092", false},
		{"leader unknown", 1, 5, true, false, leader, "", false},
	}
	for _, c := range cases {
		if got := mayPipeline(c.inFlight, c.limit, c.idempotent, c.retrying, c.confirmed, c.current); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// An idempotent producer keeps up to MaxInFlightPerPartition batches of one partition in
// flight once its leader has acknowledged one, and the partition stays in send order. The
// producer's send loop is stopped and dispatch called by hand, so how many batches go at once
// does not depend on how fast the broker answers.
func TestIdempotentBatchesArePipelinedInOrder(t *testing.T) {
	b := startBroker(t)
	c := b.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b.createTopic(t, "pipelined", 1)
	if _, err := c.CreateProducer(ctx, "pipelined", ProducerConfig{MaxInFlightPerPartition: 6}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("six in flight per partition: %v", err)
	}
	p, err := c.CreateProducer(ctx, "pipelined", ProducerConfig{Idempotent: true, BatchSize: 10, BatchTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	close(p.stop)
	<-p.stopped

	const batches = 9
	results := make([]*SendResult, batches*10)
	acked := make(chan error, len(results))
	for i := range results {
		msg := NewMessage().PayloadString(fmt.Sprintf("m-%03d", i)).Partition(0).Build()
		if err := p.SendAsync(ctx, msg, func(r *SendResult, err error) {
			results[i] = r
			acked <- err
		}); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(n int) {
		for range n {
			select {
			case err := <-acked:
				if err != nil {
					t.Fatal(err)
				}
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
		}
	}
	// No leader has acknowledged this producer yet: one batch goes alone.
	p.dispatch()
	if got := p.Metrics().PartitionInFlightPeak; got != 1 {
		t.Fatalf("%d batches in flight before any acknowledgement", got)
	}
	wait(10)
	// Now batches go until five are in flight (dispatch holds the lock that acknowledgements
	// need to free a slot), then the rest as slots free up.
	p.dispatch()
	if got := p.Metrics().PartitionInFlightPeak; got != MaxInFlightPerPartition {
		t.Fatalf("%d batches in flight at once, want %d", got, MaxInFlightPerPartition)
	}
	for sent := 10; sent < len(results); sent += 10 {
		wait(10)
		p.dispatch()
	}
	for i, r := range results {
		if r.Offset != int64(i) {
			t.Fatalf("message %d acknowledged at offset %d", i, r.Offset)
		}
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()

	cons, err := c.CreatePartitionConsumer(ctx, "pipelined", ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Assign(ctx, 0); err != nil {
		t.Fatal(err)
	}
	for i := range results {
		m, err := cons.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("m-%03d", i); m.PayloadAsString() != want || m.Offset != int64(i) {
			t.Fatalf("offset %d holds %q, want %q at %d", m.Offset, m.PayloadAsString(), want, i)
		}
	}
}
