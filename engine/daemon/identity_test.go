package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/natstest"
	"github.com/cellsd/cellsd/internal/poll"
)

// bucketKeys reads the bucket's keys under prefix (a late joiner's step 2).
func bucketKeys(t testing.TB, js jetstream.JetStream, prefix string) map[string]natsbus.Payload {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), natsbus.BucketName)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(context.Background(), prefix, jetstream.IgnoreDeletes())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	out := map[string]natsbus.Payload{}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		var p natsbus.Payload
		if err := json.Unmarshal(e.Value(), &p); err != nil {
			t.Fatal(err)
		}
		out[e.Key()] = p
	}
	return out
}

func openFull(t testing.TB, nc *nats.Conn, req jobapi.OpenRequest) jobapi.OpenReply {
	t.Helper()
	var r jobapi.OpenReply
	request(t, nc, "cellsd.v1.api.open", req, &r)
	return r
}

// TestDaemon_OpenReplySubjects: open gives the escaped subjects and the
// bucket prefix, and they are the ones the session answers and publishes
// on.
func TestDaemon_OpenReplySubjects(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := connect(t, d.NATSURL())
	r := openFull(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: "my.sess 1"[:7]})
	want := jobapi.OpenReply{SessionID: "my.sess", KV: "my=2Esess.>",
		Subjects: jobapi.OpenSubjects{API: "cellsd.v1.session.my=2Esess", Events: "cellsd.v1.events.my=2Esess.>"}}
	if r.Token == "" {
		t.Errorf("open reply has no session token")
	}
	if r.Token = ""; r != want {
		t.Fatalf("open reply %+v, want %+v", r, want)
	}
	got := make(chan string, 100)
	sub, _ := nc.Subscribe(r.Subjects.Events, func(m *nats.Msg) { got <- m.Subject })
	defer sub.Unsubscribe()
	var run struct{ Run string }
	request(t, nc, r.Subjects.API+".run", nil, &run)
	select {
	case s := <-got:
		if !strings.HasPrefix(s, "cellsd.v1.events.my=2Esess.") {
			t.Errorf("event on %s", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no event on the subject open gave")
	}
}

// TestDaemon_SessionIDs: ids that are not 1-128 printable bytes without
// whitespace are a bad_request, and a ~4,100-character one leaves the
// daemon's NATS connection up: it answers the next open.
func TestDaemon_SessionIDs(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := connect(t, d.NATSURL())
	bad := map[string]string{
		"TooLong":    strings.Repeat("x", 129),
		"Huge":       strings.Repeat("é.", 1370), // 4,110 characters, 5,480 bytes
		"Space":      "a b",
		"Tab":        "a\tb",
		"Newline":    "a\nb",
		"Control":    "a\x01b",
		"NoBreakSpc": "a\u00a0b",
	}
	for name, id := range bad {
		t.Run(name, func(t *testing.T) {
			err := tryRequest(nc, "cellsd.v1.api.open", jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: id}, nil)
			ae, ok := err.(*jobapi.Error)
			if !ok || ae.Code != jobapi.CodeBadRequest || !strings.Contains(ae.Message, "sessionId") {
				t.Fatalf("open with id %.20q: %v, want bad_request about sessionId", id, err)
			}
		})
	}
	for _, id := range []string{strings.Repeat("y", 128), "é/ünïcode~!@#$%^&*()[]{}<>", "a.b*c>d"} {
		r := openFull(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: id})
		if r.SessionID != id {
			t.Errorf("open %q gave %q", id, r.SessionID)
		}
		var st jobapi.StatusReply
		request(t, nc, r.Subjects.API+".status", nil, &st)
		if st.SessionID != id || len(st.Cells) != 7 {
			t.Errorf("status of %q: %q, %d cells", id, st.SessionID, len(st.Cells))
		}
	}
	if m := metrics(t, d); m[`cellsd_api_requests_total{op="open",outcome="bad_request"}`] != float64(len(bad)) {
		t.Errorf("metrics count %v bad opens, want %d", m[`cellsd_api_requests_total{op="open",outcome="bad_request"}`], len(bad))
	}
}

