package rustmq

import (
	"context"

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
