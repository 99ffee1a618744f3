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
	// MaxInFlightPerPartition is how many batches of one partition an idempotent producer
	// keeps in flight at once, 1 to 5 (default 5; Kafka's
	// max.in.flight.requests.per.connection). Their sequence numbers keep the partition in
	// order: the leader appends a batch that overtook an earlier one once the earlier one
	// arrives, and refuses duplicates of retries. Batches are pipelined only to the leader
	// that acknowledged the producer's last batch there. A producer that is not idempotent
	// keeps one, so that a retry cannot reorder a partition.
	MaxInFlightPerPartition int
}

// MaxInFlightPerPartition is the largest ProducerConfig.MaxInFlightPerPartition: partition
// leaders remember an idempotent producer's last five batches.
const MaxInFlightPerPartition = 5

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
	if c.MaxInFlightPerPartition <= 0 {
		c.MaxInFlightPerPartition = MaxInFlightPerPartition
	}
}

// ProducerMetrics counts what a producer did.
type ProducerMetrics struct {
	MessagesSent, MessagesFailed, BatchesSent, BytesSent, Retries uint64
	// PartitionInFlightPeak is the most batches of one partition that were in flight at once.
	PartitionInFlightPeak uint64
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

// flight is one batch on its way to the partition leader.
type flight struct {
	part int32
	b    *partBatch
	// The producer id, epoch and base sequence the batch was sent with, and the generation
	// of that id (a new id starts a new generation).
	pid   int64
	epoch int16
	seq   int32
	gen   uint64
	// The partition's batch dispatched just before this one, while it was in flight.
	prev *flight
	// Closed once the batch is acknowledged or has failed for good; ok says which.
	settled chan struct{}
	ok      bool
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
	inflight map[int32]int
	// By partition: batches waiting to go again (nothing new is sent behind them), the
	// leader that acknowledged this producer id's last batch, and the newest batch sent.
	retrying  map[int32]int
	confirmed map[int32]string
	last      map[int32]*flight
	pending   int
	flushing  int
	waiters   []chan struct{}
	sticky    int32
	closed    bool
	pid       int64
	epoch     int16
	gen       uint64
	seq       map[int32]int32
	// A goroutine is asking for a new producer id.
	fetchingID bool

	sent, failed, batchesSent, bytesSent, retries, peak atomic.Uint64
}

// CreateProducer starts a producer for topic (which must exist).
//
//	p, err := client.CreateProducer(ctx, "events", rustmq.ProducerConfig{AckLevel: rustmq.AckAll, Idempotent: true})
//	res, err := p.Send(ctx, rustmq.NewMessage().Topic("events").PayloadString("hi").Build())
func (c *Client) CreateProducer(ctx context.Context, topic string, cfg ProducerConfig) (*Producer, error) {
	cfg.defaults()
	if cfg.MaxInFlightPerPartition > MaxInFlightPerPartition {
		return nil, fmt.Errorf("rustmq: MaxInFlightPerPartition %d, at most %d (partition leaders remember an idempotent producer's last %d batches): %w",
			cfg.MaxInFlightPerPartition, MaxInFlightPerPartition, MaxInFlightPerPartition, ErrInvalidRequest)
	}
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
		batches: map[int32][]*partBatch{}, inflight: map[int32]int{}, seq: map[int32]int32{},
		retrying: map[int32]int{}, confirmed: map[int32]string{}, last: map[int32]*flight{},
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
	// Sequences start again at 0 under the new id, which no leader has acknowledged yet.
	p.pid, p.epoch = resp.GetProducerId(), int16(resp.GetProducerEpoch())
	p.gen++
	p.seq = map[int32]int32{}
	p.confirmed = map[int32]string{}
	p.mu.Unlock()
	return nil
}

// fetchID asks for a new producer id in the background (after a batch failed for good, the
// old id's sequences may have gaps), retrying for up to the request timeout; without one,
// every queued message fails. Called with p.mu held.
func (p *Producer) fetchID() {
	if p.fetchingID {
		return
	}
	p.fetchingID = true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), p.c.cfg.RequestTimeout)
		defer cancel()
		var err error
		for {
			err = p.initProducerID(ctx)
			var se *ServerError
			if err == nil || errors.As(err, &se) && !se.Retriable() {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(p.cfg.RetryBaseDelay):
				continue
			}
			break
		}
		p.mu.Lock()
		p.fetchingID = false
		var failed []pendingMsg
		if err != nil {
			for part, queue := range p.batches {
				for _, b := range queue {
					failed = append(failed, b.msgs...)
				}
				delete(p.batches, part)
			}
		}
		p.mu.Unlock()
		p.failed.Add(uint64(len(failed)))
		for _, m := range failed {
			m.done(nil, err)
		}
		p.settle(len(failed))
		p.poke()
	}()
}

