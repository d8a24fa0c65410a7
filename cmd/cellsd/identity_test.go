package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/natstest"
)

// kvDump is every entry of a bucket, revision included, and its stream's
// state: what "byte-for-byte unchanged" compares.
type kvDump struct {
	Entries map[string]string
	State   jetstream.StreamState
}

func dumpBucket(t *testing.T, js jetstream.JetStream, bucket string) kvDump {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := kvDump{Entries: map[string]string{}, State: info.State}
	kv, _ := js.KeyValue(ctx, bucket)
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for e := range w.Updates() {
		if e == nil {
			break
		}
		d.Entries[e.Key()] = fmt.Sprintf("rev %d op %v: %s", e.Revision(), e.Operation(), e.Value())
	}
	return d
}

func streamState(t *testing.T, js jetstream.JetStream) jetstream.StreamState {
	t.Helper()
	st, err := js.Stream(context.Background(), natsbus.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// TestRun_LiveSession: a batch run on an id a daemon serves exits 2 with
// conflict before running anything, and the daemon's buckets and stream
// are exactly as they were. Once the daemon closes it, a batch run under
// the id continues its seq.
func TestRun_LiveSession(t *testing.T) {
	srv := natstest.RunServer(t, -1, t.TempDir())
	t.Cleanup(srv.Shutdown)
	d := daemon.New(daemon.Config{NATSURL: srv.ClientURL(), HTTPAddr: "127.0.0.1:0", Notebooks: notebooks})
	if err := d.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	apiRequest(t, nc, "cellsd.v1.api.open", map[string]any{"notebook": "quickstart.json", "sessionId": "live"}, nil)
	apiRequest(t, nc, jobapi.SessionSubject("live", "run"), nil, nil)
	waitFor(t, 30*time.Second, func() bool {
		e, err := mustKV(t, js).Get(context.Background(), "live._session._session")
		return err == nil && strings.Contains(string(e.Value()), `"status":"success"`)
	})
	time.Sleep(200 * time.Millisecond) // nothing more is on its way
	status, sessions, events := dumpBucket(t, js, natsbus.BucketName), dumpBucket(t, js, natsbus.SessionsBucket), streamState(t, js)

	code, _, stderr := cellsd(t, "run", notebooks+"quickstart.json", "--nats", srv.ClientURL(), "--session", "live")
	if code != 2 || !strings.Contains(stderr, "conflict") || !strings.Contains(stderr, `"live"`) {
		t.Fatalf("run on a live id: exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "succeeded") {
		t.Errorf("the run ran cells:\n%s", stderr)
	}
	if got := dumpBucket(t, js, natsbus.BucketName); !reflect.DeepEqual(got, status) {
		t.Errorf("CELLSD_STATUS changed:\n%+v\nwas\n%+v", got, status)
	}
	if got := dumpBucket(t, js, natsbus.SessionsBucket); !reflect.DeepEqual(got, sessions) {
		t.Errorf("CELLSD_SESSIONS changed:\n%+v\nwas\n%+v", got, sessions)
	}
	if got := streamState(t, js); !reflect.DeepEqual(got, events) {
		t.Errorf("CELLSD_EVENTS changed: %+v, was %+v", got, events)
	}
	t.Logf("refused: %s; %d keys unchanged", strings.TrimSpace(stderr), len(status.Entries))

	// Closed, the id is free; the batch run continues its seq.
	apiRequest(t, nc, jobapi.SessionSubject("live", "close"), nil, nil)
	var last natsbus.Payload
	waitFor(t, 10*time.Second, func() bool {
		e, err := mustKV(t, js).Get(context.Background(), "live._session._session")
		return err == nil && json.Unmarshal(e.Value(), &last) == nil && last.Status == "closed"
	})
	code, _, stderr = cellsd(t, "run", notebooks+"quickstart.json", "--nats", srv.ClientURL(), "--session", "live")
	if code != 0 {
		t.Fatalf("run on a closed id: exit %d: %s", code, stderr)
	}
	evs, err := natstest.SessionEvents(context.Background(), js, "live")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 {
			t.Fatalf("seq %d after %d across incarnations", evs[i].Seq, evs[i-1].Seq)
		}
	}
	if evs[len(evs)-1].Seq != last.Seq+24 {
		t.Errorf("batch run ended at seq %d, want %d + 24", evs[len(evs)-1].Seq, last.Seq)
	}
	// Only the batch run's keys are left: none of the daemon's session.
	for k, v := range dumpBucket(t, js, natsbus.BucketName).Entries {
		var p natsbus.Payload
		json.Unmarshal([]byte(v[strings.Index(v, ": ")+2:]), &p)
		if strings.HasPrefix(k, "live.") && p.Seq <= last.Seq {
			t.Errorf("key %s of the daemon's incarnation left: %s", k, v)
		}
	}
	code, _, stderr = cellsd(t, "run", notebooks+"quickstart.json", "--nats", srv.ClientURL(), "--session", "bad id")
	if code != 2 || !strings.Contains(stderr, "whitespace") {
		t.Errorf("run --session 'bad id': exit %d: %s", code, stderr)
	}
}

func mustKV(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), natsbus.BucketName)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// slowNotebook has one cell that runs for a long time and one after it.
const slowNotebook = `{"data":{
 "slow":{"id":"slow","type":"sql","data":{"title":"Slow","sql":"SELECT sum(i * i) AS s FROM range(40000000000) t(i)","resultName":"slow"}},
 "after":{"id":"after","type":"sql","data":{"title":"After","sql":"SELECT * FROM slow","resultName":"after"}}},
 "artifacts":{"a":{"id":"a","cellIds":["slow","after"],"edges":[]}}}`

// TestServe_RestartAfterKill: a daemon killed mid-run and started again
// (knowing itself by --data, or by --name on a NATS of its own) closes the
// sessions it owned: the unfinished cells get a final cancel event,
// reason "daemon restarted", and no key stays running; seq goes on.
func TestServe_RestartAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cellsd serve four times")
	}
	for _, tc := range []struct {
		name     string
		external bool
	}{{"ByData", false}, {"ByName", true}} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			args := []string{"--data", data}
			url := ""
			if tc.external {
				srv := natstest.RunServer(t, -1, t.TempDir())
				t.Cleanup(srv.Shutdown)
				url = srv.ClientURL()
				args = []string{"--nats", url, "--name", "alpha"}
			}
			s1 := startServeEnv(t, nil, args...)
			if url == "" {
				url = s1.NATSURL
			}
			nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			apiRequest(t, nc, "cellsd.v1.api.open", map[string]any{"notebook": json.RawMessage(slowNotebook), "sessionId": "k1"}, nil)
			apiRequest(t, nc, jobapi.SessionSubject("k1", "run"), nil, nil)
			waitFor(t, 30*time.Second, func() bool {
				e, err := mustKV(t, js).Get(context.Background(), "k1.a.slow")
				return err == nil && strings.Contains(string(e.Value()), `"status":"running"`)
			})
			s1.cmd.Process.Signal(syscall.SIGKILL)
			<-s1.exited

			if !tc.external {
				// The embedded server comes back with the daemon, on its
				// port.
				s1 = startServeEnv(t, nil, "--data", data, "--nats-listen", strings.TrimPrefix(url, "nats://"))
			} else {
				s1 = startServeEnv(t, nil, args...)
			}
			var keys map[string]natsbus.Payload
			waitFor(t, 30*time.Second, func() bool {
				keys = map[string]natsbus.Payload{}
				for k, v := range dumpBucket(t, js, natsbus.BucketName).Entries {
					if strings.HasPrefix(k, "k1.") {
						var p natsbus.Payload
						json.Unmarshal([]byte(v[strings.Index(v, ": ")+2:]), &p)
						keys[k] = p
					}
				}
				return keys["k1._session._session"].Status == "closed"
			})
			for _, k := range []string{"k1.a.slow", "k1.a.after"} {
				p := keys[k]
				if p.Status != "cancel" || p.Reason != "daemon restarted" {
					t.Errorf("%s: %s (%s), want cancel (daemon restarted)", k, p.Status, p.Reason)
				}
			}
			if p := keys["k1._session._session"]; p.Reason != "daemon restarted" {
				t.Errorf("session: %s (%s)", p.Status, p.Reason)
			}
			evs, err := natstest.SessionEvents(context.Background(), js, "k1")
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i < len(evs); i++ {
				if evs[i].Seq != evs[i-1].Seq+1 {
					t.Errorf("seq %d after %d", evs[i].Seq, evs[i-1].Seq)
				}
			}
			t.Logf("after the restart: %s %s, %s %s, session %s; %d events, seq 1..%d",
				keys["k1.a.slow"].Status, keys["k1.a.slow"].Reason, keys["k1.a.after"].Status, keys["k1.a.after"].Reason,
				keys["k1._session._session"].Status, len(evs), evs[len(evs)-1].Seq)
			// The id is free again, and seq goes on.
			var r jobapi.OpenReply
			apiRequest(t, nc, "cellsd.v1.api.open", map[string]any{"notebook": json.RawMessage(slowNotebook), "sessionId": "k1"}, &r)
			if r.SessionID != "k1" {
				t.Errorf("reopen: %+v", r)
			}
			var st jobapi.StatusReply
			apiRequest(t, nc, jobapi.SessionSubject("k1", "status"), nil, &st)
			if st.Seq != evs[len(evs)-1].Seq {
				t.Errorf("reopened at seq %d, want %d", st.Seq, evs[len(evs)-1].Seq)
			}
		})
	}
}