// TestDaemon_Reincarnation reopens s1 after closing it and runs it again.
// A late joiner following the README (subscribe, read the bucket, apply
// newer events) sees only the new incarnation's keys, and seq strictly
// increasing past the old incarnation's maximum.
func TestDaemon_Reincarnation(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := connect(t, d.NATSURL())
	js, _ := jetstream.New(nc)

	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: "s1"})
	first := subscribe(t, nc, "s1")
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject("s1", "run"), nil, &r)
	first.waitRun(t, r.Run)
	request(t, nc, jobapi.SessionSubject("s1", "close"), nil, nil)
	var oldMax int64
	poll.Until(t, 10*time.Second, 5*time.Millisecond, func() error {
		evs := first.all()
		if last := evs[len(evs)-1]; last.Status != "closed" {
			return fmt.Errorf("last event %s", last.Status)
		}
		oldMax = evs[len(evs)-1].Seq
		return nil
	})
	// The old incarnation's keys, every one of them: a different notebook
	// this time, whose keys overlap only in the session's own.
	if old := bucketKeys(t, js, "s1.>"); len(old) != 8 {
		t.Fatalf("old incarnation left %d keys, want 8", len(old))
	}

	nb := chainNotebook(5, 1000)
	openFull(t, nc, jobapi.OpenRequest{Notebook: nb, SessionID: "s1"})
	// Right after open, nothing of the earlier incarnation is left.
	if keys := bucketKeys(t, js, "s1.>"); len(keys) != 0 {
		t.Fatalf("after reopening, the bucket holds %d keys of s1: %v", len(keys), keys)
	}
	// The late joiner, by the README.
	var got []natsbus.Payload
	msgs := make(chan *nats.Msg, 1000)
	sub, err := nc.ChanSubscribe("cellsd.v1.events.s1.>", msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()
	state := bucketKeys(t, js, "s1.>")
	request(t, nc, jobapi.SessionSubject("s1", "run"), nil, &r)
	deadline := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case m := <-msgs:
			var p natsbus.Payload
			json.Unmarshal(m.Data, &p)
			key := strings.TrimPrefix(m.Subject, natsbus.SubjectPrefix+".")
			if s, ok := state[key]; ok && p.Seq <= s.Seq {
				continue // the README's step 3: drop what the bucket had
			}
			state[key] = p
			got = append(got, p)
			done = p.Cell == natsbus.SessionToken && p.Status == "success"
		case <-deadline:
			t.Fatalf("run did not end; got %d events", len(got))
		}
	}
	if len(got) == 0 || got[0].Seq != oldMax+1 {
		t.Fatalf("first event of the new incarnation has seq %d, want %d (old max + 1)", got[0].Seq, oldMax+1)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("seq %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
	keys := bucketKeys(t, js, "s1.>")
	var names []string
	for k, p := range keys {
		names = append(names, k)
		if p.Seq <= oldMax {
			t.Errorf("key %s has seq %d of the old incarnation (max %d)", k, p.Seq, oldMax)
		}
	}
	sort.Strings(names)
	want := "s1._session._session s1.a.c001 s1.a.c002 s1.a.c003 s1.a.c004 s1.a.c005"
	if strings.Join(names, " ") != want {
		t.Errorf("keys %v, want %s", names, want)
	}
	var st jobapi.StatusReply
	request(t, nc, jobapi.SessionSubject("s1", "status"), nil, &st)
	if st.Seq != got[len(got)-1].Seq {
		t.Errorf("status seq %d, last event %d", st.Seq, got[len(got)-1].Seq)
	}
	t.Logf("old incarnation ended at seq %d; the new one ran seq %d..%d", oldMax, got[0].Seq, got[len(got)-1].Seq)
}

// TestDaemon_ConflictAcrossDaemons: an id live on one daemon is a conflict
// for every daemon on the NATS, and of two daemons that get the same open
// at once exactly one opens it.
func TestDaemon_ConflictAcrossDaemons(t *testing.T) {
	srv := natstest.RunServer(t, -1, t.TempDir())
	t.Cleanup(srv.Shutdown) // after the daemons' Close
	d1 := startDaemon(t, daemon.Config{NATSURL: srv.ClientURL()})
	nc := connect(t, srv.ClientURL())
	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: "shared"})
	d2 := startDaemon(t, daemon.Config{NATSURL: srv.ClientURL()})
	for i := 0; i < 12; i++ {
		err := tryRequest(nc, "cellsd.v1.api.open", jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: "shared"}, nil)
		if ae, ok := err.(*jobapi.Error); !ok || ae.Code != jobapi.CodeConflict {
			t.Fatalf("open %d of a live id: %v, want conflict", i, err)
		}
	}
	if n := metrics(t, d2)[`cellsd_api_requests_total{op="open",outcome="conflict"}`]; n == 0 {
		t.Errorf("the other daemon answered none of the opens (chance 1 in 4096)")
	} else {
		t.Logf("the other daemon refused %v of 12 opens", n)
	}

	// Two daemons in different queue groups both get every open.
	d3 := startDaemon(t, daemon.Config{NATSURL: srv.ClientURL(), Queue: "other"})
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("race-%d", i)
		tryRequest(nc, "cellsd.v1.api.open", jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: id}, nil)
		poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
			owners := 0
			for _, d := range []*daemon.Daemon{d1, d2, d3} {
				for _, s := range d.Sessions() {
					if s == id {
						owners++
					}
				}
			}
			if owners != 1 {
				return fmt.Errorf("%s is open on %d daemons", id, owners)
			}
			return nil
		})
	}
}

