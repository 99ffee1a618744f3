package rustmq

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/rustmq/rustmq/sdk/go/rustmq/pb"
)

// AckLevel is when a produce counts as done.
type AckLevel int

const (
	// AckLeader: the partition leader has the batch durably in its WAL (the default).
	AckLeader AckLevel = iota
	// AckNone: nobody confirms; the broker answers once the batch is queued.
	AckNone
	// AckAll: every in-sync replica has it, and the ISR had min.insync.replicas members.
	AckAll
)

// ProducerConfig configures a Producer; zero values take the defaults.
type ProducerConfig struct {
	// BatchSize is the most messages in one partition's batch (default 10000).
	BatchSize int
	// BatchBytes is the most bytes in one partition's batch (default 1 MiB).
	BatchBytes int
	// BatchTimeout is how long a batch waits for more messages (linger; default 5 ms).
	BatchTimeout time.Duration
	AckLevel     AckLevel
	Compression  Compression
	// Idempotent: the broker gives the producer an id, batches carry sequence numbers, and
	// a retried batch is never written twice.
	Idempotent bool
	// MaxMessageSize refuses bigger messages before sending (default 1 MiB).
	MaxMessageSize int
	// MaxRetries of a batch after retriable failures (default 10), with exponential
	// backoff from RetryBaseDelay (50 ms) to RetryMaxDelay (1 s) and jitter.
	MaxRetries     int
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// MaxPending is the most messages queued or in flight; SendAsync waits beyond it
	// (default 100000).
	MaxPending int
}

func (c *ProducerConfig) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 10_000
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 1 << 20
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 5 * time.Millisecond
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 1 << 20
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 10
	}
	if c.RetryBaseDelay <= 0 {
		c.RetryBaseDelay = 50 * time.Millisecond
	}
	if c.RetryMaxDelay <= 0 {
		c.RetryMaxDelay = time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 100_000
	}
}

// ProducerMetrics counts what a producer did.
type ProducerMetrics struct {
	MessagesSent, MessagesFailed, BatchesSent, BytesSent, Retries uint64
}

type pendingMsg struct {
	rec  Record
	size int
	done func(*SendResult, error)
	// The span the message was sent in (an OpenTelemetry span context of SendAsync's ctx).
	span trace.SpanContext
}

type partBatch struct {
	msgs  []pendingMsg
	bytes int
	first time.Time
}

// Producer sends messages to one topic in per-partition batches. Safe for concurrent use.
type Producer struct {
	c          *Client
	topic      string
	cfg        ProducerConfig
	partitions int32
	slots      chan struct{}
	wake       chan struct{}
	stop       chan struct{}
	stopped    chan struct{}

	mu       sync.Mutex
	batches  map[int32][]*partBatch
	inflight map[int32]bool
	pending  int
	flushing int
	waiters  []chan struct{}
	sticky   int32
	closed   bool
	pid      int64
	epoch    int16
	seq      map[int32]int32

	sent, failed, batchesSent, bytesSent, retries atomic.Uint64
}

// CreateProducer starts a producer for topic (which must exist).
//
//	p, err := client.CreateProducer(ctx, "events", rustmq.ProducerConfig{AckLevel: rustmq.AckAll, Idempotent: true})
//	res, err := p.Send(ctx, rustmq.NewMessage().Topic("events").PayloadString("hi").Build())
func (c *Client) CreateProducer(ctx context.Context, topic string, cfg ProducerConfig) (*Producer, error) {
	cfg.defaults()
	t, err := c.refreshTopic(ctx, topic)
	if err != nil {
		return nil, err
	}
	if t.partitions == 0 {
		return nil, fmt.Errorf("rustmq: topic %s has no partitions: %w", topic, ErrUnknownTopic)
	}
	p := &Producer{
		c: c, topic: topic, cfg: cfg, partitions: t.partitions,
		slots: make(chan struct{}, cfg.MaxPending), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{}),
		batches: map[int32][]*partBatch{}, inflight: map[int32]bool{}, seq: map[int32]int32{},
		sticky: rand.Int32N(t.partitions), pid: -1, epoch: -1,
	}
	if cfg.Idempotent {
		if err := p.initProducerID(ctx); err != nil {
			return nil, err
		}
	}
	go p.run()
	return p, nil
}

func (p *Producer) initProducerID(ctx context.Context) error {
	var resp pb.InitProducerIdResponse
	if err := p.c.any(ctx, APIInitProducerID, &pb.InitProducerIdRequest{}, &resp); err != nil {
		return err
	}
	if err := codeError(resp.GetErrorCode(), resp.GetErrorMessage()); err != nil {
		return err
	}
	p.mu.Lock()
	p.pid, p.epoch = resp.GetProducerId(), int16(resp.GetProducerEpoch())
	p.seq = map[int32]int32{}
	p.mu.Unlock()
	return nil
}

