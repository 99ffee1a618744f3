// Package rustmq is the Go client of RustMQ, written from protocol/proto/rustmq.proto: QUIC
// connections (quic-go) carrying one request per stream, with the protobuf types generated
// into package pb.
//
// A Client connects, checks health, discovers what a broker speaks (ApiVersions) and reads
// cluster metadata; CreateProducer and CreatePartitionConsumer produce and consume (Kafka
// RecordBatch v2, every codec). Consumer groups follow.
//
//	c, err := rustmq.NewClient(ctx, rustmq.ClientConfig{
//		Brokers: []string{"127.0.0.1:9092"},
//		TLS:     rustmq.TLSConfig{CACertFile: "rustmq-data/tls/ca.pem"},
//	})
//	if err != nil { ... }
//	defer c.Close()
//	md, err := c.Metadata(ctx)
package rustmq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
)

// TLSConfig says how to verify brokers and, for mutual TLS, who the client is.
type TLSConfig struct {
	// CACertFile is the PEM file of the CA the brokers' certificates chain to.
	CACertFile string
	// ServerName overrides the name checked in the broker's certificate (default: the
	// host of the address, or "localhost" for an IP address).
	ServerName string
	// CertFile and KeyFile are the client's certificate and key for mutual TLS.
	CertFile string
	KeyFile  string
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// Brokers to bootstrap from (host:port).
	Brokers []string
	TLS     TLSConfig
	// RequestTimeout bounds each request (default 30 s).
	RequestTimeout time.Duration
	// MaxFrameBytes is the largest answer accepted (default 64 MiB).
	MaxFrameBytes uint32
	// Token, when set, authenticates every connection with a bearer token (JWT) for a
	// broker with security on and no client certificate (StaticToken, or a source that
	// fetches fresh tokens; it is asked again before each session ends).
	Token TokenSource
}

// Client talks to a RustMQ cluster. Safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	tls  *tls.Config
	mu   sync.Mutex
	conn map[string]*Conn
	meta metaCache
}

// NewClient checks the configuration and connects to the first bootstrap broker that
// answers.
func NewClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("rustmq: no brokers configured")
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.MaxFrameBytes == 0 {
		cfg.MaxFrameBytes = 64 << 20
	}
	tlsConf, err := loadTLS(cfg.TLS)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, tls: tlsConf, conn: map[string]*Conn{}, meta: metaCache{topics: map[string]*topicMeta{}}}
	var last error
	for _, b := range cfg.Brokers {
		if _, err := c.connection(ctx, b); err != nil {
			last = err
			continue
		}
		return c, nil
	}
	return nil, last
}

func loadTLS(t TLSConfig) (*tls.Config, error) {
	conf := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS13}
	if t.CACertFile != "" {
		pem, err := os.ReadFile(t.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("rustmq: CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("rustmq: no certificate in %s", t.CACertFile)
		}
		conf.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("rustmq: client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

// connection is the connection to addr, made when first needed.
func (c *Client) connection(ctx context.Context, addr string) (*Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.conn[addr]; ok {
		return conn, nil
	}
	conf := c.tls.Clone()
	if conf.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("rustmq: broker address %q: %w", addr, err)
		}
		if net.ParseIP(host) != nil {
			host = "localhost"
		}
		conf.ServerName = host
	}
	dialCtx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	conn, err := Dial(dialCtx, addr, conf, c.cfg.MaxFrameBytes)
	if err != nil {
		return nil, err
	}
	if err := c.authenticate(dialCtx, conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	c.conn[addr] = conn
	return conn, nil
}

// any sends one request to the bootstrap brokers in turn until one answers.
func (c *Client) any(ctx context.Context, api APIKey, req, resp proto.Message) error {
	var last error
	for _, b := range c.cfg.Brokers {
		conn, err := c.connection(ctx, b)
		if err != nil {
			last = err
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		err = conn.Request(rctx, api, req, resp)
		cancel()
		var se *ServerError
		if err == nil || errors.As(err, &se) {
			// The broker answered: a refusal is the answer.
			return err
		}
		last = err
		c.drop(b, conn)
	}
	return last
}

// drop forgets a connection that failed, so the next request dials again.
func (c *Client) drop(addr string, conn *Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn[addr] == conn {
		delete(c.conn, addr)
		_ = conn.Close()
	}
}

// Close closes every connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for addr, conn := range c.conn {
		if err := conn.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.conn, addr)
	}
	return first
}

// Stats is each connection's counters, by broker address.
func (c *Client) Stats() map[string]ConnStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]ConnStats{}
	for a, conn := range c.conn {
		out[a] = conn.Stats()
	}
	return out
}
