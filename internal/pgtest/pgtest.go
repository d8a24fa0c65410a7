package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// EnvDSN names the environment variable that, when set, is the DSN every
	// test uses.
	EnvDSN = "CELLSD_TEST_PG_DSN"
	// DefaultDSN is tried when EnvDSN is unset.
	DefaultDSN = "postgres://postgres@127.0.0.1:5432/test"
	// EnvCI, when set to anything, turns "no Postgres" from a skip into a
	// failure.
	EnvCI = "CI"
)

// probeTimeout bounds the connection attempt to DefaultDSN.
const probeTimeout = 2 * time.Second

// Knobs for this package's own tests, which run the whole search in a child
// process with the default Postgres (or also the binaries) out of reach.
var (
	defaultDSN = DefaultDSN
	binGlob    = "/usr/lib/postgresql/*/bin"
)

// The outcome of looking for a Postgres, computed once per test binary.
var (
	findOnce sync.Once
	foundDSN string
	tried    []string // what was tried and why it failed, for the skip message

	sharedMu sync.Mutex
	shared   *cluster // the throwaway cluster, if one was started
)

// DSN returns a DSN for a Postgres the tests may use, or skips/fails tb.
func DSN(tb testing.TB) string {
	tb.Helper()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	findOnce.Do(find)
	if foundDSN != "" {
		return foundDSN
	}
	msg := "no Postgres: set " + EnvDSN + " or start one accepting " + defaultDSN +
		" (trust auth, database test), or install the Postgres server binaries (initdb, pg_ctl). Tried: " +
		EnvDSN + " unset; " + strings.Join(tried, "; ")
	if os.Getenv(EnvCI) != "" {
		tb.Fatalf("pgtest: %s (%s is set, so this fails instead of skipping)", msg, EnvCI)
	}
	tb.Skipf("SKIP: %s", msg)
	return ""
}

// find tries DefaultDSN, then a throwaway cluster.
func find() {
	err := probe(defaultDSN)
	if err == nil {
		foundDSN = defaultDSN
		return
	}
	tried = append(tried, fmt.Sprintf("%s: %s", defaultDSN, oneLine(err)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := startCluster(ctx)
	if err != nil {
		tried = append(tried, fmt.Sprintf("throwaway cluster: %s", oneLine(err)))
		return
	}
	sharedMu.Lock()
	shared = c
	sharedMu.Unlock()
	foundDSN = c.dsn
}

// probe connects to dsn and pings it within probeTimeout.
func probe(dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = probeTimeout
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}

// Main runs m and then stops the throwaway cluster if DSN started one. Call
// it from TestMain: os.Exit(pgtest.Main(m)). A failure to stop is reported on
// stderr and does not change the exit code.
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	c := shared
	sharedMu.Unlock()
	if c != nil {
		if err := c.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop throwaway Postgres in %s: %v\n", c.dir, err)
		}
	}
	return code
}

// Pool returns a pgxpool on DSN(tb), closed when tb ends.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	dsn := DSN(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		tb.Fatalf("pgtest: pool on %s: %v", redact(dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		tb.Fatalf("pgtest: ping %s: %v", redact(dsn), err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Schema creates a fresh schema with a unique name (for isolation between
// tests and packages running in parallel), sets nothing globally, drops it
// (CASCADE) when tb ends, and returns its name.
//
// The name is lowercase [a-z0-9_], starts with "pgtest_" and contains the
// test's name, so it can be written into SQL unquoted. pool must stay open
// until tb's cleanups run (a Pool from the same or an enclosing test does).
func Schema(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	name := schemaName(tb.Name())
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		tb.Fatalf("pgtest: create schema %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident+" CASCADE"); err != nil {
			tb.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	return name
}

// schemaName is "pgtest_<test name, sanitized, at most 40 chars>_<12 random
// hex digits>": at most 60 bytes, under Postgres's 63.
func schemaName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() == 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:]) // never fails
	return "pgtest_" + b.String() + "_" + hex.EncodeToString(rnd[:])
}

// redact hides the password of a URL DSN; a keyword/value DSN is not shown.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "the keyword/value DSN"
}

// cluster is a throwaway Postgres: a data directory in a temporary directory
// of its own, a server on a free port of 127.0.0.1 with its unix socket in
// that directory, and a watchdog that stops the server and removes the
// directory when keepAlive is closed, by stop or by the test binary exiting.
type cluster struct {
	dir  string // temporary root; data in dir/data, socket and log in dir
	port int
	pid  int // the postmaster's
	dsn  string

	watchdog  *exec.Cmd
	keepAlive *os.File // write end of the watchdog's stdin

	stopOnce sync.Once
	stopErr  error
}

