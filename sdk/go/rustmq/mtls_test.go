package rustmq

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// issueClientCert signs a client certificate for cn with the dev CA's key (tls/ca.key of a
// dev broker's data directory) and writes it and its key next to dir.
func issueClientCert(t *testing.T, data, dir, cn string) (string, string) {
	t.Helper()
	read := func(name string) []byte {
		raw, err := os.ReadFile(filepath.Join(data, "tls", name))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(raw)
		if block == nil {
			t.Fatalf("no PEM in %s", name)
		}
		return block.Bytes
	}
	caCert, err := x509.ParseCertificate(read("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := x509.ParsePKCS8PrivateKey(read("ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyFile := filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+".key")
	write(t, cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	write(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return cert, keyFile
}

// Mutual TLS: with security on, a Go client presenting a certificate of the cluster CA
// produces and consumes; one without a certificate gets no further than the handshake.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	plain := startBrokerIn(t, data)
	plain.createTopic(t, "mtls", 1)
	plain.stop()
	b := startBrokerIn(t, data, "RUSTMQ_SECURITY__ENABLED=true", "RUSTMQ_SECURITY__ALLOW_IF_NO_ACL=true")
	cert, key := issueClientCert(t, data, dir, "go-mtls")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	anon, err := NewClient(ctx, ClientConfig{Brokers: []string{b.quic}, TLS: TLSConfig{CACertFile: b.ca}, RequestTimeout: 5 * time.Second})
	if err == nil {
		_, err = anon.Metadata(ctx, "mtls")
		_ = anon.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}

	c, err := NewClient(ctx, ClientConfig{Brokers: []string{b.quic}, TLS: TLSConfig{CACertFile: b.ca, CertFile: cert, KeyFile: key}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := c.CreateProducer(ctx, "mtls", ProducerConfig{AckLevel: AckAll})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Send(ctx, NewMessage().PayloadString("over mutual TLS").Build()); err != nil {
		t.Fatal(err)
	}
	cons, err := c.CreatePartitionConsumer(ctx, "mtls", ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Assign(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if m, err := cons.Receive(ctx); err != nil || m.PayloadAsString() != "over mutual TLS" {
		t.Fatalf("consume: %v %v", m, err)
	}
}
