package rustmq

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// localCluster is three rustmq-controller and three rustmq-broker processes of this
// repository on loopback ports (the layout of `make cluster`, in a temporary directory).
type localCluster struct {
	dir         string
	admin       []string // controllers' admin API base URLs
	quic        []string // brokers' QUIC addresses, broker i+1 at i
	brokers     []*exec.Cmd
	brokerFiles []string
	ca          string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The QUIC listeners use UDP: the same port must be free there too.
	u, err := net.ListenPacket("udp", l.Addr().String())
	if err != nil {
		return freePort(t)
	}
	u.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func workspaceBin(t *testing.T, env, name string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		bin = filepath.Join("..", "..", "..", "target", "debug", name)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v (cargo build -p %s, or set %s)", bin, err, name, env)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func startProcess(t *testing.T, dir, bin, config, log string) *exec.Cmd {
	t.Helper()
	logFile, err := os.Create(filepath.Join(dir, log))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", config)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RUSTMQ_LOG=warn", "RUSTMQ_ADMIN_RATE_LIMITING_ENABLED=false")
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			if out, err := os.ReadFile(filepath.Join(dir, log)); err == nil {
				t.Logf("%s:\n%s", log, lastLines(string(out), 30))
			}
		}
	})
	return cmd
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

func startCluster(t *testing.T) *localCluster {
	t.Helper()
	controller := workspaceBin(t, "RUSTMQ_CONTROLLER_BIN", "rustmq-controller")
	broker := workspaceBin(t, "RUSTMQ_BROKER_BIN", "rustmq-broker")
	dir := t.TempDir()
	c := &localCluster{dir: dir, ca: filepath.Join(dir, "certs", "ca.pem")}
	raft := make([]int, 3)
	var peers []string
	for i := range raft {
		raft[i] = freePort(t)
		peers = append(peers, fmt.Sprintf(`"controller-%d@127.0.0.1:%d"`, i+1, raft[i]))
	}
	var endpoints []string
	for i := range raft {
		endpoints = append(endpoints, fmt.Sprintf(`"127.0.0.1:%d"`, raft[i]))
		admin := freePort(t)
		c.admin = append(c.admin, fmt.Sprintf("http://127.0.0.1:%d", admin))
		conf := filepath.Join(dir, fmt.Sprintf("controller-%d.toml", i+1))
		write(t, conf, fmt.Sprintf(`[controller]
node_id = "controller-%d"
data_dir = "controller-%d"
raft_listen = "127.0.0.1:%d"
rpc_listen = "127.0.0.1:%d"
http_listen = "127.0.0.1:%d"
[raft]
peers = [%s]
election_timeout_ms = 500
heartbeat_interval_ms = 100
[tls]
dev_certificates_dir = "certs"
`, i+1, i+1, raft[i], raft[i], admin, strings.Join(peers, ", ")))
		startProcess(t, dir, controller, conf, fmt.Sprintf("controller-%d.log", i+1))
	}
	for i := range 3 {
		q := freePort(t)
		c.quic = append(c.quic, fmt.Sprintf("127.0.0.1:%d", q))
		conf := filepath.Join(dir, fmt.Sprintf("broker-%d.toml", i+1))
		write(t, conf, fmt.Sprintf(`[broker]
id = %d
rack_id = "rack-%d"
data_dir = "broker-%d"
[network]
quic_listen = "127.0.0.1:%d"
rpc_listen = "127.0.0.1:%d"
[admin]
http_listen = "127.0.0.1:%d"
[controller]
endpoints = [%s]
dev_certificates_dir = "certs"
[object_storage]
storage_type = "Local"
local_path = "objects"
`, i+1, i+1, i+1, q, freePort(t), freePort(t), strings.Join(endpoints, ", ")))
		c.brokerFiles = append(c.brokerFiles, conf)
		c.brokers = append(c.brokers, startProcess(t, dir, broker, conf, fmt.Sprintf("broker-%d.log", i+1)))
	}
	// Ready: three brokers registered and online.
	deadline := time.Now().Add(90 * time.Second)
	for {
		if n := c.onlineBrokers(); n == 3 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not get three online brokers in 90 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// api calls the controllers' admin API (any of them: writes are forwarded to the leader)
// and decodes the envelope's data into out.
func (c *localCluster) api(method, path string, body any, out any) error {
	var last error
	for _, base := range c.admin {
		var rd *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("content-type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err
			continue
		}
		var env struct {
			Success bool            `json:"success"`
			Data    json.RawMessage `json:"data"`
			Error   string          `json:"error"`
		}
		err = json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&env)
		resp.Body.Close()
		if err != nil || !env.Success {
			last = fmt.Errorf("%s %s: %s %v (%s)", method, path, resp.Status, err, env.Error)
			continue
		}
		if out != nil {
			return json.Unmarshal(env.Data, out)
		}
		return nil
	}
	return last
}

func (c *localCluster) onlineBrokers() int {
	var brokers []struct {
		Online bool `json:"online"`
	}
	if err := c.api("GET", "/api/v1/brokers", nil, &brokers); err != nil {
		return 0
	}
	n := 0
	for _, b := range brokers {
		if b.Online {
			n++
		}
	}
	return n
}
