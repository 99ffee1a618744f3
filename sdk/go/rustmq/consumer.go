package rustmq

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rustmq/rustmq/sdk/go/rustmq/pb"
)

// StartKind is where a consumer starts in a partition it has no position in.
type StartKind int

const (
	// StartEarliest: the oldest retained message (the default, as the Rust client).
	StartEarliest StartKind = iota
	// StartLatest: only messages produced from now on.
	StartLatest
	// StartTimestamp: the first message at or after StartPosition.Timestamp.
	StartTimestamp
)

// StartPosition says where a consumer starts.
type StartPosition struct {
	Type      StartKind
	Timestamp time.Time
}

// ConsumerConfig configures a consumer; zero values take the defaults.
type ConsumerConfig struct {
	StartPosition StartPosition
	// FetchMaxWait is the long poll of one fetch (default 500 ms).
	FetchMaxWait time.Duration
	// FetchMinBytes a fetch waits for (default 1).
	FetchMinBytes uint32
	// FetchMaxBytes of one fetch answer (default 16 MiB); PartitionMaxBytes of one
	// partition's records in it (default 4 MiB).
	FetchMaxBytes     uint32
	PartitionMaxBytes uint32
}

func (c *ConsumerConfig) defaults() {
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = 500 * time.Millisecond
	}
	if c.FetchMinBytes == 0 {
		c.FetchMinBytes = 1
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = 16 << 20
	}
	if c.PartitionMaxBytes == 0 {
		c.PartitionMaxBytes = 4 << 20
	}
}

// ConsumedMessage is one message read from a partition.
type ConsumedMessage struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	// Payload is nil for a tombstone.
	Payload   []byte
	Headers   []Header
	Timestamp time.Time
}

