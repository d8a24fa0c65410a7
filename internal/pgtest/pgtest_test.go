package pgtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case helperStartAndExit:
		startAndExit()
	case helperNoDefault:
		defaultDSN = unreachableDSN
	case helperNothing:
		defaultDSN = unreachableDSN
		binGlob = "/nonexistent/*/bin"
	}
	os.Exit(Main(m))
}

// Modes of this test binary run as a child process by the tests below.
const (
	helperEnv          = "PGTEST_HELPER"
	helperStartAndExit = "start-and-exit" // start a cluster, exit without stopping it
	helperNoDefault    = "no-default"     // the default DSN is unreachable
	helperNothing      = "nothing"        // nor are any Postgres binaries found

	unreachableDSN = "postgres://postgres@127.0.0.1:1/test?connect_timeout=2"
)

// child runs this test binary in mode with args, without the environment
// variables DSN reads (CI is set to ci if not empty), and returns its output
// and exit code.
func child(t *testing.T, mode, ci string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != EnvDSN && k != EnvCI && k != helperEnv && (k != "PATH" || mode != helperNothing) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, helperEnv+"="+mode)
	if mode == helperNothing {
		cmd.Env = append(cmd.Env, "PATH=/nonexistent")
	}
	if ci != "" {
		cmd.Env = append(cmd.Env, EnvCI+"="+ci)
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %s: %v", os.Args[0], err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func TestDSN(t *testing.T) {
	dsn := DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	if again := DSN(t); again != dsn {
		t.Errorf("second DSN = %q, first %q", redact(again), redact(dsn))
	}
	if shared != nil {
		t.Logf("throwaway cluster: dir=%s pid=%d port=%d", shared.dir, shared.pid, shared.port)
	}
}