// TestServe_TempStoreOfKilledDaemon: without --data, a killed daemon's
// temporary store is removed by the next daemon that starts.
func TestServe_TempStoreOfKilledDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cellsd serve twice")
	}
	tmp := t.TempDir()
	env := []string{"TMPDIR=" + tmp}
	s1 := startServeEnv(t, env)
	stores := func() []string {
		m, _ := filepath.Glob(filepath.Join(tmp, "cellsd-nats-*"))
		return m
	}
	first := stores()
	if len(first) != 1 || !strings.HasPrefix(filepath.Base(first[0]), fmt.Sprintf("cellsd-nats-%d-", s1.cmd.Process.Pid)) {
		t.Fatalf("temporary stores %v", first)
	}
	s1.cmd.Process.Signal(syscall.SIGKILL)
	<-s1.exited
	if _, err := os.Stat(first[0]); err != nil {
		t.Fatalf("the killed daemon's store: %v", err)
	}
	s2 := startServeEnv(t, env)
	now := stores()
	if len(now) != 1 || now[0] == first[0] {
		t.Errorf("stores after a second daemon started: %v (the killed one's was %s)", now, first[0])
	}
	s2.cmd.Process.Signal(syscall.SIGTERM)
	<-s2.exited
	if left := stores(); len(left) != 0 {
		t.Errorf("a daemon stopped with SIGTERM left %v", left)
	}
}

