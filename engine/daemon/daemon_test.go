package daemon_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/leaktest"
	"github.com/cellsd/cellsd/internal/poll"
)

// quickstart is opened by path, under --notebooks fixtures/notebooks.
const quickstart = "quickstart.json"

const fixtureNotebooks = "../../fixtures/notebooks"

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
	if cfg.Notebooks == "" {
		cfg.Notebooks = fixtureNotebooks
	}
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
		Error *jobapi.Error `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &e); err == nil && e.Error != nil {
		return e.Error
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(msg.Data, out)
}

func open(t testing.TB, nc *nats.Conn, req jobapi.OpenRequest) string {
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
	poll.Until(t, 60*time.Second, 5*time.Millisecond, func() error {
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
		if os.Getenv("CI") != "" {
			t.Fatalf("no nats-server on %s: %v (CI is set, so this fails instead of skipping)", url, err)
		}
		t.Skipf("SKIP: no nats-server on %s: %v", url, err)
	}
	nc.Close()
	// A queue group of its own, so no other daemon on that server answers.
	d := startDaemon(t, daemon.Config{NATSURL: url, Queue: "cellsd-test-" + t.Name()})
	_ = d
	testQuickstartEdit(t, connect(t, url))
}

func testQuickstartEdit(t *testing.T, nc *nats.Conn) {
	id := open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: fmt.Sprintf("qs-%d", time.Now().UnixNano())})
	evs := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject(id, "run"), jobapi.RunRequest{}, &r)
	if end := evs.waitRun(t, r.Run); end.Status != "success" {
		t.Fatalf("first run ended %s (%s)", end.Status, end.Reason)
	}
	first := len(evs.all())

	request(t, nc, jobapi.SessionSubject(id, "update"), map[string]any{"cellId": "min_amount", "value": 450}, &r)
	evs.waitRun(t, r.Run)
	all := evs.all()
	var got []string
	for _, ev := range all[first:] {
		got = append(got, line(ev))
	}
	want := []string{
		"_session running (run r2: 2 cells)",
		"big queued (upstream Minimum order amount (min_amount) changed)",
		"summary queued (upstream Minimum order amount (min_amount) changed)",
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
	var st jobapi.StatusReply
	request(t, nc, jobapi.SessionSubject(id, "status"), nil, &st)
	if st.Seq != all[len(all)-1].Seq {
		t.Errorf("status seq %d, last event %d", st.Seq, all[len(all)-1].Seq)
	}
	// Each cell's state is its latest event, as the bucket holds it.
	latest := map[string]natsbus.Payload{}
	for _, ev := range all {
		latest[ev.Cell] = ev
	}
	for _, c := range st.Cells {
		if c.Status != "success" {
			t.Errorf("cell %s is %s after the edit", c.Cell, c.Status)
		}
		if got, want := string(mustJSON(t, c.Payload)), string(mustJSON(t, latest[c.Cell])); got != want {
			t.Errorf("status of %s:\n got %s\nwant %s (its latest event)", c.Cell, got, want)
		}
	}
	request(t, nc, jobapi.SessionSubject(id, "close"), nil, nil)
}

// TestDaemon_APIErrors checks the error replies of the job API.
func TestDaemon_APIErrors(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := connect(t, d.NATSURL())
	id := open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: "errs"})
	cases := []struct {
		name, subject string
		body          any
		code, substr  string
	}{
		{"MissingNotebook", "cellsd.v1.api.open", map[string]any{}, jobapi.CodeBadRequest, "missing notebook"},
		{"NoSuchFile", "cellsd.v1.api.open", map[string]any{"notebook": "nope.json"}, jobapi.CodeNotFound, "no such notebook"},
		{"BadNotebook", "cellsd.v1.api.open", map[string]any{"notebook": map[string]any{"data": 7}}, jobapi.CodeLoad, ""},
		{"UnknownField", "cellsd.v1.api.open", map[string]any{"notebook": "x.json", "colour": "red"}, jobapi.CodeBadRequest, "colour"},
		{"BadMode", "cellsd.v1.api.open", map[string]any{"notebook": quickstart, "mode": "eager"}, jobapi.CodeBadRequest, "eager"},
		{"SessionTaken", "cellsd.v1.api.open", map[string]any{"notebook": quickstart, "sessionId": "errs"}, jobapi.CodeConflict, "errs"},
		{"UnknownCell", jobapi.SessionSubject(id, "run"), map[string]any{"cellId": "nope"}, jobapi.CodeNotFound, "nope"},
		{"RunBadMode", jobapi.SessionSubject(id, "run"), map[string]any{"mode": "bogus"}, jobapi.CodeBadRequest, "bogus"},
		{"UnknownArtifact", jobapi.SessionSubject(id, "run"), map[string]any{"artifact": "nope"}, jobapi.CodeNotFound, "nope"},
		{"UpdateUnknownCell", jobapi.SessionSubject(id, "update"), map[string]any{"cellId": "nope", "sql": "SELECT 1"}, jobapi.CodeNotFound, "nope"},
		{"ValueOfSQLCell", jobapi.SessionSubject(id, "update"), map[string]any{"cellId": "sales", "value": 3}, jobapi.CodeBadRequest, "not an input cell"},
		{"CancelUnknownCell", jobapi.SessionSubject(id, "cancel"), map[string]any{"cellId": "nope"}, jobapi.CodeNotFound, "nope"},
		{"UnknownOp", jobapi.SessionSubject(id, "explode"), nil, jobapi.CodeNotFound, "explode"},
		{"Malformed", jobapi.SessionSubject(id, "run"), "{", jobapi.CodeBadRequest, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if s, ok := c.body.(string); ok {
				var msg *nats.Msg
				msg, err = nc.Request(c.subject, []byte(s), 10*time.Second)
				if err == nil {
					var e struct{ Error *jobapi.Error }
					json.Unmarshal(msg.Data, &e)
					if e.Error != nil {
						err = e.Error
					}
				}
			} else {
				err = tryRequest(nc, c.subject, c.body, nil)
			}
			ae, ok := err.(*jobapi.Error)
			if !ok {
				t.Fatalf("want an API error %s, got %v", c.code, err)
			}
			if ae.Code != c.code || !strings.Contains(ae.Message, c.substr) {
				t.Errorf("got %s %q, want %s containing %q", ae.Code, ae.Message, c.code, c.substr)
			}
		})
	}
	// A closed session no longer answers.
	request(t, nc, jobapi.SessionSubject(id, "close"), nil, nil)
	if _, err := nc.Request(jobapi.SessionSubject(id, "status"), nil, time.Second); err != nats.ErrNoResponders {
		t.Errorf("status of a closed session: %v, want no responders", err)
	}
}

// TestDaemon_CloseLeavesNothing opens, runs and closes a daemon with an
// embedded server: no goroutine is left.
func TestDaemon_CloseLeavesNothing(t *testing.T) {
	verify := leaktest.Start(t)
	d := daemon.New(daemon.Config{NATSListen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), Notebooks: fixtureNotebooks})
	if err := d.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(d.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	id := open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart)})
	request(t, nc, jobapi.SessionSubject(id, "run"), nil, nil) // left running
	nc.Close()
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	verify()
}

// TestDaemon_SharedDB attaches --db read-only into every session: two
// sessions read its table unqualified, and neither can write it.
func TestDaemon_SharedDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.duckdb")
	c, err := duckdb.NewConnector(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	if _, err := db.Exec(`CREATE TABLE raw AS SELECT range AS id FROM range(42)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c.Close()

	d := startDaemon(t, daemon.Config{DBPath: path})
	nc := connect(t, d.NATSURL())
	nb, _ := json.Marshal(map[string]any{
		"data": map[string]any{
			"n":     map[string]any{"id": "n", "type": "sql", "data": map[string]any{"title": "n", "sql": "SELECT count(*) AS n FROM raw", "resultName": "n"}},
			"write": map[string]any{"id": "write", "type": "sql", "data": map[string]any{"title": "write", "sql": "INSERT INTO shared.main.raw VALUES (1)"}},
		},
		"artifacts": map[string]any{"a": map[string]any{"id": "a", "schemaName": "artifact_a", "cellIds": []string{"n", "write"}, "edges": []any{}}},
	})
	for range 2 {
		id := open(t, nc, jobapi.OpenRequest{Notebook: nb})
		evs := subscribe(t, nc, id)
		var r struct{ Run string }
		request(t, nc, jobapi.SessionSubject(id, "run"), nil, &r)
		evs.waitRun(t, r.Run)
		var st jobapi.StatusReply
		request(t, nc, jobapi.SessionSubject(id, "status"), nil, &st)
		for _, c := range st.Cells {
			switch {
			case c.Cell == "n" && (c.Status != "success" || c.Rows == nil || *c.Rows != 1):
				t.Errorf("reading the shared table: %s %v", c.Status, deref(c.Error))
			case c.Cell == "write" && (c.Status != "error" || !strings.Contains(deref(c.Error), "read-only")):
				t.Errorf("writing the shared table: %s %v", c.Status, deref(c.Error))
			}
		}
	}
}

// TestDaemon_WebSocket reaches the embedded server the way a browser
// frontend does, over WebSocket: the job API and the events work there.
func TestDaemon_WebSocket(t *testing.T) {
	d := startDaemon(t, daemon.Config{NATSWebsocket: "127.0.0.1:0"})
	url := d.WebsocketURL()
	if !strings.HasPrefix(url, "ws://127.0.0.1:") {
		t.Fatalf("websocket URL %q", url)
	}
	nc := connect(t, url)
	id := open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart)})
	evs := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject(id, "run"), nil, &r)
	if end := evs.waitRun(t, r.Run); end.Status != "success" {
		t.Errorf("run over WebSocket ended %s", end.Status)
	}
	// With no --allow-origin, no page of another site gets in.
	if code := wsHandshake(t, url, "http://evil.example"); code != http.StatusForbidden {
		t.Errorf("WebSocket from another site: %d, want 403", code)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