// TestDSN_ThrowawayCluster runs TestDSN in a child whose default DSN is
// unreachable: DSN starts a cluster, Main stops it, nothing is left.
func TestDSN_ThrowawayCluster(t *testing.T) {
	skipWithoutBinaries(t)
	out, code := child(t, helperNoDefault, "", "-test.run=^TestDSN$", "-test.v")
	if code != 0 || !strings.Contains(out, "--- PASS: TestDSN") {
		t.Fatalf("child exit %d:\n%s", code, out)
	}
	m := regexp.MustCompile(`throwaway cluster: dir=(\S+) pid=(\d+) port=(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("child did not use a throwaway cluster:\n%s", out)
	}
	pid, _ := strconv.Atoi(m[2])
	port, _ := strconv.Atoi(m[3])
	// Main stops the cluster before the child exits; allow for the kernel.
	checkGone(t, m[1], pid, port, 2*time.Second)
}

// TestDSN_NoPostgres: with nothing to be found DSN skips loudly, or fails
// when CI is set, naming what it tried.
func TestDSN_NoPostgres(t *testing.T) {
	for _, tc := range []struct {
		name, ci string
		code     int
		want     []string
	}{
		{"Skip", "", 0, []string{"--- SKIP: TestDSN", "SKIP: no Postgres: set CELLSD_TEST_PG_DSN or"}},
		{"FailInCI", "true", 1, []string{"--- FAIL: TestDSN", "pgtest: no Postgres: set CELLSD_TEST_PG_DSN or", "CI is set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := child(t, helperNothing, tc.ci, "-test.run=^TestDSN$", "-test.v")
			want := append(tc.want, unreachableDSN+": ", "throwaway cluster: initdb and pg_ctl not found")
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if code != tc.code || t.Failed() {
				t.Fatalf("child exit %d, want %d:\n%s", code, tc.code, out)
			}
		})
	}
}

func TestPool(t *testing.T) {
	pool := Pool(t)
	var one int
	if err := pool.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func TestSchema(t *testing.T) {
	pool := Pool(t)
	exists := func(name string) bool {
		t.Helper()
		var n int
		err := pool.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_namespace WHERE nspname = $1", name).Scan(&n)
		if err != nil {
			t.Fatalf("look up schema %s: %v", name, err)
		}
		return n == 1
	}
	var names []string
	t.Run("Create", func(t *testing.T) {
		a, b := Schema(t, pool), Schema(t, pool)
		names = append(names, a, b)
		if a == b {
			t.Fatalf("two schemas named %s", a)
		}
		for _, s := range names {
			if !exists(s) {
				t.Errorf("schema %s does not exist", s)
			}
		}
		// Usable unquoted, with tables that the drop must cascade to.
		if _, err := pool.Exec(t.Context(), "CREATE TABLE "+a+".t AS SELECT 1 AS x"); err != nil {
			t.Fatalf("create table in %s: %v", a, err)
		}
		// Nothing global: the search_path is untouched.
		var path string
		if err := pool.QueryRow(t.Context(), "SHOW search_path").Scan(&path); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(path, "pgtest_") {
			t.Errorf("search_path = %q", path)
		}
	})
	if len(names) != 2 {
		t.Fatal("subtest did not create two schemas")
	}
	for _, s := range names {
		if exists(s) {
			t.Errorf("schema %s still exists after its test ended", s)
		}
	}
}

func TestSchemaName(t *testing.T) {
	valid := regexp.MustCompile(`^pgtest_[a-z0-9_]*_[0-9a-f]{12}$`)
	for _, test := range []string{"", "TestX", "TestSchema/Create#01", strings.Repeat("TestVeryLong/Ünïcode ", 10)} {
		a, b := schemaName(test), schemaName(test)
		if !valid.MatchString(a) || len(a) > 63 {
			t.Errorf("schemaName(%q) = %q (%d bytes)", test, a, len(a))
		}
		if a == b {
			t.Errorf("schemaName(%q) twice = %q", test, a)
		}
	}
}

// TestStartCluster starts a throwaway cluster directly, uses it, stops it,
// and checks that nothing is left: no directory, no server, no port.
func TestStartCluster(t *testing.T) {
	skipWithoutBinaries(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := startCluster(ctx)
	if err != nil {
		t.Fatalf("startCluster: %v", err)
	}
	t.Cleanup(func() { _ = c.stop() })
	if c.pid <= 0 {
		t.Fatalf("postmaster pid = %d", c.pid)
	}

	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", c.dsn, err)
	}
	var db, addr string
	var one int
	err = conn.QueryRow(ctx, "SELECT 1, current_database(), host(inet_server_addr())").Scan(&one, &db, &addr)
	conn.Close(ctx)
	if err != nil || one != 1 || db != "test" || addr != "127.0.0.1" {
		t.Fatalf("SELECT 1, current_database(), inet_server_addr() = %d, %q, %q, %v", one, db, addr, err)
	}
	if _, err := os.Stat(filepath.Join(c.dir, fmt.Sprintf(".s.PGSQL.%d", c.port))); err != nil {
		t.Errorf("unix socket not in the cluster's directory: %v", err)
	}

	if err := c.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := c.stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	checkGone(t, c.dir, c.pid, c.port, 5*time.Second)
}

// TestStartCluster_ProcessExits checks the watchdog: a test binary that
// starts a cluster and exits without stopping it leaves nothing behind.
func TestStartCluster_ProcessExits(t *testing.T) {
	skipWithoutBinaries(t)
	out, code := child(t, helperStartAndExit, "")
	if code != 0 {
		t.Fatalf("helper process: exit %d: %s", code, out)
	}
	var h helperResult
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	if h.Err != "" {
		t.Fatalf("helper: %s", h.Err)
	}
	checkGone(t, h.Dir, h.PID, h.Port, 15*time.Second)
}

type helperResult struct {
	Dir  string `json:"dir"`
	PID  int    `json:"pid"`
	Port int    `json:"port"`
	Err  string `json:"err"`
}

// startAndExit starts a cluster, reports it on stdout and exits without
// stopping it.
func startAndExit() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var h helperResult
	if c, err := startCluster(ctx); err != nil {
		h.Err = err.Error()
	} else {
		h.Dir, h.PID, h.Port = c.dir, c.pid, c.port
	}
	_ = json.NewEncoder(os.Stdout).Encode(h)
	os.Exit(0)
}

func skipWithoutBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: starts a Postgres cluster; not in -short mode")
	}
	if _, _, err := findBinaries(); err != nil {
		t.Skipf("SKIP: no Postgres server binaries for a throwaway cluster: %v", err)
	}
}

// checkGone waits up to wait for dir to be removed, the postmaster to have
// exited and its port to refuse connections.
func checkGone(t *testing.T, dir string, pid, port int, wait time.Duration) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(wait); ; time.Sleep(50 * time.Millisecond) {
		left = left[:0]
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			left = append(left, "directory "+dir)
		}
		if running(pid) {
			left = append(left, fmt.Sprintf("postmaster %d", pid))
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			left = append(left, fmt.Sprintf("listener on port %d", port))
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind after %v: %s", wait, strings.Join(left, ", "))
		}
	}
}

// running reports whether process pid exists and is not a zombie (an
// exited process whose parent, here init, has not reaped it yet).
func running(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil || p.Signal(syscall.Signal(0)) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may contain spaces and parentheses.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
