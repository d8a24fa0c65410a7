package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/natstest"
	"github.com/cellsd/cellsd/internal/pgtest"
)

// asCellsd makes the test binary behave as cellsd itself, so tests can
// run `cellsd serve` as a process of its own and signal it.
const asCellsd = "CELLSD_TEST_AS_CELLSD"

func TestMain(m *testing.M) {
	if os.Getenv(asCellsd) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	// TestServe_SQLRoomsClient may start a throwaway Postgres.
	os.Exit(pgtest.Main(m))
}

// served is a `cellsd serve` process.
type served struct {
	cmd      *exec.Cmd
	NATSURL  string
	HTTPURL  string
	stderr   *syncBuffer
	exited   chan struct{}
	exitCode int
}

// startServe starts `cellsd serve` with an embedded NATS server on free
// ports and extra args, and waits until it is ready. It is killed, if
// still running, when the test ends.
func startServe(t *testing.T, extra ...string) *served {
	t.Helper()
	return startServeEnv(t, nil, append([]string{"--data", t.TempDir()}, extra...)...)
}

// startServeEnv is startServe with more environment variables and no
// --data of its own.
func startServeEnv(t *testing.T, env []string, extra ...string) *served {
	t.Helper()
	natsPort, httpPort := natstest.FreePort(t), natstest.FreePort(t)
	args := append([]string{"serve", "--nats-listen", fmt.Sprintf("127.0.0.1:%d", natsPort),
		"--http", fmt.Sprintf("127.0.0.1:%d", httpPort)}, extra...)
	s := &served{
		NATSURL: fmt.Sprintf("nats://127.0.0.1:%d", natsPort),
		HTTPURL: fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		stderr:  &syncBuffer{}, exited: make(chan struct{}),
	}
	s.cmd = exec.Command(os.Args[0], args...)
	s.cmd.Env = append(append(os.Environ(), asCellsd+"=1"), env...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		s.exitCode = s.cmd.ProcessState.ExitCode()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("cellsd serve stderr:\n%s", s.stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, s.HTTPURL+"/readyz", nil)
		for i, a := range extra {
			if a == "--auth-token" {
				req.Header.Set("Authorization", "Bearer "+extra[i+1])
			}
		}
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("cellsd serve exited with %d:\n%s", s.exitCode, s.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("cellsd serve not ready in 60s:\n%s", s.stderr.String())
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func apiRequest(t *testing.T, nc *nats.Conn, subject string, body, out any) {
	t.Helper()
	data, _ := json.Marshal(body)
	msg, err := nc.Request(subject, data, 60*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	if bytes.Contains(msg.Data, []byte(`"error":{`)) {
		t.Fatalf("%s: %s", subject, msg.Data)
	}
	if out != nil {
		if err := json.Unmarshal(msg.Data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServe_SIGTERM stops a daemon in the middle of a run: it exits 0
// within 10 s, and the running cell's cancel event and the session's
// closed event reach a subscriber before it goes.
func TestServe_SIGTERM(t *testing.T) {
	s := startServe(t)
	nc, err := nats.Connect(s.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nb, _ := json.Marshal(map[string]any{
		"data": map[string]any{
			"quick": map[string]any{"id": "quick", "type": "sql", "data": map[string]any{"title": "quick", "sql": "SELECT 1 AS one", "resultName": "quick"}},
			"slow": map[string]any{"id": "slow", "type": "sql", "data": map[string]any{"title": "slow",
				"sql": "SELECT count(*) AS n FROM range(1000000000000) t(i), quick", "resultName": "slow"}},
		},
		"artifacts": map[string]any{"a": map[string]any{"id": "a", "schemaName": "artifact_a", "cellIds": []string{"quick", "slow"}, "edges": []any{}}},
	})
	var opened struct{ SessionID string }
	apiRequest(t, nc, "cellsd.v1.api.open", map[string]any{"notebook": json.RawMessage(nb)}, &opened)
	var mu sync.Mutex
	var got []natsbus.Payload
	sub, err := nc.Subscribe(natsbus.SessionSubject(opened.SessionID), func(m *nats.Msg) {
		var p natsbus.Payload
		json.Unmarshal(m.Data, &p)
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()
	apiRequest(t, nc, jobapi.SessionSubject(opened.SessionID, "run"), nil, nil)
	waitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range got {
			if ev.Cell == "slow" && ev.Status == "running" {
				return true
			}
		}
		return false
	})

	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("cellsd serve still running 10 s after SIGTERM:\n%s", s.stderr.String())
	}
	took := time.Since(start)
	if s.exitCode != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", s.exitCode, s.stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	var lines []string
	for i, ev := range got {
		lines = append(lines, ev.Cell+" "+ev.Status+" ("+ev.Reason+")")
		if ev.Seq != int64(i+1) {
			t.Errorf("event %d has seq %d", i, ev.Seq)
		}
	}
	tail := strings.Join(lines[max(0, len(lines)-3):], "\n")
	want := "slow cancel (session closed)\n_session cancel (run r1 done: 1 success, 1 cancel)\n_session closed (closed)"
	if tail != want {
		t.Errorf("last events:\n%s\nwant:\n%s", tail, want)
	}
	t.Logf("exited 0 in %v after SIGTERM", took.Round(time.Millisecond))
}

// TestRun_NATS publishes a batch run's events: the stream holds every one
// of them, seq 1..n, and the bucket the final state of every cell.
func TestRun_NATS(t *testing.T) {
	srv := natstest.RunServer(t, -1, t.TempDir())
	defer srv.Shutdown()
	code, _, stderr := cellsd(t, "run", notebooks+"quickstart.json", "--nats", srv.ClientURL(), "--session", "batch-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "publishing events of session batch-1") {
		t.Errorf("stderr does not name the session: %s", stderr)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	st, err := js.Stream(ctx, natsbus.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(natsbus.SessionSubject("batch-1")))
	if err != nil {
		t.Fatal(err)
	}
	// 7 cells x queued, running, success; the run's start and end; close.
	if info.State.Msgs != 24 {
		t.Errorf("the stream holds %d events of the run, want 24", info.State.Msgs)
	}
	kv, err := js.KeyValue(ctx, natsbus.BucketName)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "batch-1.quickstart.summary")
	if err != nil {
		t.Fatal(err)
	}
	var p natsbus.Payload
	json.Unmarshal(e.Value(), &p)
	if p.Status != "success" || p.Rows == nil || *p.Rows != 3 {
		t.Errorf("bucket has summary %s with rows %v", p.Status, p.Rows)
	}
}

func waitFor(t *testing.T, total time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(total)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
