package natsbus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConnectOptions configures Connect.
type ConnectOptions struct {
	// Name is the connection's name, as the server lists it.
	Name string
	// User and Password authenticate the connection when set (the
	// embedded server's Auth).
	User, Password string
	// Logger receives disconnects and reconnects; nil logs none.
	Logger *slog.Logger
}

// Connect connects to the NATS server at url as cellsd's connections do:
// reconnecting forever, buffering what is published while disconnected
// (the Publisher keeps events through an outage), with JetStream and the
// stream and buckets of Setup created or updated. The caller closes the
// returned connection.
func Connect(ctx context.Context, url string, o ConnectOptions) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1), // the publisher keeps events while disconnected
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if log := o.Logger; log != nil {
		opts = append(opts,
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil { // nil: closed on purpose
					log.Warn("nats disconnected; events are buffered", "err", err)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrl()) }))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats %s: %w", url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	if _, err := Setup(ctx, js, 0); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}