// settle releases n messages' places once they are acknowledged or have failed, and wakes
// the flushes waiting for the last.
func (p *Producer) settle(n int) {
	if n == 0 {
		return
	}
	for range n {
		<-p.slots
	}
	p.mu.Lock()
	p.pending -= n
	if p.pending == 0 {
		for _, w := range p.waiters {
			close(w)
		}
		p.waiters = nil
	}
	p.mu.Unlock()
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
		BytesSent: p.bytesSent.Load(), Retries: p.retries.Load(), PartitionInFlightPeak: p.peak.Load(),
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

// dispatch starts every ready batch a partition has a slot for, in the partition's order;
// returns when to look again. An idempotent producer without an id sends nothing until it
// has a new one.
func (p *Producer) dispatch() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Idempotent && p.pid < 0 {
		p.fetchID()
		return p.cfg.BatchTimeout
	}
	now := time.Now()
	next := p.cfg.BatchTimeout
	for part, queue := range p.batches {
		for len(queue) > 0 && p.hasSlot(part) {
			b := queue[0]
			age := now.Sub(b.first)
			ready := p.flushing > 0 || len(queue) > 1 || len(b.msgs) >= p.cfg.BatchSize || b.bytes >= p.cfg.BatchBytes || age >= p.cfg.BatchTimeout
			if !ready {
				next = min(next, p.cfg.BatchTimeout-age)
				break
			}
			queue = queue[1:]
			p.start(part, b)
		}
		if len(queue) == 0 {
			delete(p.batches, part)
		} else {
			p.batches[part] = queue
		}
	}
	return max(next, time.Millisecond)
}

// hasSlot says whether partition part may have one more batch in flight now. Called with
// p.mu held.
func (p *Producer) hasSlot(part int32) bool {
	return mayPipeline(p.inflight[part], p.cfg.MaxInFlightPerPartition, p.cfg.Idempotent,
		p.retrying[part] > 0, p.confirmed[part], p.c.cachedLeader(p.topic, part))
}

// mayPipeline is the rule for one more batch of a partition with inFlight batches on their
// way: always when none is; else only for an idempotent producer (sequence numbers keep the
// order; without them a retry could overtake a later batch), below the limit, while no
// batch waits to be retried (the leader would hold the next ones until the gap fills), and
// to the leader that acknowledged this producer id there (a new leader would refuse a batch
// whose predecessors it has not seen).
func mayPipeline(inFlight, limit int, idempotent, retrying bool, confirmed, leader string) bool {
	if inFlight == 0 {
		return true
	}
	return idempotent && inFlight < limit && !retrying && confirmed != "" && confirmed == leader
}

// start sends batch b of partition part, taking its sequence numbers now, in dispatch order.
// Called with p.mu held.
func (p *Producer) start(part int32, b *partBatch) {
	f := &flight{part: part, b: b, pid: -1, epoch: -1, seq: -1, gen: p.gen, settled: make(chan struct{})}
	if p.cfg.Idempotent {
		f.pid, f.epoch, f.seq = p.pid, p.epoch, p.seq[part]
		// Sequences wrap from 2^31-1 to 0.
		p.seq[part] = int32((int64(f.seq) + int64(len(b.msgs))) % (1 << 31))
	}
	if p.inflight[part] > 0 {
		f.prev = p.last[part]
	}
	p.last[part] = f
	p.inflight[part]++
	if n := uint64(p.inflight[part]); n > p.peak.Load() {
		p.peak.Store(n)
	}
	if part == p.sticky {
		p.sticky = (p.sticky + 1) % p.partitions
	}
	go p.send(f)
}

// send produces one partition's batch, retrying what may succeed later, and answers its
// messages after those of the partition's earlier batches.
func (p *Producer) send(f *flight) {
	ctx := context.Background()
	// The request carries the span of the first message sent in one.
	for _, m := range f.b.msgs {
		if m.span.IsValid() {
			ctx = trace.ContextWithSpanContext(ctx, m.span)
			break
		}
	}
	res, err := p.produce(ctx, f)
	f.ok = err == nil
	if f.prev != nil {
		<-f.prev.settled
	}
	// Counted before the messages are answered: a caller that has its result sees it in
	// Metrics.
	n := uint64(len(f.b.msgs))
	if err != nil {
		p.failed.Add(n)
	} else {
		p.sent.Add(n)
		p.batchesSent.Add(1)
		p.bytesSent.Add(uint64(f.b.bytes))
	}
	for i, m := range f.b.msgs {
		if err != nil {
			m.done(nil, err)
			continue
		}
		m.done(&SendResult{Topic: p.topic, Partition: f.part, Offset: res + int64(i), Timestamp: m.rec.Timestamp}, nil)
	}
	p.mu.Lock()
	p.inflight[f.part]--
	if p.inflight[f.part] == 0 {
		delete(p.inflight, f.part)
	}
	if p.last[f.part] == f {
		delete(p.last, f.part)
	}
	p.mu.Unlock()
	close(f.settled)
	p.settle(len(f.b.msgs))
	p.poke()
}

