package rustmq

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// issuer signs ES256 tokens; its public key is a JWKS file the broker reads.
type issuer struct{ key *ecdsa.PrivateKey }

func newIssuer(t *testing.T, jwks string) *issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	raw := pub.Bytes() // 0x04 | X | Y
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
		"x": b64(raw[1:33]), "y": b64(raw[33:65]),
	}}})
	if err := os.WriteFile(jwks, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	return &issuer{key}
}

func (i *issuer) token(t *testing.T, sub string, validFor time.Duration) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": "k1"})
	claims, _ := json.Marshal(map[string]any{
		"sub": sub, "iss": "https://issuer.test", "aud": "rustmq", "exp": time.Now().Add(validFor).Unix(),
	})
	signing := b64(header) + "." + b64(claims)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, i.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64(sig)
}

// A dev broker with security on and bearer tokens: a Go client authenticates with a JWT,
// produces and consumes; no token, another issuer's token and an expired token are refused
// with ErrUnauthorized; a token source keeps a session alive past each token's expiry.
func TestJWTAuthentication(t *testing.T) {
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	iss := newIssuer(t, jwks)
	// The topic is made before security is on (the admin API then wants an admin).
	plain := startBrokerIn(t, filepath.Join(dir, "data"))
	plain.createTopic(t, "secured", 1)
	plain.stop()
	b := startBrokerIn(t, filepath.Join(dir, "data"),
		"RUSTMQ_SECURITY__ENABLED=true",
		"RUSTMQ_SECURITY__ALLOW_IF_NO_ACL=true",
		"RUSTMQ_SECURITY__JWT__ENABLED=true",
		"RUSTMQ_SECURITY__JWT__ISSUER=https://issuer.test",
		"RUSTMQ_SECURITY__JWT__AUDIENCE=rustmq",
		`RUSTMQ_SECURITY__JWT__ALGORITHMS=["ES256"]`,
		"RUSTMQ_SECURITY__JWT__JWKS_FILE="+jwks,
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	connect := func(src TokenSource) (*Client, error) {
		return NewClient(ctx, ClientConfig{Brokers: []string{b.quic}, TLS: TLSConfig{CACertFile: b.ca}, Token: src})
	}

	// No token: the connection is made, every request but ApiVersions is refused.
	anon, err := connect(nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := anon.APIVersions(ctx); err != nil || !v.GetAuthenticationRequired() {
		t.Fatalf("api versions without a token: %v %v", v, err)
	}
	if _, err := anon.Metadata(ctx, "secured"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("metadata without a token: %v", err)
	}
	_ = anon.Close()

	// Another issuer's key, or an expired token: refused at connect.
	other := newIssuer(t, filepath.Join(dir, "other.json"))
	for name, tok := range map[string]string{
		"other key": other.token(t, "go-app", time.Minute),
		"expired":   iss.token(t, "go-app", -2*time.Minute),
	} {
		if _, err := connect(StaticToken(tok)); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// A source of 3-second tokens: renewed before each expires, the session outlives them.
	var issued atomic.Int32
	c, err := connect(func(context.Context) (string, error) {
		issued.Add(1)
		return iss.token(t, "go-app", 3*time.Second), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := c.CreateProducer(ctx, "secured", ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 3 {
		if _, err := p.Send(ctx, NewMessage().PayloadString("with a token").Build()); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		time.Sleep(2500 * time.Millisecond)
	}
	if n := issued.Load(); n < 3 {
		t.Fatalf("%d tokens asked for in 7.5 s of 3 s tokens", n)
	}
	for _, conn := range c.conn {
		if conn.Principal() != "go-app" {
			t.Fatalf("principal %q", conn.Principal())
		}
	}
	cons, err := c.CreatePartitionConsumer(ctx, "secured", ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Assign(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if m, err := cons.Receive(ctx); err != nil || m.PayloadAsString() != "with a token" {
		t.Fatalf("consume: %v %v", m, err)
	}
}