// startCluster initdbs and starts a throwaway cluster and creates database
// test in it. On error nothing is left behind.
func startCluster(ctx context.Context) (_ *cluster, err error) {
	initdb, pgctl, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cellsd-pgtest-")
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(dir, `'"\`) {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("temporary directory %q: quotes are not supported", dir)
	}
	as, err := unprivileged(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	c := &cluster{dir: dir}

	// The watchdog comes first, so that from now on the directory (and the
	// server, once started) goes away however this process ends.
	if err := c.startWatchdog(append(as, pgctl, "stop", "-D", data, "-m", "immediate", "-w", "-t", "10")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.stop()
		}
	}()

	if err := run(ctx, dir, "initdb", append(as, initdb, "-D", data, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync")...); err != nil {
		return nil, err
	}
	logFile := filepath.Join(dir, "postgres.log")
	for attempt := 1; ; attempt++ {
		c.port, err = freePort()
		if err != nil {
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -k '%s' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
			c.port, dir)
		err = run(ctx, dir, "pg_ctl start", append(as, pgctl, "start", "-D", data, "-l", logFile, "-w", "-t", "30", "-o", opts)...)
		if err == nil {
			break
		}
		log, _ := os.ReadFile(logFile)
		err = fmt.Errorf("%w; server log: %s", err, lastLines(log, 5))
		if attempt == 3 || !bytes.Contains(log, []byte("could not bind")) {
			return nil, err
		}
		// Someone took the port between freePort and the server's bind.
	}
	if pidFile, err := os.ReadFile(filepath.Join(data, "postmaster.pid")); err == nil {
		c.pid, _ = strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pidFile), "\n", 2)[0]))
	}

	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("connect to the throwaway cluster: %w", err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE test")
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("create database test: %w", err)
	}
	c.dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test?sslmode=disable", c.port)
	return c, nil
}

// watchdogScript waits for EOF on stdin, then runs its arguments after the
// first (the stop command) and removes the directory named by the first.
// It ignores the signals a terminal's Ctrl-C or a hangup sends to the whole
// process group, so that it outlives the test binary and cleans up after it.
const watchdogScript = `trap '' HUP INT QUIT TERM
cat >/dev/null
dir=$1; shift
"$@" >/dev/null 2>&1
st=$?
rm -rf "$dir"
exit $st`

func (c *cluster) startWatchdog(stopCmd []string) error {
	sh, err := exec.LookPath("sh")
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	cmd := exec.Command(sh, append([]string{"-c", watchdogScript, "pgtest-watchdog", c.dir}, stopCmd...)...)
	cmd.Dir = "/"
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("watchdog: %w", err)
	}
	r.Close() // the watchdog holds its own copy
	c.watchdog, c.keepAlive = cmd, w
	return nil
}

// stop stops the server, removes the directory and waits for both. It is
// idempotent.
func (c *cluster) stop() error {
	c.stopOnce.Do(func() {
		c.keepAlive.Close()
		done := make(chan error, 1)
		go func() { done <- c.watchdog.Wait() }()
		select {
		case err := <-done:
			if err != nil && c.dsn != "" { // a failed start has no server to stop
				c.stopErr = fmt.Errorf("pg_ctl stop: %w", err)
			}
		case <-time.After(30 * time.Second):
			c.stopErr = errors.New("watchdog did not finish within 30s")
			return
		}
		if _, err := os.Stat(c.dir); !errors.Is(err, os.ErrNotExist) {
			c.stopErr = errors.Join(c.stopErr, fmt.Errorf("%s was not removed", c.dir))
		}
	})
	return c.stopErr
}

// findBinaries returns initdb and pg_ctl from PATH, else from the newest
// /usr/lib/postgresql/*/bin that has both.
func findBinaries() (initdb, pgctl string, err error) {
	if i, err := exec.LookPath("initdb"); err == nil {
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			return i, p, nil
		}
	}
	dirs, _ := filepath.Glob(binGlob)
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "pg_ctl")
		if isExecutable(i) && isExecutable(p) {
			return i, p, nil
		}
	}
	return "", "", fmt.Errorf("initdb and pg_ctl not found in PATH or %s", binGlob)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// unprivileged returns the command prefix that runs the Postgres binaries,
// which refuse to run as root: nothing for other users, and as root
// runuser(1) to the postgres user (else nobody), to whom dir is then given.
func unprivileged(dir string) ([]string, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		return nil, fmt.Errorf("running as root, which initdb refuses, and runuser(1) is not available to drop privileges: %w", err)
	}
	var u *user.User
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("running as root, which initdb refuses, and neither user postgres nor nobody exists: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, fmt.Errorf("give %s to user %s: %w", dir, u.Username, err)
	}
	return []string{runuser, "-u", u.Username, "--"}, nil
}

// run runs argv in dir and returns an error naming what failed, with the
// end of its output.
func run(ctx context.Context, dir, what string, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", what, err, lastLines(out, 5))
	}
	return nil
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// oneLine returns err's message with runs of white space, newlines
// included, replaced by one space.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// lastLines returns the last n non-empty lines of out on one line.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, " | ")
	if s == "" {
		return "(no output)"
	}
	return s
}
