// Stream: a processing pipeline in the spirit of the seed's stream example. Reads a topic's
// partitions as a MessageStream, upper-cases each payload and produces it to an output topic,
// keeping the key and headers.
//
//	go run ./examples/stream
//
// RUSTMQ_BROKERS, RUSTMQ_CA_CERT, RUSTMQ_TOPIC (input, default go-example), RUSTMQ_OUTPUT
// (default go-example-upper) and RUSTMQ_MAX_MESSAGES (default: never stop) override the
// defaults; both topics must exist.
package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"

	"github.com/rustmq/rustmq/sdk/go/rustmq"
)

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	client, err := rustmq.NewClient(ctx, rustmq.ClientConfig{
		Brokers: []string{env("RUSTMQ_BROKERS", "127.0.0.1:9092")},
		TLS:     rustmq.TLSConfig{CACertFile: env("RUSTMQ_CA_CERT", "rustmq-data/tls/ca.pem")},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	input, output := env("RUSTMQ_TOPIC", "go-example"), env("RUSTMQ_OUTPUT", "go-example-upper")
	md, err := client.Metadata(ctx, input)
	if err == nil {
		err = rustmq.TopicError(md, input)
	}
	if err != nil {
		log.Fatal(err)
	}
	var partitions []int32
	for _, t := range md.GetTopics() {
		for _, p := range t.GetPartitions() {
			partitions = append(partitions, int32(p.GetPartition()))
		}
	}
	source, err := client.CreatePartitionConsumer(ctx, input, rustmq.ConsumerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	if err := source.Assign(ctx, partitions...); err != nil {
		log.Fatal(err)
	}
	sink, err := client.CreateProducer(ctx, output, rustmq.ProducerConfig{AckLevel: rustmq.AckAll})
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()
	limit, _ := strconv.Atoi(env("RUSTMQ_MAX_MESSAGES", "0"))
	stream := source.Stream(ctx)
	n := 0
	for msg := range stream.C {
		out := &rustmq.Message{Key: msg.Key, Payload: bytes.ToUpper(msg.Payload), Headers: msg.Headers}
		if _, err := sink.Send(ctx, out); err != nil {
			log.Fatal(err)
		}
		n++
		fmt.Printf("processed %s/%d@%d -> %s\n", input, msg.Partition, msg.Offset, out.Payload)
		if limit > 0 && n >= limit {
			stream.Stop()
			break
		}
	}
	if err := stream.Err(); err != nil {
		log.Fatal(err)
	}
}
