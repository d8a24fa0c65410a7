package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/sqlparse"
)

// Source runs queries on one MySQL or MariaDB connection through a pool.
type Source struct {
	cfg *Config
	db  *sql.DB
	// ctl is a second, small pool for KILL QUERY, so a cancel never waits
	// behind the busy connections of db.
	ctl *sql.DB
}

// Open creates the connection's pools; they connect on first use.
func Open(cfg *Config) (*Source, error) {
	conn, err := mysqldriver.NewConnector(cfg.Driver)
	if err != nil {
		return nil, redact(cfg, fmt.Errorf("connection %s: %w", cfg.ID, err))
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(cfg.MaxConns)
	db.SetMaxIdleConns(min(cfg.MaxConns, 4))
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctl := sql.OpenDB(conn)
	ctl.SetMaxOpenConns(2)
	ctl.SetMaxIdleConns(1)
	ctl.SetConnMaxIdleTime(time.Minute)
	return &Source{cfg: cfg, db: db, ctl: ctl}, nil
}

// Close closes the pools.
func (s *Source) Close() error {
	return errors.Join(s.db.Close(), s.ctl.Close())
}

// Ping connects (or takes a pooled connection) and pings the server.
func (s *Source) Ping(ctx context.Context) error {
	return redact(s.cfg, s.db.PingContext(ctx))
}

// ErrNotReadOnly is wrapped when a read_only connection is asked to run a
// statement that does not only read; nothing was sent to the server.
var ErrNotReadOnly = errors.New("the connection is read_only")

// Error is an error of one of a cell's statements, with where in the
// cell's SQL the server says it is. A *mysql.MySQLError stays reachable.
type Error struct {
	Err error
	// Offset is the byte offset in the cell's SQL the error points at, or
	// -1 when the server gives no position.
	Offset int
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ArrowSink receives a result: its columns once, then Arrow record batches
// of at most BatchRows rows. A record is released after Record returns.
type ArrowSink interface {
	Columns(cols []Column) error
	Record(rec arrowRecord) error
}

// Query runs a cell's SQL, statement by statement, on one pooled
// connection in a transaction of its own (READ ONLY unless the connection
// says otherwise) with the connection's statement timeout. Each
// statement's {{var}} placeholders are rendered from values just before it
// runs, in the lexing of the session's sql_mode at that point (a SET
// sql_mode earlier in the cell counts). When the last statement returns
// rows and sink is not nil they stream into sink in Arrow batches of
// BatchRows rows, so memory does not grow with the result. Cancelling ctx
// sends KILL QUERY on a second connection. No error carries the
// connection's secret, nor its id: the caller names the connection.
func (s *Source) Query(ctx context.Context, sqlText string, values map[string]any, sink ArrowSink) error {
	return redact(s.cfg, s.query(ctx, sqlText, values, sink))
}

// session is what Query learns of the pooled connection it runs on.
type session struct {
	id      int64
	mode    cells.MySQLMode
	mariadb bool
}

func (s *Source) query(ctx context.Context, text string, values map[string]any, sink ArrowSink) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	// healthy: the connection may go back to the pool. A cell that ran
	// SET or USE changed its session, which must not leak into the next
	// cell, so its connection is closed instead.
	healthy, changed := false, false
	defer func() {
		if changed {
			healthy = false
		}
		if !healthy { // a killed, failed or half-read connection is not reused
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	var se session
	var mode, version string
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID(), @@SESSION.sql_mode, VERSION()").Scan(&se.id, &mode, &version); err != nil {
		return err
	}
	se.mode, se.mariadb = cells.ParseMySQLMode(mode), strings.Contains(strings.ToLower(version), "mariadb")
	if err := s.setTimeout(ctx, conn, se); err != nil {
		return err
	}
	begin := "START TRANSACTION READ WRITE"
	if s.cfg.ReadOnly {
		begin = "START TRANSACTION READ ONLY"
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return err
	}

	// From here the statements run under the connection's KILL QUERY
	// watch: cancelling ctx kills the statement on the server, then
	// closes the socket; dctx is what the driver sees.
	dctx, dcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer dcancel()
	stop := context.AfterFunc(ctx, func() {
		s.kill(se.id)
		dcancel()
	})
	defer stop()
	fail := func(err error) error {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}

	for pos := 0; ; {
		spans, err := cells.MySQLStatements(text[pos:], se.mode)
		if err != nil {
			return err
		}
		if len(spans) == 0 {
			break
		}
		start, end := pos+spans[0][0], pos+spans[0][1]
		last := len(spans) == 1
		pos = end + 1
		stmtText, err := cells.RenderMySQL(text[start:end], values, se.mode)
		if err != nil {
			var re *cells.RenderError
			if errors.As(err, &re) {
				return &Error{Err: err, Offset: start + re.Offset}
			}
			return err
		}
		stmt, perr := sqlparse.MySQLParser().Parse(stmtText)
		if s.cfg.ReadOnly {
			if err := s.checkReadOnly(dctx, conn, stmt, stmtText, perr); err != nil {
				return fail(withOffset(err, text, start, stmtText))
			}
		}
		switch stmt.(type) {
		case *sqlparser.Select, *sqlparser.Union, *sqlparser.Show, *sqlparser.ExplainStmt, *sqlparser.ExplainTab, *sqlparser.ValuesStatement:
		default: // SET, USE, temporary tables, ...
			changed = true
		}
		if last && sink != nil && (perr != nil || sqlparse.MySQLReturnsRows(stmt)) {
			if err := s.stream(dctx, conn, stmtText, sink); err != nil {
				return fail(withOffset(err, text, start, stmtText))
			}
			break
		}
		if _, err := conn.ExecContext(dctx, stmtText); err != nil {
			return fail(withOffset(err, text, start, stmtText))
		}
		if _, ok := stmt.(*sqlparser.Set); ok { // it may have changed sql_mode
			if err := conn.QueryRowContext(dctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
				return fail(err)
			}
			se.mode = cells.ParseMySQLMode(mode)
		}
		if pos >= len(text) {
			break
		}
	}
	if _, err := conn.ExecContext(dctx, "COMMIT"); err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	healthy = true
	return nil
}

// setTimeout sets the session's statement timeout: max_statement_time
// (seconds) on MariaDB, max_execution_time (milliseconds, SELECT only) on
// MySQL.
func (s *Source) setTimeout(ctx context.Context, conn *sql.Conn, se session) error {
	if s.cfg.StatementTimeout <= 0 {
		return nil
	}
	stmt := "SET SESSION max_execution_time = " + strconv.FormatInt(s.cfg.StatementTimeout.Milliseconds(), 10)
	if se.mariadb {
		stmt = "SET SESSION max_statement_time = " + strconv.FormatFloat(s.cfg.StatementTimeout.Seconds(), 'f', -1, 64)
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("set statement timeout: %w", err)
	}
	return nil
}

// kill sends KILL QUERY for the session id on the control pool.
func (s *Source) kill(id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.ctl.ExecContext(ctx, "KILL QUERY "+strconv.FormatInt(id, 10))
}

// checkReadOnly refuses, before it is sent, a statement that does not only
// read. A statement vitess cannot parse is given to the server to prepare
// (which parses without running anything): its syntax error is the
// server's; a statement the server can prepare but cellsd cannot classify
// is refused.
func (s *Source) checkReadOnly(ctx context.Context, conn *sql.Conn, stmt sqlparser.Statement, text string, perr error) error {
	if perr != nil {
		st, err := conn.PrepareContext(ctx, text)
		if err != nil {
			return err
		}
		st.Close()
		return fmt.Errorf("%w: cellsd cannot tell whether this statement only reads (%v), so it was not run", ErrNotReadOnly, perr)
	}
	if what := notReadOnly(stmt); what != "" {
		return fmt.Errorf("%w: %s is not a query, so it was not sent", ErrNotReadOnly, what)
	}
	return nil
}

// notReadOnly names what in stmt does more than read, or returns "".
func notReadOnly(stmt sqlparser.Statement) string {
	switch s := stmt.(type) {
	case *sqlparser.Select:
		if s.Into != nil {
			return "SELECT ... INTO"
		}
		return ""
	case *sqlparser.Union:
		if s.Into != nil {
			return "SELECT ... INTO"
		}
		return ""
	case *sqlparser.Show, *sqlparser.ExplainTab, *sqlparser.ValuesStatement, *sqlparser.Use:
		return ""
	case *sqlparser.ExplainStmt:
		if s.Type == sqlparser.AnalyzeType {
			return notReadOnly(s.Statement)
		}
		return ""
	case *sqlparser.Set:
		for _, e := range s.Exprs {
			switch e.Var.Scope {
			case sqlparser.SessionScope, sqlparser.VariableScope, sqlparser.NoScope:
			default:
				return "SET of a global variable"
			}
		}
		return ""
	}
	kind := strings.Fields(sqlparser.String(stmt))
	if len(kind) == 0 {
		return "the statement"
	}
	return strings.ToUpper(kind[0])
}

// nearLine matches the end of MySQL's syntax error message.
var nearLine = regexp.MustCompile(`near '((?s).*)' at line (\d+)$`)

// withOffset wraps a server error of the statement at byte start of
// text (stmt is its rendered text) with where it points: MySQL's syntax
// errors name the text "near" which they stopped and its line.
func withOffset(err error, text string, start int, stmt string) error {
	var me *mysqldriver.MySQLError
	if !errors.As(err, &me) {
		return err
	}
	m := nearLine.FindStringSubmatch(me.Message)
	if m == nil {
		return &Error{Err: err, Offset: -1}
	}
	line, _ := strconv.Atoi(m[2])
	lineStart := 0
	for i := 1; i < line; i++ {
		j := strings.IndexByte(stmt[lineStart:], '\n')
		if j < 0 {
			break
		}
		lineStart += j + 1
	}
	near := m[1]
	off := len(stmt) // near '' is the end of the statement
	if near != "" {
		if i := strings.Index(stmt[lineStart:], near); i >= 0 {
			off = lineStart + i
		} else {
			off = lineStart
		}
	}
	// Positions in the rendered statement match the cell's up to the
	// first rendered placeholder; past it they are approximate.
	return &Error{Err: err, Offset: min(start+off, len(text))}
}

// stream runs a statement that returns rows and hands its result to sink.
func (s *Source) stream(ctx context.Context, conn *sql.Conn, stmt string, sink ArrowSink) error {
	return conn.Raw(func(dc any) error {
		rows, closeStmt, err := queryRows(ctx, dc, stmt)
		if err != nil {
			return err
		}
		defer closeStmt()
		defer rows.Close()
		cols, err := columns(rows)
		if err != nil {
			return err
		}
		if err := sink.Columns(cols); err != nil {
			return err
		}
		b := newBatcher(cols)
		defer b.release()
		dest := make([]driver.Value, len(cols))
		for n := int64(1); ; n++ {
			err := rows.Next(dest)
			if errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, mysqldriver.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) {
				return fmt.Errorf("lost the connection to the server after %d rows: %w", n-1, err)
			}
			if err != nil {
				return err
			}
			if err := b.append(dest, n); err != nil {
				return err
			}
			if b.n == BatchRows {
				if err := b.flush(sink); err != nil {
					return err
				}
			}
		}
		if b.n > 0 {
			return b.flush(sink)
		}
		return nil
	})
}

// erUnsupportedPS is the server's "This command is not supported in the
// prepared statement protocol yet".
const erUnsupportedPS = 1295

// queryRows runs stmt as a prepared statement, so that its rows come in
// the binary protocol: integers, floats and temporal values arrive as
// their bytes, not as text the server formats and the client parses
// (about a quarter less client CPU on the 9-column benchmark table, less
// work for the server, and FLOAT exactly as stored). A statement the
// server cannot prepare runs as text. The returned func closes the
// prepared statement, after rows.
func queryRows(ctx context.Context, dc any, stmt string) (driver.Rows, func(), error) {
	noop := func() {}
	if p, ok := dc.(driver.ConnPrepareContext); ok {
		st, err := p.PrepareContext(ctx, stmt)
		var me *mysqldriver.MySQLError
		switch {
		case err == nil:
			q, ok := st.(driver.StmtQueryContext)
			if !ok {
				st.Close()
				return nil, noop, errors.New("the MySQL driver cannot query a prepared statement")
			}
			rows, err := q.QueryContext(ctx, nil)
			if err != nil {
				st.Close()
				return nil, noop, err
			}
			return rows, func() { st.Close() }, nil
		case errors.As(err, &me) && me.Number == erUnsupportedPS:
		default:
			return nil, noop, err
		}
	}
	q, ok := dc.(driver.QueryerContext)
	if !ok {
		return nil, noop, errors.New("the MySQL driver cannot query")
	}
	rows, err := q.QueryContext(ctx, stmt, nil)
	return rows, noop, err
}

// redact removes the connection's password from an error's text, keeping
// the error chain.
func redact(cfg *Config, err error) error {
	pw := cfg.Driver.Passwd
	if err == nil || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), pw, "********"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