// produce returns the batch's base offset.
func (p *Producer) produce(ctx context.Context, f *flight) (int64, error) {
	records := make([]Record, len(f.b.msgs))
	for i, m := range f.b.msgs {
		records[i] = m.rec
	}
	opt := NotIdempotent
	opt.Compression = p.cfg.Compression
	if p.cfg.Idempotent {
		opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence = f.pid, f.epoch, f.seq
	}
	data, err := EncodeBatch(records, opt)
	if err != nil {
		p.lostID(f)
		return 0, err
	}
	acks := map[AckLevel]pb.Acks{AckLeader: pb.Acks_LEADER, AckNone: pb.Acks_NONE_ACK, AckAll: pb.Acks_ALL}[p.cfg.AckLevel]
	timeout := p.c.cfg.RequestTimeout
	req := &pb.ProduceRequest{
		Acks:      acks,
		TimeoutMs: uint32(timeout.Milliseconds()),
		Topics: []*pb.TopicProduceData{{Topic: p.topic, Partitions: []*pb.PartitionProduceData{
			{Partition: uint32(f.part), Records: data},
		}}},
	}
	// Only an earlier batch of the same producer id bears on this one's sequence.
	prev := f.prev
	if prev != nil && prev.gen != f.gen {
		prev = nil
	}
	delay := p.cfg.RetryBaseDelay
	for attempt := 0; ; attempt++ {
		base, leader, err := p.produceOnce(ctx, f.part, req, timeout)
		if err == nil {
			if p.cfg.Idempotent {
				p.mu.Lock()
				if f.gen == p.gen {
					p.confirmed[f.part] = leader
				}
				p.mu.Unlock()
			}
			return base, nil
		}
		var se *ServerError
		refused := errors.As(err, &se)
		retriable := !refused || se.Retriable()
		// Out of order behind an earlier batch still on its way: that one failed to arrive
		// in time and is being retried; this one goes again once it is written.
		gap := refused && se.Code == pb.ErrorCode_OUT_OF_ORDER_SEQUENCE && prev != nil
		if attempt < p.cfg.MaxRetries && (retriable || gap) {
			p.retries.Add(1)
			p.mu.Lock()
			p.retrying[f.part]++
			p.mu.Unlock()
			if retriable {
				_, _ = p.c.refreshTopic(ctx, p.topic)
				jitter := time.Duration(rand.Int64N(int64(delay)/2 + 1))
				time.Sleep(delay/2 + jitter)
				delay = min(delay*2, p.cfg.RetryMaxDelay)
			}
			// Sequences reach the leader in order: the earlier batch settles first.
			earlierWritten := true
			if prev != nil {
				<-prev.settled
				earlierWritten = prev.ok
			}
			p.mu.Lock()
			p.retrying[f.part]--
			if p.retrying[f.part] == 0 {
				delete(p.retrying, f.part)
			}
			p.mu.Unlock()
			if earlierWritten {
				continue
			}
			// The earlier batch failed for good: this one's sequence cannot follow it.
		}
		p.lostID(f)
		return 0, err
	}
}

// lostID forgets the producer id after batch f failed for good: the leader's sequence for
// the id may now be ahead of or behind the producer's, so the next batches start over with a
// new id (Kafka bumps the epoch for the same reason). Later batches of the same id fail as
// out of order; their failures no longer reset anything.
func (p *Producer) lostID(f *flight) {
	if !p.cfg.Idempotent {
		return
	}
	p.mu.Lock()
	if f.gen == p.gen {
		p.pid = -1
	}
	p.mu.Unlock()
}

// produceOnce sends req to the partition's leader; returns the base offset and the leader's
// address.
func (p *Producer) produceOnce(ctx context.Context, part int32, req *pb.ProduceRequest, timeout time.Duration) (int64, string, error) {
	conn, err := p.c.leader(ctx, p.topic, part)
	if err != nil {
		return 0, "", err
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
		return 0, "", err
	}
	for _, t := range resp.GetTopics() {
		for _, pr := range t.GetPartitions() {
			if int32(pr.GetPartition()) != part {
				continue
			}
			if err := codeError(pr.GetErrorCode(), pr.GetErrorMessage()); err != nil {
				return 0, "", err
			}
			return pr.GetBaseOffset(), conn.Addr(), nil
		}
	}
	return 0, "", &FrameError{fmt.Sprintf("partition %d missing from the produce answer", part)}
}
