// Command protogen generates rustmq/pb/rustmq.pb.go from protocol/proto/rustmq.proto
// without protoc: protocompile parses the file and protoc-gen-go (built from the
// google.golang.org/protobuf module this module requires) writes the Go code.
//
//	go run ./internal/protogen            # rewrites rustmq/pb/rustmq.pb.go
//	go run ./internal/protogen -out DIR   # writes DIR/rustmq.pb.go instead
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// ImportPath is the Go package the generated code belongs to.
const ImportPath = "github.com/rustmq/rustmq/sdk/go/rustmq/pb"

func main() {
	out := flag.String("out", "rustmq/pb", "directory to write rustmq.pb.go to")
	protoDir := flag.String("proto", "../../protocol/proto", "directory holding rustmq.proto")
	flag.Parse()
	if err := Generate(*protoDir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

// Generate compiles protoDir/rustmq.proto and writes outDir/rustmq.pb.go.
func Generate(protoDir, outDir string) error {
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			ImportPaths: []string{protoDir},
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := compiler.Compile(context.Background(), "rustmq.proto")
	if err != nil {
		return fmt.Errorf("compiling rustmq.proto: %w", err)
	}
	fd := protodesc.ToFileDescriptorProto(files[0])
	plugin, err := buildPlugin()
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(plugin))
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: []string{fd.GetName()},
		Parameter:      proto.String("M" + fd.GetName() + "=" + ImportPath + ";pb,paths=source_relative"),
		ProtoFile:      []*descriptorpb.FileDescriptorProto{fd},
	}
	in, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	cmd := exec.Command(plugin)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("protoc-gen-go: %w: %s", err, stderr.String())
	}
	var resp pluginpb.CodeGeneratorResponse
	if err := proto.Unmarshal(stdout.Bytes(), &resp); err != nil {
		return fmt.Errorf("protoc-gen-go answer: %w", err)
	}
	if resp.GetError() != "" {
		return fmt.Errorf("protoc-gen-go: %s", resp.GetError())
	}
	for _, f := range resp.GetFile() {
		path := filepath.Join(outDir, filepath.Base(f.GetName()))
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(f.GetContent()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// buildPlugin builds protoc-gen-go at the version go.mod pins, into a temporary directory.
func buildPlugin() (string, error) {
	dir, err := os.MkdirTemp("", "protogen")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "protoc-gen-go")
	cmd := exec.Command("go", "build", "-o", bin, "google.golang.org/protobuf/cmd/protoc-gen-go")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building protoc-gen-go: %w: %s", err, out)
	}
	return bin, nil
}