// TestDaemon_SessionsOp: every daemon answers with its own sessions, with
// its name and HTTP address.
func TestDaemon_SessionsOp(t *testing.T) {
	srv := natstest.RunServer(t, -1, t.TempDir())
	t.Cleanup(srv.Shutdown) // after the daemons' Close
	d1 := startDaemon(t, daemon.Config{NATSURL: srv.ClientURL(), Name: "alpha"})
	d2 := startDaemon(t, daemon.Config{NATSURL: srv.ClientURL(), Name: "beta"})
	nc := connect(t, srv.ClientURL())
	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: "q1"})
	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath("sqlrooms-ui.json"), SessionID: "q2"})
	ui := mustJSON(t, map[string]any{"data": map[string]any{}, "artifacts": map[string]any{}})
	open(t, nc, jobapi.OpenRequest{Notebook: ui, SessionID: "q3"})

	inbox := nats.NewInbox()
	replies, _ := nc.SubscribeSync(inbox)
	defer replies.Unsubscribe()
	if err := nc.PublishRequest("cellsd.v1.api.sessions", inbox, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	byID := map[string]jobapi.SessionInfo{}
	daemons := 0
	for { // gather until 250 ms pass with none
		m, err := replies.NextMsg(250 * time.Millisecond)
		if err != nil {
			break
		}
		daemons++
		var r jobapi.SessionsReply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatalf("%s: %v", m.Data, err)
		}
		for _, s := range r.Sessions {
			byID[s.SessionID] = s
		}
	}
	if daemons != 2 || len(byID) != 3 {
		t.Fatalf("%d daemons answered with %d sessions, want 2 and 3", daemons, len(byID))
	}
	http := map[string]string{"alpha": "http://" + d1.HTTPAddr(), "beta": "http://" + d2.HTTPAddr()}
	for id, want := range map[string]struct {
		title string
		path  *string
		cells int
	}{"q1": {"Quickstart", ptr(quickstart), 7}, "q2": {"Saved from the SQLRooms UI", ptr("sqlrooms-ui.json"), 5}, "q3": {"", nil, 0}} {
		s := byID[id]
		if s.Title != want.title || fmt.Sprint(deref(s.Path)) != fmt.Sprint(deref(want.path)) || (s.Path == nil) != (want.path == nil) || s.Cells != want.cells {
			t.Errorf("%s: %+v, want %+v", id, s, want)
		}
		if s.Daemon.HTTP != http[s.Daemon.Name] {
			t.Errorf("%s: daemon %+v", id, s.Daemon)
		}
		if ts, err := time.Parse(time.RFC3339, s.OpenedAt); err != nil || time.Since(ts) > time.Minute {
			t.Errorf("%s: openedAt %q", id, s.OpenedAt)
		}
	}
}

func ptr(s string) *string { return &s }
