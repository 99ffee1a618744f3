package rustmq

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// kill -9 of a partition leader in the three-controller, three-broker cluster while an
// idempotent acks=all Go producer writes with up to five batches of a partition in flight:
// every acknowledged message is in the log exactly once and in its partition in send order,
// and the producer carries on against the new leaders.
func TestLeaderKilledUnderIdempotentLoadLosesAndDuplicatesNothing(t *testing.T) {
	cl := startCluster(t)
	const topic, partitions = "failover", 3
	if err := cl.api("POST", "/api/v1/topics", map[string]any{
		"name": topic, "partitions": partitions, "replication_factor": 3,
		"config": map[string]string{"min.insync.replicas": "2"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	c, err := NewClient(ctx, ClientConfig{Brokers: cl.quic, TLS: TLSConfig{CACertFile: cl.ca}, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Until every partition has a leader the brokers know of.
	var p *Producer
	for p == nil {
		if p, err = c.CreateProducer(ctx, topic, ProducerConfig{AckLevel: AckAll, Idempotent: true, MaxRetries: 60, BatchTimeout: 2 * time.Millisecond}); err != nil {
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	failed := 0
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			payload := fmt.Sprintf("m-%06d", i)
			err := p.SendAsync(ctx, NewMessage().KeyString(payload).PayloadString(payload).Build(), func(_ *SendResult, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					return
				}
				acked[payload] = true
			})
			if err != nil {
				return
			}
			if i%50 == 49 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	for count() < 2000 {
		if ctx.Err() != nil {
			t.Fatalf("only %d acknowledged before the kill", count())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The leader of partition 0.
	md, err := c.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	leader := -1
	for _, tm := range md.GetTopics() {
		for _, pm := range tm.GetPartitions() {
			if pm.GetPartition() == 0 {
				leader = int(pm.GetLeaderId())
			}
		}
	}
	if leader < 1 || leader > 3 {
		t.Fatalf("partition 0's leader is %d", leader)
	}
	before := count()
	if err := cl.brokers[leader-1].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed broker %d with %d messages acknowledged", leader, before)
	// The load goes on through the failover.
	for count() < before+3000 {
		if ctx.Err() != nil {
			t.Fatalf("%d acknowledged after the kill (of %d before)", count(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	<-loadDone
	if err := p.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	// Read every partition back from the surviving brokers.
	cons, err := c.CreatePartitionConsumer(ctx, topic, ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Assign(ctx, 0, 1, 2); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	// By partition, the send index of the last acknowledged message read.
	lastAcked := map[int32]int{}
	inOrder := func(m *ConsumedMessage) {
		mu.Lock()
		ok := acked[m.PayloadAsString()]
		mu.Unlock()
		if !ok {
			return
		}
		var i int
		if _, err := fmt.Sscanf(m.PayloadAsString(), "m-%d", &i); err != nil {
			t.Fatalf("payload %q: %v", m.PayloadAsString(), err)
		}
		if last, ok := lastAcked[m.Partition]; ok && i <= last {
			t.Errorf("partition %d: m-%06d at offset %d after m-%06d", m.Partition, i, m.Offset, last)
		}
		lastAcked[m.Partition] = i
	}
	mu.Lock()
	want := len(acked)
	mu.Unlock()
	for {
		missing := 0
		mu.Lock()
		for k := range acked {
			if seen[k] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := cons.Receive(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("%d acknowledged messages not read back: %v", missing, err)
		}
		inOrder(m)
		seen[m.PayloadAsString()]++
	}
	// Drain what is left, to see duplicates anywhere.
	for {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		m, err := cons.Receive(rctx)
		rcancel()
		if err != nil {
			break
		}
		inOrder(m)
		seen[m.PayloadAsString()]++
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("%s is in the log %d times", k, n)
		}
	}
	t.Logf("%d acknowledged (%d failed), all read back once and in order; %d in the log; at most %d batches of a partition in flight",
		want, failed, len(seen), p.Metrics().PartitionInFlightPeak)
}
