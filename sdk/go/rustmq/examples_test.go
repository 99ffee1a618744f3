package rustmq

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The examples (sdk/go/examples) compile and run against a dev broker: the producer sends
// ten messages, the consumer group reads them, the stream upper-cases them into a second
// topic.
func TestExamplesRunAgainstADevBroker(t *testing.T) {
	b := startBroker(t)
	b.createTopic(t, "go-example", 3)
	b.createTopic(t, "go-example-upper", 1)
	run := func(example string, extra ...string) string {
		t.Helper()
		cmd := exec.Command("go", "run", "./examples/"+example)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), append([]string{"RUSTMQ_BROKERS=" + b.quic, "RUSTMQ_CA_CERT=" + b.ca}, extra...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", example, err, out)
		}
		return string(out)
	}
	if out := run("producer"); strings.Count(out, "message sent:") != 10 {
		t.Fatalf("producer:\n%s", out)
	}
	if out := run("consumer", "RUSTMQ_MAX_MESSAGES=10"); strings.Count(out, "sender=go-client") != 10 {
		t.Fatalf("consumer:\n%s", out)
	}
	if out := run("stream", "RUSTMQ_MAX_MESSAGES=10"); strings.Count(out, "HELLO, RUSTMQ FROM GO") != 10 {
		t.Fatalf("stream:\n%s", out)
	}
}
