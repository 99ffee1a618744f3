package rustmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/rustmq/rustmq/sdk/go/rustmq/pb"
)

// GroupConfig configures a consumer-group member; zero values take the defaults, which are
// the Rust client's, so Go and Rust members can share a group.
type GroupConfig struct {
	// Consumer is how partitions are fetched and where a partition without a committed
	// offset starts.
	Consumer ConsumerConfig
	// SessionTimeout removes a member that stops heartbeating (default 10 s);
	// HeartbeatInterval is the heartbeat period (default 3 s).
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long a rebalance waits for members (default 30 s).
	RebalanceTimeout time.Duration
	// Assignor: "cooperative-sticky" (default), "range" or "roundrobin"; every member of a
	// group must name the same one.
	Assignor string
	// GroupInstanceID makes the member static: a restart within the session timeout keeps
	// its assignment.
	GroupInstanceID string
	// DisableAutoCommit turns off committing every AutoCommitInterval (default 5 s).
	DisableAutoCommit  bool
	AutoCommitInterval time.Duration
}

func (c *GroupConfig) defaults() {
	c.Consumer.defaults()
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 3 * time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 30 * time.Second
	}
	if c.Assignor == "" {
		c.Assignor = "cooperative-sticky"
	}
	if c.AutoCommitInterval <= 0 {
		c.AutoCommitInterval = 5 * time.Second
	}
	// A long poll must not outlast a heartbeat period by much: rebalances are noticed
	// between polls.
	c.Consumer.FetchMaxWait = min(c.Consumer.FetchMaxWait, c.HeartbeatInterval)
}

// GroupConsumer is one member of a consumer group on one topic: the coordinator assigns it
// partitions, it reads them from the committed offsets and commits what Receive returned.
// Rebalances and auto-commits happen inside Receive. Not safe for concurrent Receive calls.
type GroupConsumer struct {
	c     *Client
	topic string
	group string
	cfg   GroupConfig
	pc    *PartitionConsumer

	mu         sync.Mutex
	memberID   string
	generation int32
	coord      *Conn
	delivered  map[int32]int64
	committed  map[int32]int64
	lastCommit time.Time

	rejoin  atomic.Bool
	stopHB  chan struct{}
	hbDone  chan struct{}
	closed  bool
	joined  bool
	hbStart sync.Once
}

