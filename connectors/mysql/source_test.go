package mysql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/mysql"
	"github.com/cellsd/cellsd/internal/mysqltest"
)

func conn(t *testing.T, db string, mutate func(*connectors.Connection)) connectors.Connection {
	t.Helper()
	host, port, user := mysqltest.Connection(t, db)
	c := connectors.Connection{ID: "my", Engine: connectors.EngineMySQL, Host: host, Port: port, User: user, Database: db}
	if mutate != nil {
		mutate(&c)
	}
	return c
}

func source(t *testing.T, c connectors.Connection) *mysql.Source {
	t.Helper()
	src, err := mysql.Connect(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func readWrite(c *connectors.Connection) { f := false; c.ReadOnly = &f }

// collect is an ArrowSink that keeps the result as text.
type collect struct {
	cols []mysql.Column
	rows [][]string
}

func (c *collect) Columns(cols []mysql.Column) error { c.cols = cols; return nil }
func (c *collect) Record(rec arrow.RecordBatch) error {
	for r := range int(rec.NumRows()) {
		row := make([]string, rec.NumCols())
		for i := range row {
			row[i] = rec.Column(i).ValueStr(r)
		}
		c.rows = append(c.rows, row)
	}
	return nil
}

func TestQuery_Render_BackslashCannotEscapeTheQuote(t *testing.T) {
	name, db := mysqltest.Database(t)
	if _, err := db.Exec("CREATE TABLE t (i INT); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	const evil = `x\'; DROP TABLE t; --`
	for _, mode := range []string{"STRICT_TRANS_TABLES", "STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES"} {
		for _, sqlText := range []string{
			"SELECT '{{v}}' AS s",
			"SELECT {{v}} AS s",
			"SELECT \"{{v}}\" AS s",
			"SELECT CONCAT('<', '{{ v }}', '>') AS s",
		} {
			t.Run(mode+"/"+sqlText, func(t *testing.T) {
				src := source(t, conn(t, name, func(c *connectors.Connection) {
					readWrite(c)
					c.DSN = mysqltest.Config(t).FormatDSN()
				}))
				var out collect
				full := "SET SESSION sql_mode = '" + mode + "'; " + sqlText
				if err := src.Query(context.Background(), full, map[string]any{"v": evil}, &out); err != nil {
					t.Fatal(err)
				}
				want := evil
				if strings.Contains(sqlText, "CONCAT") {
					want = "<" + evil + ">"
				}
				if len(out.rows) != 1 || out.rows[0][0] != want {
					t.Errorf("got %q, want %q", out.rows, want)
				}
				var n int
				if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
					t.Fatalf("table t after the query: %d rows, %v", n, err)
				}
			})
		}
	}
}

func TestQuery_BadInput(t *testing.T) {
	name, db := mysqltest.Database(t)
	if _, err := db.Exec("CREATE TABLE t (i INT); INSERT INTO t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("WrongPassword", func(t *testing.T) {
		b := make([]byte, 4)
		rand.Read(b)
		user := "cellsd_" + hex.EncodeToString(b)
		root := mysqltest.DB(t, "")
		if _, err := root.Exec("CREATE USER '" + user + "'@'%' IDENTIFIED BY 'the-right-one'"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { root.Exec("DROP USER '" + user + "'@'%'") })
		const secret = "Wr0ng-s3cret-value"
		t.Setenv("CELLSD_TEST_MYSQL_PW", secret)
		src := source(t, conn(t, name, func(c *connectors.Connection) { c.User = user; c.PasswordEnv = "CELLSD_TEST_MYSQL_PW" }))
		err := src.Query(ctx, "SELECT 1", nil, &collect{})
		if err == nil || !strings.Contains(err.Error(), "Access denied") {
			t.Fatalf("err = %v, want access denied", err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error carries the password: %v", err)
		}
	})
	t.Run("UnknownDatabase", func(t *testing.T) {
		err := source(t, conn(t, "cellsd_no_such_db", nil)).Query(ctx, "SELECT 1", nil, &collect{})
		var me *mysqldriver.MySQLError
		if !errors.As(err, &me) || me.Number != 1049 {
			t.Fatalf("err = %v, want 1049 unknown database", err)
		}
	})
	for _, ro := range []bool{true, false} {
		t.Run("SyntaxError/readOnly="+map[bool]string{true: "true", false: "false"}[ro], func(t *testing.T) {
			src := source(t, conn(t, name, func(c *connectors.Connection) { c.ReadOnly = &ro }))
			text := "SELECT 1;\nSELECT *\n  FORM t"
			err := src.Query(ctx, text, nil, &collect{})
			var me *mysqldriver.MySQLError
			var pe *mysql.Error
			if !errors.As(err, &me) || me.Number != 1064 || !errors.As(err, &pe) {
				t.Fatalf("err = %v, want the server's syntax error 1064", err)
			}
			if !strings.Contains(me.Message, "near 'FORM t' at line 2") {
				t.Errorf("message %q", me.Message)
			}
			if got := text[pe.Offset:]; got != "FORM t" {
				t.Errorf("offset %d points at %q, want FORM t", pe.Offset, got)
			}
		})
	}
	t.Run("MissingTable", func(t *testing.T) {
		err := source(t, conn(t, name, nil)).Query(ctx, "SELECT * FROM no_such_table", nil, &collect{})
		var me *mysqldriver.MySQLError
		if !errors.As(err, &me) || me.Number != 1146 {
			t.Fatalf("err = %v, want 1146 table doesn't exist", err)
		}
	})
	t.Run("NotAQueryOnReadOnly", func(t *testing.T) {
		src := source(t, conn(t, name, nil))
		for _, stmt := range []string{"DELETE FROM t", "CREATE TABLE t2 (i INT)", "SELECT 1; DROP TABLE t", "SELECT * FROM t INTO OUTFILE '/tmp/cellsd'", "SET GLOBAL max_connections = 10"} {
			err := src.Query(ctx, stmt, nil, &collect{})
			if !errors.Is(err, mysql.ErrNotReadOnly) {
				t.Errorf("%s: err = %v, want ErrNotReadOnly", stmt, err)
			}
		}
		var n int
		if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
			t.Errorf("t has %d rows (%v), want 2: a refused statement was sent", n, err)
		}
		var tables int
		db.QueryRow("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 't2'", name).Scan(&tables)
		if tables != 0 {
			t.Error("CREATE TABLE t2 was sent")
		}
		// Reads pass.
		if err := src.Query(ctx, "SET @x = 1; SHOW TABLES; SELECT * FROM t WHERE i > @x", nil, &collect{}); err != nil {
			t.Errorf("a read was refused: %v", err)
		}
	})
	t.Run("ValueDoesNotFit", func(t *testing.T) {
		if _, err := db.Exec("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'; CREATE TABLE d (d DATE); INSERT INTO d VALUES ('2021-01-01'), ('2020-02-31')"); err != nil {
			t.Fatal(err)
		}
		err := source(t, conn(t, name, nil)).Query(ctx, "SELECT d FROM d ORDER BY d DESC", nil, &collect{})
		if !errors.Is(err, mysql.ErrInvalidDate) || !strings.Contains(err.Error(), "column d (DATE), row 2") {
			t.Fatalf("err = %v, want an invalid date in column d, row 2", err)
		}
	})
}

// processlist reports whether a statement holding marker is running.
func running(t *testing.T, db *sql.DB, marker string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM information_schema.processlist WHERE info LIKE CONCAT('%', ?, '%') AND info NOT LIKE '%processlist%'", marker).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestQuery_CancelKillsTheQuery: cancelling the context sends KILL QUERY;
// the statement is gone from the processlist within a second.
func TestQuery_CancelKillsTheQuery(t *testing.T) {
	name, _ := mysqltest.Database(t)
	root := mysqltest.DB(t, "")
	src := source(t, conn(t, name, nil))
	for i := range 5 { // timing-dependent: repeat
		marker := "cellsd_cancel_" + hex.EncodeToString([]byte{byte(i), byte(time.Now().UnixNano())})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- src.Query(ctx, "SELECT SLEEP(60) AS `"+marker+"`", nil, &collect{}) }()
		waitFor(t, 10*time.Second, func() bool { return running(t, root, marker) })
		start := time.Now()
		cancel()
		waitFor(t, time.Second, func() bool { return !running(t, root, marker) })
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		t.Logf("gone from the processlist %v after cancel", time.Since(start))
	}
}

func TestQuery_StatementTimeout(t *testing.T) {
	name, _ := mysqltest.Database(t)
	src := source(t, conn(t, name, func(c *connectors.Connection) { c.StatementTimeout = "200ms" }))
	start := time.Now()
	err := src.Query(context.Background(), "SELECT SLEEP(5) AS s FROM seq_1_to_2", nil, &collect{})
	var me *mysqldriver.MySQLError
	if !errors.As(err, &me) || me.Number != 1969 {
		t.Fatalf("err = %v, want 1969 max_statement_time exceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func waitFor(t *testing.T, total time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(total)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v", total)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ = array.NewInt64Builder

// TestQuery_SessionChangesDoNotLeak: a cell that SETs a variable does not
// leave it on a pooled connection for the next cell.
func TestQuery_SessionChangesDoNotLeak(t *testing.T) {
	name, _ := mysqltest.Database(t)
	src := source(t, conn(t, name, nil))
	ctx := context.Background()
	var first collect
	if err := src.Query(ctx, "SET @leak = 42, SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT @leak AS v", nil, &first); err != nil || first.rows[0][0] != "42" {
		t.Fatalf("first: %v %v", first.rows, err)
	}
	for range 5 {
		var next collect
		if err := src.Query(ctx, "SELECT @leak AS v, @@SESSION.sql_mode LIKE '%NO_BACKSLASH%' AS nbe", nil, &next); err != nil {
			t.Fatal(err)
		}
		if next.rows[0][0] != "(null)" || next.rows[0][1] != "0" {
			t.Fatalf("the next cell sees %v", next.rows)
		}
	}
}

// TestQuery_TLS: tls = "true" is required of the server (the test MariaDB
// has TLS disabled, so it fails clearly); "preferred" falls back.
func TestQuery_TLS(t *testing.T) {
	name, db := mysqltest.Database(t)
	var haveSSL string
	db.QueryRow("SELECT @@have_ssl").Scan(&haveSSL)
	ctx := context.Background()
	err := source(t, conn(t, name, func(c *connectors.Connection) { c.TLS = "preferred" })).Query(ctx, "SELECT 1 AS one", nil, &collect{})
	if err != nil {
		t.Errorf("tls = preferred: %v", err)
	}
	err = source(t, conn(t, name, func(c *connectors.Connection) { c.TLS = "true" })).Query(ctx, "SELECT 1 AS one", nil, &collect{})
	switch haveSSL {
	case "YES":
		t.Logf("tls = true on a TLS server: %v", err)
	default:
		if !errors.Is(err, mysqldriver.ErrNoTLS) {
			t.Errorf("tls = true against a server without TLS: %v, want ErrNoTLS", err)
		}
	}
}

// retain is an ArrowSink that keeps every batch, releasing them only when
// the result is complete, as a consumer behind a channel does.
type retain struct{ recs []arrow.RecordBatch }

func (r *retain) Columns([]mysql.Column) error { return nil }
func (r *retain) Record(rec arrow.RecordBatch) error {
	rec.Retain()
	r.recs = append(r.recs, rec)
	return nil
}

// TestQuery_ManyBatches checks a result of many batches, whose buffers
// the source reuses once they are released, whether the consumer releases
// each batch at once (collect) or keeps them all (retain); and that the
// binary protocol keeps FLOAT and BIGINT UNSIGNED exact.
func TestQuery_ManyBatches(t *testing.T) {
	name, _ := mysqltest.Database(t)
	src := source(t, conn(t, name, nil))
	const q = `SELECT seq, seq * 2.5e0, CAST(seq AS UNSIGNED) + 18446744073709541615, CONCAT('r', seq), DATE'2000-01-01' + INTERVAL seq DAY,
		CAST(3.4028235e38 AS FLOAT) FROM seq_1_to_10000`
	check := func(t *testing.T, row int, vals []string) {
		t.Helper()
		s := row + 1
		want := []string{itoa(s), ftoa(float64(s) * 2.5), utoa(uint64(s) + 18446744073709541615), "r" + itoa(s),
			time.Date(2000, 1, 1+s, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), "3.4028235e+38"}
		if strings.Join(vals, "|") != strings.Join(want, "|") {
			t.Fatalf("row %d: %q, want %q", row, vals, want)
		}
	}
	t.Run("ReleaseAtOnce", func(t *testing.T) {
		var c collect
		if err := src.Query(context.Background(), q, nil, &c); err != nil {
			t.Fatal(err)
		}
		if len(c.rows) != 10000 {
			t.Fatalf("%d rows", len(c.rows))
		}
		for i, r := range c.rows {
			check(t, i, r)
		}
	})
	t.Run("KeepAll", func(t *testing.T) {
		var r retain
		if err := src.Query(context.Background(), q, nil, &r); err != nil {
			t.Fatal(err)
		}
		row := 0
		for _, rec := range r.recs {
			for i := range int(rec.NumRows()) {
				vals := make([]string, rec.NumCols())
				for c := range vals {
					vals[c] = rec.Column(c).ValueStr(i)
				}
				check(t, row, vals)
				row++
			}
			rec.Release()
		}
		if row != 10000 || len(r.recs) < 4 {
			t.Fatalf("%d rows in %d batches", row, len(r.recs))
		}
	})
}

func itoa(n int) string    { return strconv.Itoa(n) }
func utoa(n uint64) string { return strconv.FormatUint(n, 10) }
func ftoa(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}
