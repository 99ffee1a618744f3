package rustmq

import (
	"encoding/json"
	"time"
)

// Message is what a producer sends. Build one with NewMessage.
type Message struct {
	Topic   string
	Key     []byte
	Payload []byte
	Headers []Header
	// Partition, when HasPartition; otherwise the key's partition, or the producer's
	// sticky partition for a message without a key.
	Partition    int32
	HasPartition bool
	// Timestamp; zero means the send time.
	Timestamp time.Time
}

// MessageBuilder builds a Message (the seed's NewMessage().Topic(...)...Build()).
type MessageBuilder struct {
	m   Message
	err error
}

// NewMessage starts a message.
//
//	msg := rustmq.NewMessage().Topic("events").KeyString("user-1").PayloadString("hi").Header("source", "app").Build()
func NewMessage() *MessageBuilder { return &MessageBuilder{} }

// Topic sets the topic (a producer refuses a message for another topic).
func (b *MessageBuilder) Topic(t string) *MessageBuilder { b.m.Topic = t; return b }

// Key sets the key (its partition is murmur2(key) mod the partition count).
func (b *MessageBuilder) Key(k []byte) *MessageBuilder { b.m.Key = k; return b }

// KeyString sets the key from a string.
func (b *MessageBuilder) KeyString(k string) *MessageBuilder { return b.Key([]byte(k)) }

// Payload sets the payload.
func (b *MessageBuilder) Payload(p []byte) *MessageBuilder { b.m.Payload = p; return b }

// PayloadString sets the payload from a string.
func (b *MessageBuilder) PayloadString(p string) *MessageBuilder { return b.Payload([]byte(p)) }

// PayloadJSON sets the payload to v as JSON; a value that cannot be encoded makes Build's
// message carry no payload and BuildE return the error.
func (b *MessageBuilder) PayloadJSON(v any) *MessageBuilder {
	p, err := json.Marshal(v)
	if err != nil {
		b.err = err
		return b
	}
	return b.Payload(p)
}

// Header adds a header.
func (b *MessageBuilder) Header(k, v string) *MessageBuilder {
	b.m.Headers = append(b.m.Headers, Header{Key: k, Value: []byte(v)})
	return b
}

// Partition sends the message to partition p.
func (b *MessageBuilder) Partition(p int32) *MessageBuilder {
	b.m.Partition, b.m.HasPartition = p, true
	return b
}

// Timestamp sets the message's timestamp.
func (b *MessageBuilder) Timestamp(t time.Time) *MessageBuilder { b.m.Timestamp = t; return b }

// Build returns the message.
func (b *MessageBuilder) Build() *Message {
	m := b.m
	return &m
}

// BuildE returns the message, or why it could not be built (PayloadJSON's error).
func (b *MessageBuilder) BuildE() (*Message, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.Build(), nil
}

// size is what the message counts against the producer's limits.
func (m *Message) size() int {
	n := len(m.Key) + len(m.Payload)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// SendResult is where an acknowledged message was written.
type SendResult struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
}
