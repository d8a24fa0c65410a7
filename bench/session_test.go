package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
)

// BenchmarkSession is issue 19's P2b: a daemon session's run-all of the
// 1,000-cell chain and fan-out, as a frontend drives it (the run request
// over NATS to the event that ends the run), against the batch run's
// engine time (Engine.Run of the planned notebook, what `cellsd run` does
// once it has planned) measured in the same rounds. Each round opens a
// fresh session, so its run-all executes every cell. It prints the medians
// and session/batch (target: at most 1.3).
func BenchmarkSession(b *testing.B) {
	const n = 1000
	d := startDaemon(b, b.TempDir())
	nc := connect(b, d.NATSURL())
	for _, shape := range []string{"chain", "fanout"} {
		b.Run(fmt.Sprintf("cells=%d/shape=%s", n, shape), func(b *testing.B) {
			ctx := context.Background()
			data, _ := trivialNotebook(b, shape, n)
			nb, err := cells.Parse("nb.json", data)
			if err != nil {
				b.Fatal(err)
			}
			eng := engine.New(engine.Config{})
			if err := eng.Open(ctx); err != nil {
				b.Fatal(err)
			}
			defer eng.Close()
			plan, err := eng.Planner().Plan(ctx, nb)
			if err != nil {
				b.Fatal(err)
			}
			var sessions, batches []time.Duration
			for i := range rounds(b) {
				batch := func() {
					start := time.Now()
					r, err := eng.Run(ctx, plan, engine.RunOptions{})
					if err != nil || r.Summary.Success != n {
						b.Fatalf("batch run: %v, %+v", err, r.Summary)
					}
					batches = append(batches, time.Since(start))
				}
				session := func() { sessions = append(sessions, sessionRunAll(b, nc, data, n)) }
				turnAbout(i, batch, session)
			}
			report(b, "session-run-all", "batch", "wall", sessions, batches, 1.3)
		})
	}
}

// sessionRunAll opens a session of the notebook on the daemon at nc, times
// its run-all from the request to the event that ends the run, checks
// that every cell succeeded (the event's reason says so), and closes the
// session.
func sessionRunAll(b *testing.B, nc *nats.Conn, notebook []byte, cells int) time.Duration {
	b.Helper()
	id := openSession(b, nc, notebook)
	defer closeSession(b, nc, id)
	return runAll(b, nc, id, cells)
}

// openSession opens a session of notebook (inline JSON, or a path under
// the daemon's notebooks as a JSON string) and returns its id.
func openSession(b *testing.B, nc *nats.Conn, notebook []byte) string {
	b.Helper()
	var opened jobapi.OpenReply
	request(b, nc, jobapi.OpenSubject, jobapi.OpenRequest{Notebook: notebook}, &opened)
	return opened.SessionID
}

func closeSession(b *testing.B, nc *nats.Conn, id string) {
	b.Helper()
	request(b, nc, jobapi.SessionSubject(id, "close"), nil, nil)
}

// runAll runs every cell of session id and waits for the event that ends
// the run, which must say that all cells succeeded; it returns the time
// from the request to that event.
func runAll(b *testing.B, nc *nats.Conn, id string, cells int) time.Duration {
	b.Helper()
	ended := make(chan natsbus.Payload, 16)
	sub, err := nc.Subscribe(natsbus.SubjectPrefix+"."+natsbus.Token(id)+"."+natsbus.SessionToken+"."+natsbus.SessionToken, func(m *nats.Msg) {
		var p natsbus.Payload
		if json.Unmarshal(m.Data, &p) == nil && p.Run != nil && p.Status != string(engine.StatusRunning) {
			ended <- p
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var run struct{ Run string }
	request(b, nc, jobapi.SessionSubject(id, "run"), jobapi.RunRequest{}, &run)
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case p := <-ended:
			if *p.Run != run.Run {
				continue
			}
			d := time.Since(start)
			want := fmt.Sprintf("run %s done: %d success", run.Run, cells)
			if p.Status != string(engine.StatusSuccess) || p.Reason != want {
				b.Fatalf("session %s: run ended %s (%s), want success (%s)", id, p.Status, p.Reason, want)
			}
			return d
		case <-timeout:
			b.Fatalf("session %s: run %s has not ended after 5 minutes", id, run.Run)
		}
	}
}

// startDaemon opens a daemon with an embedded NATS server on free ports,
// closed when b ends.
func startDaemon(b *testing.B, dataDir string) *daemon.Daemon {
	b.Helper()
	d := daemon.New(daemon.Config{NATSListen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: dataDir, Notebooks: "../fixtures/notebooks",
		Logger: slog.New(slog.DiscardHandler)})
	if err := d.Open(context.Background()); err != nil {
		b.Fatalf("open daemon: %v", err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			b.Errorf("close daemon: %v", err)
		}
	})
	return d
}

func connect(b *testing.B, url string) *nats.Conn {
	b.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return nc
}

// request sends a job API request and decodes the reply into out (when
// not nil); an error reply fails b.
func request(b *testing.B, nc *nats.Conn, subject string, body, out any) {
	b.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		b.Fatal(err)
	}
	if raw, ok := body.([]byte); ok {
		data = raw
	}
	msg, err := nc.Request(subject, data, 2*time.Minute)
	if err != nil {
		b.Fatalf("%s: %v", subject, err)
	}
	var e struct {
		Error *jobapi.Error `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &e); err == nil && e.Error != nil {
		b.Fatalf("%s: %v", subject, e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(msg.Data, out); err != nil {
			b.Fatalf("%s: %v", subject, err)
		}
	}
}
