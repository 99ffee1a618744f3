package rustmq

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"sync"
	"testing"
	"time"
)

// A Go member and a Rust member (client/examples/interop.rs) in one group: the coordinator
// splits the partitions between them and together they read every message exactly once.
// Then the Rust member leaves and the Go member takes over its partitions from the offsets
// the Rust member committed.
func TestGoAndRustMembersShareAGroup(t *testing.T) {
	b := startBroker(t)
	c := b.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const topic, group, partitions = "shared", "go-and-rust", 4
	b.createTopic(t, topic, partitions)

	rust := exec.CommandContext(ctx, interopBin(t), "group", b.quic, b.ca, topic, group)
	stdin, err := rust.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := rust.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	rust.Stderr = os.Stderr
	if err := rust.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rust.Process.Kill(); _ = rust.Wait() }()

	var mu sync.Mutex
	var rustAssigned []int32
	rustSeen := map[string]int{}
	rustDone := make(chan struct{})
	go func() {
		defer close(rustDone)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			var l struct {
				Assigned *[]int32    `json:"assigned"`
				Headers  [][2]string `json:"headers"`
			}
			if err := json.Unmarshal(lines.Bytes(), &l); err != nil {
				continue
			}
			mu.Lock()
			if l.Assigned != nil {
				rustAssigned = *l.Assigned
			} else if len(l.Headers) > 0 {
				rustSeen[l.Headers[0][1]]++
			}
			mu.Unlock()
		}
	}()

	member, err := c.CreateConsumer(ctx, topic, group, GroupConfig{HeartbeatInterval: 500 * time.Millisecond, AutoCommitInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	goSeen := map[string]int{}
	stop := make(chan struct{})
	goDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				goDone <- nil
				return
			default:
			}
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			m, err := member.Receive(rctx)
			rcancel()
			if err != nil {
				if ctx.Err() != nil {
					goDone <- err
					return
				}
				continue
			}
			v, _ := m.Header("i")
			mu.Lock()
			goSeen[fmt.Sprintf("%x", v)]++
			mu.Unlock()
		}
	}()

	// Both members hold two partitions, together all four.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		r := append([]int32{}, rustAssigned...)
		mu.Unlock()
		g := member.Assignment()
		all := append(append([]int32{}, r...), g...)
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		if len(r) == 2 && len(g) == 2 && fmt.Sprint(all) == "[0 1 2 3]" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no even split: rust %v, go %v", r, g)
		}
		time.Sleep(100 * time.Millisecond)
	}

	const n = 200
	p, err := c.CreateProducer(ctx, topic, ProducerConfig{AckLevel: AckAll})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]*Message, n)
	for i := range msgs {
		msgs[i] = interopMessage(topic, i)
	}
	if _, err := p.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	total := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(goSeen), len(rustSeen)
	}
	for {
		g, r := total()
		if g+r >= n {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("go saw %d, rust %d of %d", g, r, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	for k, v := range goSeen {
		if v != 1 || rustSeen[k] != 0 {
			t.Errorf("message %s: go %d times, rust %d times", k, v, rustSeen[k])
		}
	}
	for k, v := range rustSeen {
		if v != 1 {
			t.Errorf("message %s: rust %d times", k, v)
		}
	}
	g, r := len(goSeen), len(rustSeen)
	mu.Unlock()
	if g == 0 || r == 0 || g+r != n {
		t.Fatalf("go %d + rust %d != %d", g, r, n)
	}

	// The Rust member leaves (after committing); the Go member gets all four partitions and
	// reads only what is new.
	_ = stdin.Close()
	<-rustDone
	if err := rust.Wait(); err != nil {
		t.Fatalf("rust member: %v", err)
	}
	for len(member.Assignment()) != partitions {
		if ctx.Err() != nil {
			t.Fatalf("go member holds %v after the rust member left", member.Assignment())
		}
		time.Sleep(100 * time.Millisecond)
	}
	more := make([]*Message, 40)
	for i := range more {
		more[i] = interopMessage(topic, n+i)
	}
	if _, err := p.SendBatch(ctx, more); err != nil {
		t.Fatal(err)
	}
	for {
		mu.Lock()
		got := len(goSeen)
		mu.Unlock()
		if got >= g+len(more) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("go member read %d of %d after taking over", got-g, len(more))
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	if err := <-goDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for k, v := range goSeen {
		if v != 1 || rustSeen[k] != 0 {
			t.Errorf("after the takeover, message %s: go %d times, rust %d times", k, v, rustSeen[k])
		}
	}
	mu.Unlock()
	_ = p.Close()
	if err := member.Close(); err != nil {
		t.Fatal(err)
	}
}
