package rustmq

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The committed pb/rustmq.pb.go is what protocol/proto/rustmq.proto generates today.
func TestGeneratedCodeIsFresh(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./internal/protogen", "-out", out, "-proto", "../../protocol/proto")
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protogen: %v\n%s", err, b)
	}
	want, err := os.ReadFile(filepath.Join(out, "rustmq.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join("pb", "rustmq.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, have) {
		t.Fatal("rustmq/pb/rustmq.pb.go is stale: run `go run ./internal/protogen` in sdk/go")
	}
}
