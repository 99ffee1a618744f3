package rustmq

import (
	"context"
	"fmt"
	"time"

	"github.com/rustmq/rustmq/sdk/go/rustmq/pb"
)

// TokenSource returns a bearer token (JWT) for the broker to verify; it is asked again
// before the previous token expires, so it may fetch a fresh one.
type TokenSource func(ctx context.Context) (string, error)

// StaticToken is a TokenSource of one token (the session ends when it expires).
func StaticToken(token string) TokenSource {
	return func(context.Context) (string, error) { return token, nil }
}

// authenticate proves the connection's principal with a token as its first request, and
// schedules the next proof before the session the broker grants ends.
func (c *Client) authenticate(ctx context.Context, conn *Conn) error {
	if c.cfg.Token == nil {
		return nil
	}
	token, err := c.cfg.Token(ctx)
	if err != nil {
		return fmt.Errorf("rustmq: bearer token: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var resp pb.AuthenticateResponse
	if err := conn.Request(rctx, APIAuthenticate, &pb.AuthenticateRequest{Mechanism: "jwt", Token: token}, &resp); err != nil {
		return err
	}
	if err := codeError(resp.GetErrorCode(), resp.GetErrorMessage()); err != nil {
		return err
	}
	conn.setPrincipal(resp.GetPrincipal())
	if exp := resp.GetSessionExpiresAtMs(); exp > 0 {
		// Renew at four fifths of the session, as a Kafka client re-authenticates.
		left := time.Until(time.UnixMilli(exp))
		conn.renewAfter(left*4/5, func() {
			rctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
			defer cancel()
			// A failed renewal leaves the session to end at its expiry; the next request
			// then dials and authenticates again.
			_ = c.authenticate(rctx, conn)
		})
	}
	return nil
}
