package natsbus_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/leaktest"
	"github.com/cellsd/cellsd/internal/natstest"
)

func TestToken(t *testing.T) {
	for in, want := range map[string]string{
		"c1":        "c1",
		"my-cell_2": "my-cell_2",
		"my.cell":   "my=2Ecell",
		"a b*>":     "a=20b=2A=3E",
		"x=y":       "x=3Dy",
		"é":         "=C3=A9",
		"":          "=",
	} {
		if got := natsbus.Token(in); got != want {
			t.Errorf("Token(%q) = %q, want %q", in, got, want)
		}
	}
	if natsbus.Token("a.b") == natsbus.Token("a_b") {
		t.Error("distinct ids share a token")
	}
}

func TestPayload_Shape(t *testing.T) {
	rows := int64(10)
	at := time.Date(2026, 11, 27, 10, 0, 0, 123456000, time.UTC)
	cases := []struct {
		name string
		ev   engine.Event
		want string
	}{
		{"running", engine.Event{Seq: 42, Time: at, Session: "s1", Artifact: "nb1", Cell: "c2", Run: "r7",
			Status: engine.StatusRunning, Prev: engine.StatusQueued, Reason: "dependencies ready", Relation: "__sqlrooms_ephemeral.artifact_nb1.b"},
			`{"v":1,"seq":42,"ts":"2026-11-27T10:00:00.123456Z","session":"s1","artifact":"nb1","cell":"c2","run":"r7","status":"running","prev":"queued","reason":"dependencies ready","relation":"__sqlrooms_ephemeral.artifact_nb1.b","rows":null,"durationMs":null,"cached":false,"error":null}`},
		{"success", engine.Event{Seq: 43, Time: at, Session: "s1", Artifact: "nb1", Cell: "c2",
			Status: engine.StatusSuccess, Prev: engine.StatusRunning, Reason: "executed", Rows: &rows, Duration: 3200 * time.Microsecond},
			`{"v":1,"seq":43,"ts":"2026-11-27T10:00:00.123456Z","session":"s1","artifact":"nb1","cell":"c2","run":null,"status":"success","prev":"running","reason":"executed","relation":null,"rows":10,"durationMs":3.2,"cached":false,"error":null}`},
		{"error", engine.Event{Seq: 44, Time: at, Session: "s1", Artifact: "nb1", Cell: "c3",
			Status: engine.StatusError, Prev: engine.StatusRunning, Reason: "failed: boom", Err: "boom at line 2, column 5"},
			`{"v":1,"seq":44,"ts":"2026-11-27T10:00:00.123456Z","session":"s1","artifact":"nb1","cell":"c3","run":null,"status":"error","prev":"running","reason":"failed: boom","relation":null,"rows":null,"durationMs":0,"cached":false,"error":"boom at line 2, column 5"}`},
		{"ts in UTC, always six decimals", engine.Event{Seq: 46, Time: time.Date(2026, 11, 27, 11, 0, 0, 120000789, time.FixedZone("CET", 3600)), Session: "s1", Artifact: "nb1", Cell: "c2",
			Status: engine.StatusQueued, Prev: engine.StatusSuccess, Reason: "run all"},
			`{"v":1,"seq":46,"ts":"2026-11-27T10:00:00.120000Z","session":"s1","artifact":"nb1","cell":"c2","run":null,"status":"queued","prev":"success","reason":"run all","relation":null,"rows":null,"durationMs":null,"cached":false,"error":null}`},
		{"blocked: did not run, no duration", engine.Event{Seq: 47, Time: at, Session: "s1", Artifact: "nb1", Cell: "c4",
			Status: engine.StatusBlocked, Prev: engine.StatusQueued, Reason: "blocked: c3 failed"},
			`{"v":1,"seq":47,"ts":"2026-11-27T10:00:00.123456Z","session":"s1","artifact":"nb1","cell":"c4","run":null,"status":"blocked","prev":"queued","reason":"blocked: c3 failed","relation":null,"rows":null,"durationMs":null,"cached":false,"error":null}`},
		{"session", engine.Event{Seq: 45, Time: at, Session: "s1", Run: "r7", Status: engine.StatusSuccess, Reason: "run r7 done: 2 success", Duration: time.Second},
			`{"v":1,"seq":45,"ts":"2026-11-27T10:00:00.123456Z","session":"s1","artifact":null,"cell":"_session","run":"r7","status":"success","prev":null,"reason":"run r7 done: 2 success","relation":null,"rows":null,"durationMs":1000,"cached":false,"error":null}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(natsbus.Marshal(c.ev)); got != c.want {
				t.Errorf("payload\n got %s\nwant %s", got, c.want)
			}
		})
	}
	if got := natsbus.Subject(cases[5].ev); got != "cellsd.v1.events.s1._session._session" {
		t.Errorf("session subject %s", got)
	}
	if got := natsbus.Subject(engine.Event{Session: "s.1", Artifact: "nb", Cell: "c 1"}); got != "cellsd.v1.events.s=2E1.nb.c=201" {
		t.Errorf("cell subject %s", got)
	}
}

// TestPublisher_OutageThenClose: events given while NATS is down wait, go
// out in order once it is back, and the bucket ends with the latest state
// of each cell. Close with NATS down gives up at its deadline, saying how
// many events were lost, and leaves no goroutine behind.
func TestPublisher_OutageThenClose(t *testing.T) {
	verify := leaktest.Start(t)
	port := natstest.FreePort(t)
	dir := t.TempDir()
	srv := natstest.RunServer(t, port, dir)
	bs := connectBus(t, srv.ClientURL())

	obs := bs.pub.Observer()
	give := func(from, to int) {
		for i := from; i <= to; i++ {
			obs(engine.Event{Seq: int64(i), Time: time.Now(), Session: "o", Artifact: "a", Cell: []string{"x", "y"}[i%2],
				Status: []engine.Status{engine.StatusQueued, engine.StatusRunning, engine.StatusSuccess}[i%3]})
		}
	}
	give(1, 100)
	if err := bs.pub.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	give(101, 300)
	time.Sleep(100 * time.Millisecond)
	if n := bs.pub.Buffered(); n == 0 {
		t.Fatal("events given during the outage are not buffered")
	}
	srv = natstest.RunServer(t, port, dir)
	if err := bs.pub.Flush(ctxTimeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	evs, err := natstest.SessionEvents(ctxTimeout(t, 10*time.Second), bs.js, "o")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 300 {
		t.Fatalf("stream holds %d events, want 300", len(evs))
	}
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("stream event %d has seq %d", i, ev.Seq)
		}
	}
	kv, err := bs.js.KeyValue(context.Background(), natsbus.BucketName)
	if err != nil {
		t.Fatal(err)
	}
	for cell, seq := range map[string]int64{"x": 300, "y": 299} {
		e, err := kv.Get(context.Background(), "o.a."+cell)
		if err != nil {
			t.Fatal(err)
		}
		var p natsbus.Payload
		json.Unmarshal(e.Value(), &p)
		if p.Seq != seq {
			t.Errorf("bucket has %s at seq %d, want %d", cell, p.Seq, seq)
		}
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	give(301, 310)
	start := time.Now()
	err = bs.pub.Close(ctxTimeout(t, 500*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "10 events not published") {
		t.Errorf("Close with NATS down: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v past its deadline", d)
	}
	bs.close()
	verify()
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
