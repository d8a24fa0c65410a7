// Package natstest runs NATS for tests the way every cellsd test that needs
// it should: a real nats-server in the test process, with JetStream, on
// 127.0.0.1 (nats-io/nats-server: server/server_test.go RunServer).
package natstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine/natsbus"
)

// RunServer starts a server with JetStream storing in dir, on port (-1:
// any free one). The caller shuts it down: a test that restarts it, or
// must close a client first, orders that itself.
func RunServer(tb testing.TB, port int, dir string) *server.Server {
	tb.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		tb.Fatal("nats-server not ready in 10 s")
	}
	return srv
}

// FreePort returns a TCP port of 127.0.0.1 free a moment ago, for a server
// that must come back on the same port.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// SessionEvents reads every event of a session stored in CELLSD_EVENTS,
// in the stream's order.
func SessionEvents(ctx context.Context, js jetstream.JetStream, session string) ([]natsbus.Payload, error) {
	c, err := js.OrderedConsumer(ctx, natsbus.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{natsbus.SessionSubject(session)}})
	if err != nil {
		return nil, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []natsbus.Payload
	for uint64(len(out)) < info.NumPending {
		batch, err := c.Fetch(min(int(info.NumPending)-len(out), 1000), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			var p natsbus.Payload
			if err := json.Unmarshal(m.Data(), &p); err != nil {
				return nil, fmt.Errorf("event %s: %w", m.Subject(), err)
			}
			out = append(out, p)
			n++
		}
		if n == 0 {
			return out, fmt.Errorf("stream stopped after %d of %d events: %w", len(out), info.NumPending, batch.Error())
		}
	}
	return out, nil
}

// BucketState reads a session's latest events from the CELLSD_STATUS
// bucket, keyed by cell id (the session's own under natsbus.SessionToken).
//
// It lists the keys from the bucket's stream state (stream info with a
// subject filter, one consistent snapshot on the server) and gets each,
// not with the KV's ListKeys: that watcher counts the messages it expects
// when it starts, and a key rewritten while it lists loses its old
// message, so the listing ends one key short of a key that moved
// (nats.go 1.55, DeliverLastPerSubject with history 1). A key rewritten
// between the snapshot and its get gives its newer state, which a reader
// of the bucket expects.
func BucketState(ctx context.Context, js jetstream.JetStream, session string) (map[string]natsbus.Payload, error) {
	kv, err := js.KeyValue(ctx, natsbus.BucketName)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, "KV_"+natsbus.BucketName)
	if err != nil {
		return nil, err
	}
	prefix := "$KV." + natsbus.BucketName + "."
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+natsbus.Token(session)+".>"))
	if err != nil {
		return nil, err
	}
	out := make(map[string]natsbus.Payload, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		e, err := kv.Get(ctx, strings.TrimPrefix(subject, prefix))
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // purged since the snapshot
		}
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", subject, err)
		}
		var p natsbus.Payload
		if err := json.Unmarshal(e.Value(), &p); err != nil {
			return nil, fmt.Errorf("key %s: %w", subject, err)
		}
		out[p.Cell] = p
	}
	return out, nil
}
