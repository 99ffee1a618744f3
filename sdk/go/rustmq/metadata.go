package rustmq

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/rustmq/rustmq/sdk/go/rustmq/pb"
)

// topicMeta is what producers and consumers need of a topic: its partition count and each
// partition's leader address.
type topicMeta struct {
	partitions int32
	leaders    map[int32]string
}

// metaCache holds topics' leaders until a request says they moved.
type metaCache struct {
	mu     sync.Mutex
	topics map[string]*topicMeta
}

// topic is the cached metadata of topic, read from the cluster when missing.
func (c *Client) topic(ctx context.Context, topic string) (*topicMeta, error) {
	c.meta.mu.Lock()
	t, ok := c.meta.topics[topic]
	c.meta.mu.Unlock()
	if ok {
		return t, nil
	}
	return c.refreshTopic(ctx, topic)
}

// refreshTopic reads topic's metadata again (after NOT_LEADER or a lost connection).
func (c *Client) refreshTopic(ctx context.Context, topic string) (*topicMeta, error) {
	md, err := c.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := TopicError(md, topic); err != nil {
		return nil, err
	}
	brokers := map[uint32]string{}
	for _, b := range md.GetBrokers() {
		brokers[b.GetId()] = net.JoinHostPort(b.GetHost(), strconv.Itoa(int(b.GetPort())))
	}
	t := &topicMeta{leaders: map[int32]string{}}
	for _, tm := range md.GetTopics() {
		if tm.GetName() != topic {
			continue
		}
		t.partitions = int32(len(tm.GetPartitions()))
		for _, p := range tm.GetPartitions() {
			if p.GetErrorCode() != pb.ErrorCode_NONE {
				continue
			}
			if addr, ok := brokers[p.GetLeaderId()]; ok {
				t.leaders[int32(p.GetPartition())] = addr
			}
		}
	}
	c.meta.mu.Lock()
	c.meta.topics[topic] = t
	c.meta.mu.Unlock()
	return t, nil
}

// leader is the connection to partition's leader.
func (c *Client) leader(ctx context.Context, topic string, partition int32) (*Conn, error) {
	t, err := c.topic(ctx, topic)
	if err != nil {
		return nil, err
	}
	addr, ok := t.leaders[partition]
	if !ok {
		if t, err = c.refreshTopic(ctx, topic); err != nil {
			return nil, err
		}
		if addr, ok = t.leaders[partition]; !ok {
			return nil, &ServerError{Code: pb.ErrorCode_NOT_LEADER, Message: fmt.Sprintf("%s/%d has no leader", topic, partition)}
		}
	}
	return c.connection(ctx, addr)
}

// cachedLeader is the address of partition's leader in the cached metadata, "" when none is
// known (it never asks the cluster).
func (c *Client) cachedLeader(topic string, partition int32) string {
	c.meta.mu.Lock()
	defer c.meta.mu.Unlock()
	if t, ok := c.meta.topics[topic]; ok {
		return t.leaders[partition]
	}
	return ""
}
