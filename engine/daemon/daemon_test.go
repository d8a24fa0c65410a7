package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/natsbus"
)

const quickstart = "../../fixtures/notebooks/quickstart.json"

// startDaemon opens a daemon with an embedded NATS server on free ports
// (or on cfg.NATSURL) and closes it at the end of the test.
func startDaemon(t testing.TB, cfg daemon.Config) *daemon.Daemon {
	t.Helper()
	if cfg.NATSURL == "" {
		cfg.NATSListen = "127.0.0.1:0"
		if cfg.DataDir == "" {
			cfg.DataDir = t.TempDir()
		}
	}
	cfg.HTTPAddr = "127.0.0.1:0"
	d := daemon.New(cfg)
	if err := d.Open(context.Background()); err != nil {
		t.Fatalf("open daemon: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("close daemon: %v", err)
		}
	})
	return d
}

// runServer starts a NATS server with JetStream on port (-1: a free one)
// storing in dir, as nats-server's own tests do.
func runServer(t testing.TB, port int, dir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	return s
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// request sends a job API request and decodes the reply into out; an
// error reply fails the test.
func request(t testing.TB, nc *nats.Conn, subject string, body any, out any) {
	t.Helper()
	if err := tryRequest(nc, subject, body, out); err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
}

func tryRequest(nc *nats.Conn, subject string, body any, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	msg, err := nc.Request(subject, data, 60*time.Second)
	if err != nil {
		return err
	}
	var e struct {
		Error *daemon.APIError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &e); err == nil && e.Error != nil {
		return e.Error
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(msg.Data, out)
}

func open(t testing.TB, nc *nats.Conn, req daemon.OpenRequest) string {
	t.Helper()
	var r struct{ SessionID string }
	request(t, nc, "cellsd.v1.api.open", req, &r)
	return r.SessionID
}

func notebookPath(path string) json.RawMessage {
	data, _ := json.Marshal(path)
	return data
}

// events collects a session's events as they arrive.
type events struct {
	mu  sync.Mutex
	evs []natsbus.Payload
	sub *nats.Subscription
}

func subscribe(t testing.TB, nc *nats.Conn, session string) *events {
	t.Helper()
	e := &events{}
	sub, err := nc.Subscribe(natsbus.SessionSubject(session), func(m *nats.Msg) {
		var p natsbus.Payload
		if err := json.Unmarshal(m.Data, &p); err != nil {
			t.Errorf("event %s: %v", m.Subject, err)
			return
		}
		e.mu.Lock()
		e.evs = append(e.evs, p)
		e.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	e.sub = sub
	return e
}

func (e *events) all() []natsbus.Payload {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]natsbus.Payload(nil), e.evs...)
}

// waitRun waits for the session event that ends run.
func (e *events) waitRun(t testing.TB, run string) natsbus.Payload {
	t.Helper()
	var end natsbus.Payload
	checkFor(t, 60*time.Second, 5*time.Millisecond, func() error {
		for _, ev := range e.all() {
			if ev.Cell == natsbus.SessionToken && ev.Run != nil && *ev.Run == run && ev.Status != "running" {
				end = ev
				return nil
			}
		}
		return fmt.Errorf("run %s has not ended", run)
	})
	return end
}

func checkFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(every)
	}
}

func line(ev natsbus.Payload) string {
	s := ev.Cell + " " + ev.Status
	if ev.Reason != "" {
		s += " (" + ev.Reason + ")"
	}
	return s
}

// TestDaemon_QuickstartEdit opens the quickstart, runs it, edits the input
// cell, and checks the exact sequence of events the edit causes.
func TestDaemon_QuickstartEdit(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	testQuickstartEdit(t, connect(t, d.NATSURL()))
}

// TestDaemon_MachineNATS is the same against the machine's nats-server
// on 127.0.0.1:4222, when there is one.
func TestDaemon_MachineNATS(t *testing.T) {
	const url = "nats://127.0.0.1:4222"
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		t.Skipf("no nats-server on %s: %v", url, err)
	}
	nc.Close()
	// A queue group of its own, so no other daemon on that server answers.
	d := startDaemon(t, daemon.Config{NATSURL: url, Queue: "cellsd-test-" + t.Name()})
	_ = d
	testQuickstartEdit(t, connect(t, url))
}

func testQuickstartEdit(t *testing.T, nc *nats.Conn) {
	id := open(t, nc, daemon.OpenRequest{Notebook: notebookPath(quickstart), SessionID: fmt.Sprintf("qs-%d", time.Now().UnixNano())})
	evs := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, daemon.SessionSubject(id, "run"), daemon.RunRequest{}, &r)
	if end := evs.waitRun(t, r.Run); end.Status != "success" {
		t.Fatalf("first run ended %s (%s)", end.Status, end.Reason)
	}
	first := len(evs.all())

	request(t, nc, daemon.SessionSubject(id, "update"), map[string]any{"cellId": "min_amount", "value": 800}, &r)
	evs.waitRun(t, r.Run)
	all := evs.all()
	var got []string
	for _, ev := range all[first:] {
		got = append(got, line(ev))
	}
	want := []string{
		"_session running (run r2: 2 cells)",
		"big queued (upstream min_amount changed)",
		"summary queued (upstream min_amount changed)",
		"big running (dependencies ready)",
		"big success (executed)",
		"summary running (dependencies ready)",
		"summary success (executed)",
		"_session success (run r2 done: 2 success)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events of the edit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, ev := range all {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: want contiguous seq from 1", i, ev.Seq)
		}
	}
	var st daemon.StatusReply
	request(t, nc, daemon.SessionSubject(id, "status"), nil, &st)
	if st.Seq != all[len(all)-1].Seq {
		t.Errorf("status seq %d, last event %d", st.Seq, all[len(all)-1].Seq)
	}
	for _, c := range st.Cells {
		if c.Status != "success" {
			t.Errorf("cell %s is %s after the edit", c.Cell, c.Status)
		}
	}
	request(t, nc, daemon.SessionSubject(id, "close"), nil, nil)
}