// Header returns a header's value.
func (m *ConsumedMessage) Header(key string) ([]byte, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// PayloadAsString is the payload as a string.
func (m *ConsumedMessage) PayloadAsString() string { return string(m.Payload) }

// PartitionConsumer reads the partitions assigned to it, from positions it keeps (no
// consumer group). Not safe for concurrent Poll calls; the other methods may be called
// from any goroutine.
type PartitionConsumer struct {
	c     *Client
	topic string
	cfg   ConsumerConfig

	mu        sync.Mutex
	positions map[int32]int64
	paused    map[int32]bool
	watermark map[int32]int64
	buffered  []*ConsumedMessage
	closed    bool
}

// CreatePartitionConsumer starts a consumer of topic with no partitions assigned.
//
//	cons, err := client.CreatePartitionConsumer(ctx, "events", rustmq.ConsumerConfig{})
//	err = cons.Assign(ctx, 0, 1)
//	msg, err := cons.Receive(ctx)
func (c *Client) CreatePartitionConsumer(ctx context.Context, topic string, cfg ConsumerConfig) (*PartitionConsumer, error) {
	cfg.defaults()
	if _, err := c.refreshTopic(ctx, topic); err != nil {
		return nil, err
	}
	return &PartitionConsumer{
		c: c, topic: topic, cfg: cfg,
		positions: map[int32]int64{}, paused: map[int32]bool{}, watermark: map[int32]int64{},
	}, nil
}

// Assign replaces the assigned partitions; new ones start at the configured position.
func (pc *PartitionConsumer) Assign(ctx context.Context, partitions ...int32) error {
	t, err := pc.c.topic(ctx, pc.topic)
	if err != nil {
		return err
	}
	keep := map[int32]int64{}
	pc.mu.Lock()
	for _, p := range partitions {
		if p < 0 || p >= t.partitions {
			pc.mu.Unlock()
			return fmt.Errorf("rustmq: partition %d of %s (%d partitions): %w", p, pc.topic, t.partitions, ErrUnknownPartition)
		}
		if pos, ok := pc.positions[p]; ok {
			keep[p] = pos
		}
	}
	pc.mu.Unlock()
	for _, p := range partitions {
		if _, ok := keep[p]; ok {
			continue
		}
		pos, err := pc.startOffset(ctx, p)
		if err != nil {
			return err
		}
		keep[p] = pos
	}
	pc.mu.Lock()
	pc.positions = keep
	pc.buffered = nil
	pc.mu.Unlock()
	return nil
}

// Assignment is the assigned partitions, sorted.
func (pc *PartitionConsumer) Assignment() []int32 {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	out := make([]int32, 0, len(pc.positions))
	for p := range pc.positions {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (pc *PartitionConsumer) startOffset(ctx context.Context, p int32) (int64, error) {
	switch pc.cfg.StartPosition.Type {
	case StartLatest:
		return pc.listOffset(ctx, p, -1)
	case StartTimestamp:
		return pc.listOffset(ctx, p, pc.cfg.StartPosition.Timestamp.UnixMilli())
	default:
		return pc.listOffset(ctx, p, -2)
	}
}

// listOffset asks the leader: -2 earliest, -1 latest, else the first offset at or after a
// timestamp in ms.
func (pc *PartitionConsumer) listOffset(ctx context.Context, p int32, at int64) (int64, error) {
	conn, err := pc.c.leader(ctx, pc.topic, p)
	if err != nil {
		return 0, err
	}
	req := &pb.ListOffsetsRequest{Topics: []*pb.ListOffsetsTopic{{Topic: pc.topic, Partitions: []*pb.ListOffsetsPartition{{Partition: uint32(p), Timestamp: at}}}}}
	var resp pb.ListOffsetsResponse
	rctx, cancel := context.WithTimeout(ctx, pc.c.cfg.RequestTimeout)
	defer cancel()
	if err := conn.Request(rctx, APIListOffsets, req, &resp); err != nil {
		return 0, err
	}
	for _, t := range resp.GetTopics() {
		for _, r := range t.GetPartitions() {
			if int32(r.GetPartition()) == p {
				return r.GetOffset(), codeError(r.GetErrorCode(), fmt.Sprintf("list offsets %s/%d", pc.topic, p))
			}
		}
	}
	return 0, &FrameError{fmt.Sprintf("partition %d missing from the list-offsets answer", p)}
}

// Seek moves an assigned partition's position.
func (pc *PartitionConsumer) Seek(p int32, offset int64) error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if _, ok := pc.positions[p]; !ok {
		return fmt.Errorf("rustmq: partition %d is not assigned: %w", p, ErrUnknownPartition)
	}
	pc.positions[p] = offset
	pc.dropBuffered(p)
	return nil
}

// SeekToTimestamp moves p to its first message at or after t.
func (pc *PartitionConsumer) SeekToTimestamp(ctx context.Context, p int32, t time.Time) error {
	off, err := pc.listOffset(ctx, p, t.UnixMilli())
	if err != nil {
		return err
	}
	return pc.Seek(p, off)
}

func (pc *PartitionConsumer) dropBuffered(p int32) {
	kept := pc.buffered[:0]
	for _, m := range pc.buffered {
		if m.Partition != p {
			kept = append(kept, m)
		}
	}
	pc.buffered = kept
}

// Position is the next offset p is read from.
func (pc *PartitionConsumer) Position(p int32) (int64, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pos, ok := pc.positions[p]
	return pos, ok
}

// Pause stops fetching the partitions (their buffered messages are dropped) until Resume.
func (pc *PartitionConsumer) Pause(partitions ...int32) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, p := range partitions {
		pc.paused[p] = true
		pc.dropBuffered(p)
	}
}

// Resume fetches the partitions again.
func (pc *PartitionConsumer) Resume(partitions ...int32) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, p := range partitions {
		delete(pc.paused, p)
	}
}

// Lag is, per assigned partition, how many messages the partition's high watermark (as of
// the last fetch) is ahead of the position.
func (pc *PartitionConsumer) Lag() map[int32]int64 {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	out := map[int32]int64{}
	for p, pos := range pc.positions {
		if hw, ok := pc.watermark[p]; ok {
			out[p] = max(hw-pos, 0)
		}
	}
	return out
}

