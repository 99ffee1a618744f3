package rustmq

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// devBroker is a `rustmq-broker --dev` process built from this repository (RUSTMQ_BROKER_BIN,
// or target/debug/rustmq-broker, which `cargo test --workspace` builds).
type devBroker struct {
	quic, admin, ca string
	cmd             *exec.Cmd
}

func startBroker(t *testing.T) *devBroker {
	t.Helper()
	return startBrokerIn(t, t.TempDir())
}

// startBrokerIn starts a dev broker on data directory dir with extra environment variables
// (configuration overrides such as RUSTMQ_SECURITY__ENABLED=true).
func startBrokerIn(t *testing.T, dir string, env ...string) *devBroker {
	t.Helper()
	bin := os.Getenv("RUSTMQ_BROKER_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "..", "target", "debug", "rustmq-broker")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v (build it with `cargo build -p rustmq-broker`, or set RUSTMQ_BROKER_BIN)", bin, err)
	}
	cmd := exec.Command(bin, "--dev", "--data-dir", dir)
	cmd.Env = append(os.Environ(),
		"RUSTMQ_NETWORK__QUIC_LISTEN=127.0.0.1:0",
		"RUSTMQ_ADMIN__HTTP_LISTEN=127.0.0.1:0",
		"RUSTMQ_LOG=warn",
		"RUSTMQ_ADMIN_RATE_LIMITING_ENABLED=false",
	)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &devBroker{cmd: cmd, ca: filepath.Join(dir, "tls", "ca.pem")}
	t.Cleanup(b.stop)
	lines := bufio.NewScanner(out)
	for (b.quic == "" || b.admin == "") && lines.Scan() {
		l := lines.Text()
		if _, v, ok := strings.Cut(l, "QUIC (clients) : "); ok {
			b.quic = strings.TrimSpace(v)
		}
		if _, v, ok := strings.Cut(l, "admin REST API : "); ok {
			b.admin = strings.TrimSpace(v)
		}
	}
	if b.quic == "" || b.admin == "" {
		t.Fatalf("the broker did not print its addresses")
	}
	// Keep reading so the broker never blocks on a full pipe.
	go func() {
		for lines.Scan() {
		}
	}()
	return b
}

// stop kills the broker (its data directory stays).
func (b *devBroker) stop() {
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
}

func (b *devBroker) client(t *testing.T) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := NewClient(ctx, ClientConfig{Brokers: []string{b.quic}, TLS: TLSConfig{CACertFile: b.ca}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (b *devBroker) createTopic(t *testing.T, name string, partitions int) {
	t.Helper()
	body := []byte(`{"name": "` + name + `", "partitions": ` + strconv.Itoa(partitions) + `}`)
	resp, err := http.Post(b.admin+"/api/v1/topics", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create topic %s: %s", name, resp.Status)
	}
}
