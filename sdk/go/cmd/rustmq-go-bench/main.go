// rustmq-go-bench is the Go SDK's load generator, the counterpart of the workspace's
// rustmq-bench (same message layout: the first 8 bytes of each payload are the send time in
// microseconds since the epoch, big endian): producers send fixed-size messages as fast as
// acknowledgements allow (at most -outstanding unacknowledged per producer), consumers split
// the topic's partitions and read from the end. It prints produce throughput with the
// acknowledgement latency and consume throughput with the end-to-end latency.
//
//	go run ./cmd/rustmq-go-bench -brokers 127.0.0.1:9092 -ca rustmq-data/tls/ca.pem -topic bench
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rustmq/rustmq/sdk/go/rustmq"
)

// latencies collects samples (microseconds) while measuring.
type latencies struct {
	mu sync.Mutex
	us []int64
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.us = append(l.us, d.Microseconds())
	l.mu.Unlock()
}

// quantile in milliseconds.
func (l *latencies) quantile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.us) == 0 {
		return 0
	}
	slices.Sort(l.us)
	return float64(l.us[min(int(q*float64(len(l.us))), len(l.us)-1)]) / 1000
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "broker address")
	ca := flag.String("ca", "rustmq-data/tls/ca.pem", "CA certificate")
	topic := flag.String("topic", "bench", "topic (must exist)")
	producers := flag.Int("producers", 2, "producers, each with its own client")
	consumers := flag.Int("consumers", 1, "consumers, splitting the partitions")
	size := flag.Int("message-size", 1024, "message size in bytes (at least 16)")
	duration := flag.Duration("duration", 20*time.Second, "measured time")
	warmup := flag.Duration("warmup", 3*time.Second, "time before measuring")
	acks := flag.String("acks", "leader", "leader or all")
	outstanding := flag.Int("outstanding", 50000, "unacknowledged messages per producer")
	rate := flag.Int("rate", 0, "target messages per second over all producers; 0 = as fast as possible")
	linger := flag.Duration("linger", 2*time.Millisecond, "producer linger")
	idempotent := flag.Bool("idempotent", false, "idempotent producers (which pipeline batches of a partition)")
	perPartition := flag.Int("max-in-flight-per-partition", rustmq.MaxInFlightPerPartition, "batches of a partition in flight (idempotent producers)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof reads it)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *size < 16 {
		log.Fatal("-message-size must be at least 16")
	}
	ack := rustmq.AckLeader
	if *acks == "all" {
		ack = rustmq.AckAll
	}
	ctx, cancel := context.WithTimeout(context.Background(), *warmup+*duration+time.Minute)
	defer cancel()
	newClient := func() *rustmq.Client {
		c, err := rustmq.NewClient(ctx, rustmq.ClientConfig{Brokers: []string{*brokers}, TLS: rustmq.TLSConfig{CACertFile: *ca}})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	var measuring, stop atomic.Bool
	var sent, acked, failed, consumed atomic.Int64
	var firstFailure sync.Once
	ackLat, e2eLat := &latencies{}, &latencies{}

	// Consumers first, from the end of each partition.
	probe := newClient()
	md, err := probe.Metadata(ctx, *topic)
	if err == nil {
		err = rustmq.TopicError(md, *topic)
	}
	if err != nil {
		log.Fatal(err)
	}
	partitions := len(md.GetTopics()[0].GetPartitions())
	var wg sync.WaitGroup
	for c := range *consumers {
		var mine []int32
		for p := range partitions {
			if p%*consumers == c {
				mine = append(mine, int32(p))
			}
		}
		cl := newClient()
		cons, err := cl.CreatePartitionConsumer(ctx, *topic, rustmq.ConsumerConfig{StartPosition: rustmq.StartPosition{Type: rustmq.StartLatest}})
		if err != nil {
			log.Fatal(err)
		}
		if err := cons.Assign(ctx, mine...); err != nil {
			log.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				msgs, err := cons.Poll(ctx)
				if err != nil {
					log.Printf("consume: %v", err)
					continue
				}
				now := time.Now().UnixMicro()
				for _, m := range msgs {
					if measuring.Load() && len(m.Payload) >= 8 {
						consumed.Add(1)
						e2eLat.add(time.Duration(now-int64(binary.BigEndian.Uint64(m.Payload))) * time.Microsecond)
					}
				}
			}
		}()
	}
	filler := make([]byte, *size-8)
	var all []*rustmq.Producer
	for range *producers {
		cl := newClient()
		p, err := cl.CreateProducer(ctx, *topic, rustmq.ProducerConfig{
			AckLevel: ack, BatchTimeout: *linger, MaxPending: *outstanding,
			Idempotent: *idempotent, MaxInFlightPerPartition: *perPartition,
		})
		if err != nil {
			log.Fatal(err)
		}
		all = append(all, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// With a rate, each message has an intended send time and latencies count from
			// it, so a stalled broker cannot hide queueing delay.
			var interval time.Duration
			if *rate > 0 {
				interval = time.Second * time.Duration(*producers) / time.Duration(*rate)
			}
			next := time.Now()
			for !stop.Load() {
				payload := make([]byte, 8, *size)
				sentAt := time.Now()
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					sentAt = next
					next = next.Add(interval)
				}
				binary.BigEndian.PutUint64(payload, uint64(sentAt.UnixMicro()))
				payload = append(payload, filler...)
				measured := measuring.Load()
				if measured {
					sent.Add(1)
				}
				err := p.SendAsync(ctx, &rustmq.Message{Payload: payload}, func(_ *rustmq.SendResult, err error) {
					if !measured {
						return
					}
					if err != nil {
						failed.Add(1)
						firstFailure.Do(func() { log.Printf("first failed send: %v", err) })
						return
					}
					acked.Add(1)
					ackLat.add(time.Since(sentAt))
				})
				if err != nil {
					return
				}
			}
			_ = p.Close()
		}()
	}
	fmt.Fprintf(os.Stderr, "warming up for %v\n", *warmup)
	time.Sleep(*warmup)
	measuring.Store(true)
	started := time.Now()
	fmt.Fprintf(os.Stderr, "measuring for %v\n", *duration)
	time.Sleep(*duration)
	measuring.Store(false)
	elapsed := time.Since(started).Seconds()
	stop.Store(true)
	wg.Wait()
	var peak uint64
	for _, p := range all {
		peak = max(peak, p.Metrics().PartitionInFlightPeak)
	}
	produceRate := float64(acked.Load()) / elapsed
	consumeRate := float64(consumed.Load()) / elapsed
	fmt.Printf("produce: %.0f msg/s, %.1f MB/s, ack latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms (%d failed; at most %d batches of a partition in flight)\n",
		produceRate, produceRate*float64(*size)/1e6, ackLat.quantile(0.5), ackLat.quantile(0.99), ackLat.quantile(0.999), failed.Load(), peak)
	fmt.Printf("consume: %.0f msg/s, end-to-end latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n",
		consumeRate, e2eLat.quantile(0.5), e2eLat.quantile(0.99), e2eLat.quantile(0.999))
	if *jsonOut != "" {
		doc, _ := json.MarshalIndent(map[string]any{
			"produce_msgs_per_sec": produceRate, "consume_msgs_per_sec": consumeRate, "failed": failed.Load(),
			"partition_in_flight_peak": peak,
			"ack_latency_ms":           map[string]float64{"p50": ackLat.quantile(0.5), "p99": ackLat.quantile(0.99), "p999": ackLat.quantile(0.999)},
			"e2e_latency_ms":           map[string]float64{"p50": e2eLat.quantile(0.5), "p99": e2eLat.quantile(0.99), "p999": e2eLat.quantile(0.999)},
		}, "", "  ")
		if err := os.WriteFile(*jsonOut, doc, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