// CreateConsumer joins group as a consumer of topic (the seed's CreateConsumer).
//
//	cons, err := client.CreateConsumer(ctx, "events", "billing", rustmq.GroupConfig{})
//	for {
//		msg, err := cons.Receive(ctx)
//		...
//	}
func (c *Client) CreateConsumer(ctx context.Context, topic, group string, cfg GroupConfig) (*GroupConsumer, error) {
	if group == "" {
		return nil, fmt.Errorf("rustmq: a consumer group needs a name: %w", ErrInvalidRequest)
	}
	cfg.defaults()
	pc, err := c.CreatePartitionConsumer(ctx, topic, cfg.Consumer)
	if err != nil {
		return nil, err
	}
	g := &GroupConsumer{
		c: c, topic: topic, group: group, cfg: cfg, pc: pc,
		delivered: map[int32]int64{}, committed: map[int32]int64{},
		stopHB: make(chan struct{}), hbDone: make(chan struct{}),
	}
	g.rejoin.Store(true)
	if err := g.join(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// coordinator is the connection to the group's coordinator.
func (g *GroupConsumer) coordinator(ctx context.Context) (*Conn, error) {
	g.mu.Lock()
	conn := g.coord
	g.mu.Unlock()
	if conn != nil {
		return conn, nil
	}
	var resp pb.FindCoordinatorResponse
	if err := g.c.any(ctx, APIFindCoordinator, &pb.FindCoordinatorRequest{GroupId: g.group}, &resp); err != nil {
		return nil, err
	}
	if err := codeError(resp.GetErrorCode(), resp.GetErrorMessage()); err != nil {
		return nil, err
	}
	conn, err := g.c.connection(ctx, net.JoinHostPort(resp.GetHost(), strconv.Itoa(int(resp.GetPort()))))
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.coord = conn
	g.mu.Unlock()
	return conn, nil
}

// request sends a group request to the coordinator; a lost connection or NOT_COORDINATOR
// makes the next call look the coordinator up again.
func (g *GroupConsumer) request(ctx context.Context, api APIKey, req, resp proto.Message) error {
	conn, err := g.coordinator(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, g.c.cfg.RequestTimeout+g.cfg.RebalanceTimeout)
	defer cancel()
	if err := conn.Request(rctx, api, req, resp); err != nil {
		var se *ServerError
		if !errors.As(err, &se) && ctx.Err() == nil {
			g.forgetCoordinator(conn)
		}
		return err
	}
	return nil
}

func (g *GroupConsumer) forgetCoordinator(conn *Conn) {
	g.mu.Lock()
	if g.coord == conn {
		g.coord = nil
	}
	g.mu.Unlock()
}

// groupError turns a group answer's code into an error, noting what it means for the
// membership.
func (g *GroupConsumer) groupError(code pb.ErrorCode, msg string) error {
	switch code {
	case pb.ErrorCode_NONE:
		return nil
	case pb.ErrorCode_NOT_COORDINATOR:
		g.mu.Lock()
		g.coord = nil
		g.mu.Unlock()
	case pb.ErrorCode_UNKNOWN_MEMBER_ID:
		g.mu.Lock()
		g.memberID = ""
		g.mu.Unlock()
		g.rejoin.Store(true)
	case pb.ErrorCode_ILLEGAL_GENERATION, pb.ErrorCode_REBALANCE_IN_PROGRESS:
		g.rejoin.Store(true)
	}
	return &ServerError{Code: code, Message: msg}
}

// join commits what was delivered, joins, syncs and takes over the new assignment from the
// committed offsets, retrying what may succeed later.
func (g *GroupConsumer) join(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for {
		err := g.joinOnce(ctx)
		if err == nil {
			g.hbStart.Do(func() { go g.heartbeat() })
			return nil
		}
		var se *ServerError
		if errors.As(err, &se) && !se.Retriable() && se.Code != pb.ErrorCode_UNKNOWN_MEMBER_ID &&
			se.Code != pb.ErrorCode_ILLEGAL_GENERATION {
			return err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func (g *GroupConsumer) joinOnce(ctx context.Context) error {
	g.mu.Lock()
	wasJoined := g.joined
	g.mu.Unlock()
	if wasJoined {
		// What was delivered under the old assignment is committed before it changes.
		_ = g.Commit(ctx)
	}
	owned := g.pc.Assignment()
	ownedU := make([]uint32, len(owned))
	for i, p := range owned {
		ownedU[i] = uint32(p)
	}
	g.mu.Lock()
	member := g.memberID
	g.mu.Unlock()
	var jr pb.JoinGroupResponse
	err := g.request(ctx, APIJoinGroup, &pb.JoinGroupRequest{
		GroupId: g.group, MemberId: member, GroupInstanceId: g.cfg.GroupInstanceID,
		SessionTimeoutMs:   uint32(g.cfg.SessionTimeout.Milliseconds()),
		RebalanceTimeoutMs: uint32(g.cfg.RebalanceTimeout.Milliseconds()),
		Topics:             []string{g.topic}, Assignor: g.cfg.Assignor,
		Owned: []*pb.TopicPartitions{{Topic: g.topic, Partitions: ownedU}},
	}, &jr)
	if err != nil {
		return err
	}
	if err := g.groupError(jr.GetErrorCode(), jr.GetErrorMessage()); err != nil {
		return err
	}
	g.mu.Lock()
	g.memberID, g.generation = jr.GetMemberId(), jr.GetGenerationId()
	g.mu.Unlock()
	var sr pb.SyncGroupResponse
	if err := g.request(ctx, APISyncGroup, &pb.SyncGroupRequest{GroupId: g.group, MemberId: jr.GetMemberId(), GenerationId: jr.GetGenerationId()}, &sr); err != nil {
		return err
	}
	if err := g.groupError(sr.GetErrorCode(), sr.GetErrorMessage()); err != nil {
		return err
	}
	var assigned []int32
	for _, tp := range sr.GetAssignment() {
		if tp.GetTopic() != g.topic {
			continue
		}
		for _, p := range tp.GetPartitions() {
			assigned = append(assigned, int32(p))
		}
	}
	starts, err := g.committedOffsets(ctx, assigned)
	if err != nil {
		return err
	}
	if err := g.pc.assignAt(ctx, assigned, starts); err != nil {
		return err
	}
	g.mu.Lock()
	kept := map[int32]int64{}
	for _, p := range assigned {
		if off, ok := starts[p]; ok {
			kept[p] = off
		}
	}
	g.delivered, g.committed = map[int32]int64{}, kept
	g.joined = true
	g.mu.Unlock()
	g.rejoin.Store(false)
	return nil
}

// committedOffsets is the group's committed offset of each partition that has one.
func (g *GroupConsumer) committedOffsets(ctx context.Context, partitions []int32) (map[int32]int64, error) {
	out := map[int32]int64{}
	if len(partitions) == 0 {
		return out, nil
	}
	ps := make([]uint32, len(partitions))
	for i, p := range partitions {
		ps[i] = uint32(p)
	}
	var resp pb.OffsetFetchResponse
	if err := g.c.any(ctx, APIOffsetFetch, &pb.OffsetFetchRequest{GroupId: g.group, Partitions: []*pb.TopicPartitions{{Topic: g.topic, Partitions: ps}}}, &resp); err != nil {
		return nil, err
	}
	if c := resp.GetErrorCode(); c != pb.ErrorCode_NONE && c != pb.ErrorCode_UNKNOWN_GROUP {
		return nil, codeError(c, "offset fetch "+g.group)
	}
	for _, o := range resp.GetOffsets() {
		if o.GetTopic() == g.topic && o.GetErrorCode() == pb.ErrorCode_NONE && o.GetOffset() >= 0 {
			out[int32(o.GetPartition())] = o.GetOffset()
		}
	}
	return out, nil
}

// heartbeat keeps the membership alive and notes when the coordinator wants a rejoin.
func (g *GroupConsumer) heartbeat() {
	defer close(g.hbDone)
	t := time.NewTicker(g.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stopHB:
			return
		case <-t.C:
		}
		if g.rejoin.Load() {
			continue
		}
		g.mu.Lock()
		member, gen := g.memberID, g.generation
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.HeartbeatInterval)
		var resp pb.HeartbeatResponse
		if err := g.request(ctx, APIHeartbeat, &pb.HeartbeatRequest{GroupId: g.group, MemberId: member, GenerationId: gen}, &resp); err == nil {
			_ = g.groupError(resp.GetErrorCode(), resp.GetErrorMessage())
		}
		cancel()
	}
}

// Receive returns the next message of the member's partitions, rejoining and committing
// as needed, until ctx ends. What it returned is committed by the next (auto-)commit.
func (g *GroupConsumer) Receive(ctx context.Context) (*ConsumedMessage, error) {
	for {
		g.mu.Lock()
		closed := g.closed
		g.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if g.rejoin.Load() {
			if err := g.join(ctx); err != nil {
				return nil, err
			}
		}
		if !g.cfg.DisableAutoCommit {
			g.mu.Lock()
			due := time.Since(g.lastCommit) >= g.cfg.AutoCommitInterval
			g.mu.Unlock()
			if due {
				// A failed auto-commit is retried at the next one (or at the rejoin).
				_ = g.Commit(ctx)
			}
		}
		m, err := g.pc.next(ctx)
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		g.mu.Lock()
		g.delivered[m.Partition] = m.Offset + 1
		g.mu.Unlock()
		return m, nil
	}
}

// Commit commits, for each assigned partition, the offset after the last message Receive
// returned.
func (g *GroupConsumer) Commit(ctx context.Context) error {
	g.mu.Lock()
	g.lastCommit = time.Now()
	var parts []*pb.OffsetCommitPartition
	for p, off := range g.delivered {
		if g.committed[p] != off {
			parts = append(parts, &pb.OffsetCommitPartition{Partition: uint32(p), Offset: off})
		}
	}
	member, gen := g.memberID, g.generation
	g.mu.Unlock()
	if len(parts) == 0 {
		return nil
	}
	var resp pb.OffsetCommitResponse
	if err := g.request(ctx, APIOffsetCommit, &pb.OffsetCommitRequest{GroupId: g.group, MemberId: member, GenerationId: gen, Topics: []*pb.OffsetCommitTopic{{Topic: g.topic, Partitions: parts}}}, &resp); err != nil {
		return err
	}
	if err := g.groupError(resp.GetErrorCode(), resp.GetErrorMessage()); err != nil {
		return err
	}
	var errs []error
	g.mu.Lock()
	for _, r := range resp.GetPartitions() {
		if err := codeError(r.GetErrorCode(), r.GetErrorMessage()); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range parts {
			if p.GetPartition() == r.GetPartition() {
				g.committed[int32(p.GetPartition())] = p.GetOffset()
			}
		}
	}
	g.mu.Unlock()
	return errors.Join(errs...)
}

// Stream delivers the member's messages on a channel (Receive in a goroutine; what it
// delivered is committed as Receive's messages are).
func (g *GroupConsumer) Stream(ctx context.Context) *MessageStream {
	return newStream(ctx, g.Receive)
}

// Assignment is the member's partitions in this generation.
func (g *GroupConsumer) Assignment() []int32 { return g.pc.Assignment() }

// Generation is the group generation the member is in, and its member id.
func (g *GroupConsumer) Generation() (int32, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.generation, g.memberID
}

// Lag is, per assigned partition, how far the high watermark is ahead of the position.
func (g *GroupConsumer) Lag() map[int32]int64 { return g.pc.Lag() }

// Pause and Resume stop and restart fetching partitions (their assignment stays).
func (g *GroupConsumer) Pause(partitions ...int32)  { g.pc.Pause(partitions...) }
func (g *GroupConsumer) Resume(partitions ...int32) { g.pc.Resume(partitions...) }

// Close commits what was delivered, leaves the group (its partitions move to the other
// members at once) and stops.
func (g *GroupConsumer) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	member := g.memberID
	g.mu.Unlock()
	close(g.stopHB)
	ctx, cancel := context.WithTimeout(context.Background(), g.c.cfg.RequestTimeout)
	defer cancel()
	err := g.Commit(ctx)
	var resp pb.LeaveGroupResponse
	leave := &pb.LeaveGroupRequest{GroupId: g.group, MemberId: member}
	lerr := g.request(ctx, APILeaveGroup, leave, &resp)
	var se *ServerError
	if lerr != nil && !errors.As(lerr, &se) {
		// Once more, through a coordinator looked up again.
		lerr = g.request(ctx, APILeaveGroup, leave, &resp)
	}
	if lerr != nil {
		err = errors.Join(err, lerr)
	} else {
		err = errors.Join(err, codeError(resp.GetErrorCode(), resp.GetErrorMessage()))
	}
	g.hbStart.Do(func() { close(g.hbDone) })
	<-g.hbDone
	return errors.Join(err, g.pc.Close())
}
