package rustmq

import (
	"context"
	"errors"
	"fmt"

	"github.com/rustmq/rustmq/sdk/go/rustmq/pb"
)

// Health asks a broker for its health (the seed's health check).
func (c *Client) Health(ctx context.Context) (*pb.HealthResponse, error) {
	var resp pb.HealthResponse
	if err := c.any(ctx, APIHealth, &pb.HealthRequest{}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// APIVersions asks a broker which APIs and versions it speaks and its limits.
func (c *Client) APIVersions(ctx context.Context) (*pb.ApiVersionsResponse, error) {
	var resp pb.ApiVersionsResponse
	if err := c.any(ctx, APIVersions, &pb.ApiVersionsRequest{}, &resp); err != nil {
		return nil, err
	}
	return &resp, codeError(resp.GetErrorCode(), "api versions")
}

// Metadata reads brokers, topics, partitions and leaders (all topics when none is named).
// A topic the cluster does not have comes back with its error code; TopicError turns it
// into an error.
func (c *Client) Metadata(ctx context.Context, topics ...string) (*pb.MetadataResponse, error) {
	var resp pb.MetadataResponse
	if err := c.any(ctx, APIMetadata, &pb.MetadataRequest{Topics: topics}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// TopicError is the error a metadata answer gives for topic (ErrUnknownTopic and the
// like), or nil.
func TopicError(md *pb.MetadataResponse, topic string) error {
	for _, t := range md.GetTopics() {
		if t.GetName() == topic {
			return codeError(t.GetErrorCode(), "topic "+topic)
		}
	}
	return codeError(pb.ErrorCode_UNKNOWN_TOPIC, "topic "+topic+" not in the answer")
}

// HealthCheck asks every broker this client is connected to (or the bootstrap brokers when
// none) for its health; the error names each that is unreachable or unhealthy.
func (c *Client) HealthCheck(ctx context.Context) error {
	c.mu.Lock()
	conns := make([]*Conn, 0, len(c.conn))
	for _, conn := range c.conn {
		conns = append(conns, conn)
	}
	c.mu.Unlock()
	if len(conns) == 0 {
		_, err := c.Health(ctx)
		return err
	}
	var errs []error
	for _, conn := range conns {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		var resp pb.HealthResponse
		err := conn.Request(rctx, APIHealth, &pb.HealthRequest{}, &resp)
		cancel()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", conn.Addr(), err))
		case !resp.GetHealthy():
			errs = append(errs, fmt.Errorf("%s: unhealthy", conn.Addr()))
		}
	}
	return errors.Join(errs...)
}

// IsConnected reports whether the client holds an open connection to some broker (a lost
// one is dialled again by the next request that needs it).
func (c *Client) IsConnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conn {
		if conn.qc.Context().Err() == nil {
			return true
		}
	}
	return false
}