// Send sends msg and waits for its acknowledgement.
func (p *Producer) Send(ctx context.Context, msg *Message) (*SendResult, error) {
	type outcome struct {
		r   *SendResult
		err error
	}
	ch := make(chan outcome, 1)
	if err := p.SendAsync(ctx, msg, func(r *SendResult, err error) { ch <- outcome{r, err} }); err != nil {
		return nil, err
	}
	select {
	case o := <-ch:
		return o.r, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SendBatch sends every message and waits for all; the results are in the messages'
// order, and the error is the first failure.
func (p *Producer) SendBatch(ctx context.Context, msgs []*Message) ([]*SendResult, error) {
	results := make([]*SendResult, len(msgs))
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Add(1)
		if err := p.SendAsync(ctx, m, func(r *SendResult, err error) {
			results[i], errs[i] = r, err
			wg.Done()
		}); err != nil {
			wg.Done()
			errs[i] = err
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return results, ctx.Err()
	}
	return results, errors.Join(errs...)
}

// SendAsync queues msg; done is called once, from another goroutine, when it is
// acknowledged or has failed. It waits only while MaxPending messages are outstanding.
func (p *Producer) SendAsync(ctx context.Context, msg *Message, done func(*SendResult, error)) error {
	if msg.Topic != "" && msg.Topic != p.topic {
		return fmt.Errorf("rustmq: message for topic %q on a producer of %q: %w", msg.Topic, p.topic, ErrInvalidRequest)
	}
	size := msg.size()
	if size > p.cfg.MaxMessageSize {
		return fmt.Errorf("rustmq: message of %d bytes, the limit is %d: %w", size, p.cfg.MaxMessageSize, ErrMessageTooLarge)
	}
	if msg.HasPartition && (msg.Partition < 0 || msg.Partition >= p.partitions) {
		return fmt.Errorf("rustmq: partition %d of %s (%d partitions): %w", msg.Partition, p.topic, p.partitions, ErrUnknownPartition)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	ts := msg.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	pm := pendingMsg{rec: Record{Key: msg.Key, Value: msg.Payload, Headers: msg.Headers, Timestamp: ts}, size: size, done: done, span: trace.SpanContextFromContext(ctx)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return ErrClosed
	}
	part := p.sticky
	switch {
	case msg.HasPartition:
		part = msg.Partition
	case msg.Key != nil:
		part = PartitionForKey(msg.Key, p.partitions)
	}
	// The partition's queue: full batches wait behind the one in flight, the last one fills.
	queue := p.batches[part]
	if len(queue) == 0 || p.full(queue[len(queue)-1], size) {
		queue = append(queue, &partBatch{first: time.Now()})
		p.batches[part] = queue
	}
	b := queue[len(queue)-1]
	b.msgs = append(b.msgs, pm)
	b.bytes += size
	p.pending++
	full := len(b.msgs) >= p.cfg.BatchSize || b.bytes >= p.cfg.BatchBytes
	p.mu.Unlock()
	if full {
		p.poke()
	}
	return nil
}

// full says whether b can take no message of size more (a batch holds at least one).
func (p *Producer) full(b *partBatch, size int) bool {
	return len(b.msgs) > 0 && (len(b.msgs) >= p.cfg.BatchSize || b.bytes+size > p.cfg.BatchBytes)
}

func (p *Producer) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Flush sends every queued message now and waits until all are acknowledged or failed.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	if p.pending == 0 {
		p.mu.Unlock()
		return nil
	}
	p.flushing++
	ch := make(chan struct{})
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.flushing--
		p.mu.Unlock()
	}()
	p.poke()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close flushes and stops the producer; later sends fail with ErrClosed.
func (p *Producer) Close() error {
	err := p.Flush(context.Background())
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if !already {
		close(p.stop)
		<-p.stopped
	}
	return err
}

// Metrics is a snapshot of the producer's counters.
func (p *Producer) Metrics() ProducerMetrics {
	return ProducerMetrics{
		MessagesSent: p.sent.Load(), MessagesFailed: p.failed.Load(), BatchesSent: p.batchesSent.Load(),
		BytesSent: p.bytesSent.Load(), Retries: p.retries.Load(),
	}
}

// run sends batches when they are full, have waited BatchTimeout, or a flush asks.
func (p *Producer) run() {
	defer close(p.stopped)
	timer := time.NewTimer(p.cfg.BatchTimeout)
	defer timer.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
		case <-timer.C:
		}
		next := p.dispatch()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// dispatch starts every ready batch whose partition has none in flight (one batch per
// partition at a time keeps them in order); returns when to look again.
func (p *Producer) dispatch() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	next := p.cfg.BatchTimeout
	for part, queue := range p.batches {
		if p.inflight[part] || len(queue) == 0 {
			continue
		}
		b := queue[0]
		age := now.Sub(b.first)
		ready := p.flushing > 0 || len(queue) > 1 || len(b.msgs) >= p.cfg.BatchSize || b.bytes >= p.cfg.BatchBytes || age >= p.cfg.BatchTimeout
		if !ready {
			next = min(next, p.cfg.BatchTimeout-age)
			continue
		}
		if len(queue) == 1 {
			delete(p.batches, part)
		} else {
			p.batches[part] = queue[1:]
		}
		p.inflight[part] = true
		if part == p.sticky {
			p.sticky = (p.sticky + 1) % p.partitions
		}
		go p.send(part, b)
	}
	return max(next, time.Millisecond)
}

// send produces one partition's batch, retrying what may succeed later.
func (p *Producer) send(part int32, b *partBatch) {
	ctx := context.Background()
	// The request carries the span of the first message sent in one.
	for _, m := range b.msgs {
		if m.span.IsValid() {
			ctx = trace.ContextWithSpanContext(ctx, m.span)
			break
		}
	}
	res, err := p.produce(ctx, part, b)
	for i, m := range b.msgs {
		if err != nil {
			m.done(nil, err)
			continue
		}
		m.done(&SendResult{Topic: p.topic, Partition: part, Offset: res + int64(i), Timestamp: m.rec.Timestamp}, nil)
	}
	n := uint64(len(b.msgs))
	if err != nil {
		p.failed.Add(n)
	} else {
		p.sent.Add(n)
		p.batchesSent.Add(1)
		p.bytesSent.Add(uint64(b.bytes))
	}
	for range b.msgs {
		<-p.slots
	}
	p.mu.Lock()
	p.inflight[part] = false
	p.pending -= len(b.msgs)
	if p.pending == 0 {
		for _, w := range p.waiters {
			close(w)
		}
		p.waiters = nil
	}
	p.mu.Unlock()
	p.poke()
}

// produce returns the batch's base offset.
func (p *Producer) produce(ctx context.Context, part int32, b *partBatch) (int64, error) {
	if p.cfg.Idempotent {
		p.mu.Lock()
		lost := p.pid < 0
		p.mu.Unlock()
		if lost {
			if err := p.initProducerID(ctx); err != nil {
				return 0, err
			}
		}
	}
	records := make([]Record, len(b.msgs))
	for i, m := range b.msgs {
		records[i] = m.rec
	}
	opt := NotIdempotent
	opt.Compression = p.cfg.Compression
	p.mu.Lock()
	if p.cfg.Idempotent {
		opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence = p.pid, p.epoch, p.seq[part]
	}
	p.mu.Unlock()
	data, err := EncodeBatch(records, opt)
	if err != nil {
		return 0, err
	}
	acks := map[AckLevel]pb.Acks{AckLeader: pb.Acks_LEADER, AckNone: pb.Acks_NONE_ACK, AckAll: pb.Acks_ALL}[p.cfg.AckLevel]
	timeout := p.c.cfg.RequestTimeout
	req := &pb.ProduceRequest{
		Acks:      acks,
		TimeoutMs: uint32(timeout.Milliseconds()),
		Topics: []*pb.TopicProduceData{{Topic: p.topic, Partitions: []*pb.PartitionProduceData{
			{Partition: uint32(part), Records: data},
		}}},
	}
	delay := p.cfg.RetryBaseDelay
	for attempt := 0; ; attempt++ {
		base, err := p.produceOnce(ctx, part, req, timeout)
		if err == nil {
			if p.cfg.Idempotent {
				p.mu.Lock()
				// Sequences wrap from 2^31-1 to 0.
				p.seq[part] = int32((int64(p.seq[part]) + int64(len(records))) % (1 << 31))
				p.mu.Unlock()
			}
			return base, nil
		}
		var se *ServerError
		retriable := !errors.As(err, &se) || se.Retriable()
		if !retriable || attempt >= p.cfg.MaxRetries {
			if p.cfg.Idempotent {
				// The broker's sequence for this producer id may now be ahead or behind:
				// the next batch starts over with a new id.
				p.mu.Lock()
				p.pid = -1
				p.mu.Unlock()
			}
			return 0, err
		}
		p.retries.Add(1)
		_, _ = p.c.refreshTopic(ctx, p.topic)
		jitter := time.Duration(rand.Int64N(int64(delay)/2 + 1))
		time.Sleep(delay/2 + jitter)
		delay = min(delay*2, p.cfg.RetryMaxDelay)
	}
}

func (p *Producer) produceOnce(ctx context.Context, part int32, req *pb.ProduceRequest, timeout time.Duration) (int64, error) {
	conn, err := p.c.leader(ctx, p.topic, part)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	var resp pb.ProduceResponse
	if err := conn.Request(rctx, APIProduce, req, &resp); err != nil {
		var se *ServerError
		if !errors.As(err, &se) && ctx.Err() == nil {
			// The connection may be gone: dial again next time.
			p.c.drop(conn.Addr(), conn)
		}
		return 0, err
	}
	for _, t := range resp.GetTopics() {
		for _, pr := range t.GetPartitions() {
			if int32(pr.GetPartition()) != part {
				continue
			}
			if err := codeError(pr.GetErrorCode(), pr.GetErrorMessage()); err != nil {
				return 0, err
			}
			return pr.GetBaseOffset(), nil
		}
	}
	return 0, &FrameError{fmt.Sprintf("partition %d missing from the produce answer", part)}
}
