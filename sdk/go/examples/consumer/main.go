// Consumer: the seed's consumer example. Joins a consumer group on a topic, prints messages
// and commits them; stops after RUSTMQ_MAX_MESSAGES (default: never) or Ctrl-C.
//
//	go run ./examples/consumer
//
// RUSTMQ_BROKERS, RUSTMQ_CA_CERT, RUSTMQ_TOPIC (default go-example) and RUSTMQ_GROUP
// (default go-example-group) override the defaults.
package main

import (
	"context"
	"errors"
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
	consumer, err := client.CreateConsumer(ctx, env("RUSTMQ_TOPIC", "go-example"), env("RUSTMQ_GROUP", "go-example-group"), rustmq.GroupConfig{
		Consumer: rustmq.ConsumerConfig{StartPosition: rustmq.StartPosition{Type: rustmq.StartEarliest}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()
	limit, _ := strconv.Atoi(env("RUSTMQ_MAX_MESSAGES", "0"))
	for n := 1; limit == 0 || n <= limit; n++ {
		msg, err := consumer.Receive(ctx)
		if errors.Is(err, context.Canceled) {
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		sender, _ := msg.Header("sender")
		fmt.Printf("received: partition=%d offset=%d key=%s sender=%s payload=%s\n",
			msg.Partition, msg.Offset, msg.Key, sender, msg.PayloadAsString())
	}
	if err := consumer.Commit(ctx); err != nil {
		log.Fatal(err)
	}
}