// TestRun_BatchRunHoldsItsID: while a batch run publishes under an id, a
// daemon's open of that id is a conflict too.
func TestRun_BatchRunHoldsItsID(t *testing.T) {
	srv := natstest.RunServer(t, -1, t.TempDir())
	t.Cleanup(srv.Shutdown)
	d := daemon.New(daemon.Config{NATSURL: srv.ClientURL(), HTTPAddr: "127.0.0.1:0", Notebooks: notebooks})
	if err := d.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	path := filepath.Join(t.TempDir(), "slow.json")
	os.WriteFile(path, []byte(slowNotebook), 0o644)
	cmd := exec.Command(os.Args[0], "run", path, "--nats", srv.ClientURL(), "--session", "b1")
	cmd.Env = append(os.Environ(), asCellsd+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitFor(t, 30*time.Second, func() bool {
		e, err := mustKV(t, js).Get(context.Background(), "b1.a.slow")
		return err == nil && strings.Contains(string(e.Value()), `"status":"running"`)
	})
	msg, err := nc.Request("cellsd.v1.api.open", []byte(`{"notebook":"quickstart.json","sessionId":"b1"}`), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), `"code":"conflict"`) || !strings.Contains(string(msg.Data), "cellsd run") {
		t.Errorf("open of a batch run's id: %s", msg.Data)
	}
	msg, err = nc.Request(jobapi.SessionSubject("b1", "status"), nil, 5*time.Second)
	if err != nil || !strings.Contains(string(msg.Data), "batch run") {
		t.Errorf("the batch run's status subject: %v %s", err, msg.Data)
	}
}
