// Producer: the seed's producer example against a RustMQ broker. Sends ten messages with
// headers to a topic and prints where each landed, then the connection statistics.
//
//	cargo run --release -p rustmq-broker -- --dev    # in another terminal
//	go run ./examples/producer
//
// RUSTMQ_BROKERS (default 127.0.0.1:9092), RUSTMQ_CA_CERT (default rustmq-data/tls/ca.pem)
// and RUSTMQ_TOPIC (default go-example) override the defaults; the topic must exist.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/rustmq/rustmq/sdk/go/rustmq"
)

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := rustmq.NewClient(ctx, rustmq.ClientConfig{
		Brokers: []string{env("RUSTMQ_BROKERS", "127.0.0.1:9092")},
		TLS:     rustmq.TLSConfig{CACertFile: env("RUSTMQ_CA_CERT", "rustmq-data/tls/ca.pem")},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if h, err := client.Health(ctx); err != nil || !h.GetHealthy() {
		log.Fatalf("broker not healthy: %v", err)
	}
	topic := env("RUSTMQ_TOPIC", "go-example")
	producer, err := client.CreateProducer(ctx, topic, rustmq.ProducerConfig{
		AckLevel:    rustmq.AckAll,
		Idempotent:  true,
		Compression: rustmq.CompressionZstd,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	for i := range 10 {
		msg := rustmq.NewMessage().
			Topic(topic).
			KeyString(fmt.Sprintf("user-%d", i%3)).
			PayloadString(fmt.Sprintf("Hello, RustMQ from Go (%d)", i)).
			Header("sender", "go-client").
			Header("version", "v2.0").
			Build()
		result, err := producer.Send(ctx, msg)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("message sent: partition=%d offset=%d\n", result.Partition, result.Offset)
	}
	for addr, s := range client.Stats() {
		fmt.Printf("connection %s: requests=%d sent=%d bytes received=%d bytes errors=%d\n",
			addr, s.Requests, s.BytesSent, s.BytesReceived, s.Errors)
	}
}