// Receive returns the next message, fetching as needed, until ctx ends.
func (pc *PartitionConsumer) Receive(ctx context.Context) (*ConsumedMessage, error) {
	for {
		m, err := pc.next(ctx)
		if err != nil || m != nil {
			return m, err
		}
	}
}

// next is a buffered message, or the first of one poll's (nil when it brought none).
func (pc *PartitionConsumer) next(ctx context.Context) (*ConsumedMessage, error) {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return nil, ErrClosed
	}
	if len(pc.buffered) > 0 {
		m := pc.buffered[0]
		pc.buffered = pc.buffered[1:]
		pc.mu.Unlock()
		return m, nil
	}
	pc.mu.Unlock()
	msgs, err := pc.Poll(ctx)
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.buffered = append(pc.buffered, msgs[1:]...)
	return msgs[0], nil
}

// assignAt replaces the assignment: each partition at its offset in `at`, or where the
// configuration starts.
func (pc *PartitionConsumer) assignAt(ctx context.Context, partitions []int32, at map[int32]int64) error {
	positions := map[int32]int64{}
	for _, p := range partitions {
		if off, ok := at[p]; ok {
			positions[p] = off
			continue
		}
		off, err := pc.startOffset(ctx, p)
		if err != nil {
			return err
		}
		positions[p] = off
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.positions = positions
	pc.buffered = nil
	for p := range pc.paused {
		if _, ok := positions[p]; !ok {
			delete(pc.paused, p)
		}
	}
	return nil
}

// Poll fetches once from every assigned, unpaused partition's leader (long-polling up to
// FetchMaxWait) and returns what arrived, in offset order per partition.
func (pc *PartitionConsumer) Poll(ctx context.Context) ([]*ConsumedMessage, error) {
	byLeader := map[*Conn][]*pb.FetchPartition{}
	pc.mu.Lock()
	parts := make(map[int32]int64, len(pc.positions))
	for p, pos := range pc.positions {
		if !pc.paused[p] {
			parts[p] = pos
		}
	}
	pc.mu.Unlock()
	if len(parts) == 0 {
		select {
		case <-time.After(pc.cfg.FetchMaxWait):
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for p, pos := range parts {
		conn, err := pc.c.leader(ctx, pc.topic, p)
		if err != nil {
			return nil, err
		}
		byLeader[conn] = append(byLeader[conn], &pb.FetchPartition{Partition: uint32(p), FetchOffset: pos, PartitionMaxBytes: pc.cfg.PartitionMaxBytes})
	}
	type answer struct {
		conn *Conn
		resp *pb.FetchResponse
		err  error
	}
	answers := make(chan answer, len(byLeader))
	for conn, fps := range byLeader {
		go func() {
			req := &pb.FetchRequest{
				MaxWaitMs: uint32(pc.cfg.FetchMaxWait.Milliseconds()), MinBytes: pc.cfg.FetchMinBytes,
				MaxBytes: pc.cfg.FetchMaxBytes, Topics: []*pb.FetchTopic{{Topic: pc.topic, Partitions: fps}},
			}
			rctx, cancel := context.WithTimeout(ctx, pc.c.cfg.RequestTimeout+pc.cfg.FetchMaxWait)
			defer cancel()
			var resp pb.FetchResponse
			err := conn.Request(rctx, APIFetch, req, &resp)
			answers <- answer{conn, &resp, err}
		}()
	}
	var out []*ConsumedMessage
	var errs []error
	refresh := false
	for range byLeader {
		a := <-answers
		if a.err != nil {
			var se *ServerError
			if !errors.As(a.err, &se) && ctx.Err() == nil {
				// Not our deadline: the connection may be broken; dial again next time.
				pc.c.drop(a.conn.Addr(), a.conn)
				refresh = true
			}
			errs = append(errs, a.err)
			continue
		}
		msgs, moved, err := pc.take(a.resp, parts)
		out = append(out, msgs...)
		refresh = refresh || moved
		if err != nil {
			errs = append(errs, err)
		}
	}
	if refresh {
		_, _ = pc.c.refreshTopic(ctx, pc.topic)
	}
	if len(out) > 0 {
		// Messages that did arrive are not lost to another partition's failure.
		return out, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	err := errors.Join(errs...)
	var se *ServerError
	if errors.Is(err, ErrBatch) || (errors.As(err, &se) && !se.Retriable()) {
		// Undecodable records or a refusal: retrying would read the same.
		return nil, err
	}
	// Retriable failures (a leader moved, a connection dropped): the next poll retries.
	return nil, nil
}

// take decodes one fetch answer and advances the positions it covers (unless a seek moved
// them meanwhile); reports whether a leader moved.
func (pc *PartitionConsumer) take(resp *pb.FetchResponse, asked map[int32]int64) ([]*ConsumedMessage, bool, error) {
	var out []*ConsumedMessage
	moved := false
	var errs []error
	for _, t := range resp.GetTopics() {
		for _, fp := range t.GetPartitions() {
			p := int32(fp.GetPartition())
			from, ok := asked[p]
			if !ok {
				continue
			}
			switch fp.GetErrorCode() {
			case pb.ErrorCode_NONE:
			case pb.ErrorCode_NOT_LEADER, pb.ErrorCode_UNKNOWN_PARTITION:
				moved = true
				continue
			case pb.ErrorCode_OFFSET_OUT_OF_RANGE:
				errs = append(errs, pc.reset(p, from))
				continue
			default:
				errs = append(errs, codeError(fp.GetErrorCode(), fmt.Sprintf("fetch %s/%d", pc.topic, p)))
				continue
			}
			records, err := DecodeBatches(fp.GetRecords())
			if err != nil {
				errs = append(errs, err)
			}
			next := from
			var msgs []*ConsumedMessage
			for _, r := range records {
				// A batch may start below the fetch offset.
				if r.Offset < from {
					continue
				}
				msgs = append(msgs, &ConsumedMessage{Topic: pc.topic, Partition: p, Offset: r.Offset, Key: r.Key, Payload: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
				next = r.Offset + 1
			}
			pc.mu.Lock()
			pc.watermark[p] = fp.GetHighWatermark()
			if pos, ok := pc.positions[p]; ok && pos == from && !pc.paused[p] {
				pc.positions[p] = next
				out = append(out, msgs...)
			}
			pc.mu.Unlock()
		}
	}
	return out, moved, errors.Join(errs...)
}

// reset moves a partition whose position is outside the log to the configured start.
func (pc *PartitionConsumer) reset(p int32, from int64) error {
	pos, err := pc.startOffset(context.Background(), p)
	if err != nil {
		return err
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if cur, ok := pc.positions[p]; ok && cur == from {
		pc.positions[p] = pos
	}
	return nil
}

// Close stops the consumer.
func (pc *PartitionConsumer) Close() error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.closed = true
	return nil
}

// MessageStream delivers a consumer's messages on a channel (the seed's streaming).
type MessageStream struct {
	// C carries the messages; it is closed when the stream ends.
	C    <-chan *ConsumedMessage
	mu   sync.Mutex
	err  error
	stop context.CancelFunc
}

// Stream receives in a goroutine until ctx ends, Stop is called or a non-retriable error.
func (pc *PartitionConsumer) Stream(ctx context.Context) *MessageStream {
	return newStream(ctx, pc.Receive)
}

func newStream(ctx context.Context, receive func(context.Context) (*ConsumedMessage, error)) *MessageStream {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan *ConsumedMessage, 256)
	s := &MessageStream{C: ch, stop: cancel}
	go func() {
		defer close(ch)
		for {
			m, err := receive(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.mu.Lock()
					s.err = err
					s.mu.Unlock()
				}
				return
			}
			select {
			case ch <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

// Stop ends the stream.
func (s *MessageStream) Stop() { s.stop() }

// Err is why the stream ended (nil when stopped or its context ended).
func (s *MessageStream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
