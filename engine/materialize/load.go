package materialize

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/cellsd/cellsd/connectors"
)

// Target is the relation a result lands in: catalog.schema.name.
type Target struct {
	Catalog, Schema, Name string
}

// Relation is the target quoted.
func (t Target) Relation() string { return t.rel(t.Name) }

func (t Target) rel(name string) string {
	return QuoteIdent(t.Catalog) + "." + QuoteIdent(t.Schema) + "." + QuoteIdent(name)
}

// Guard commits a result: it calls commit unless the result has been
// superseded meanwhile (the session's supersession guard). Nil commits.
type Guard func(ctx context.Context, commit func() error) error

// Fetch streams a result to w: a connectors.Source's Fetch with its
// query bound.
type Fetch func(w connectors.ResultWriter) error

var stagingSeq, scanSeq atomic.Int64

// Load materializes the result fetch streams into t: the batches flow
// through cellsd_scan into a staging table while the source still sends,
// then one transaction, through guard, replaces t with it, so readers see
// the previous result until then and keep it if anything fails. received,
// when not nil, counts the bytes of the batches. It returns the rows
// loaded. An error of fetch comes back as it is; an error of DuckDB's
// side is wrapped "load result: ...".
func (m *Materializer) Load(ctx context.Context, t Target, fetch Fetch, guard Guard, received *atomic.Int64) (rows int64, err error) {
	res, err := m.LoadIncrement(ctx, t, fetch, guard, received, Increment{})
	return res.Rows, err
}

// Increment says how LoadIncrement lands a result. The zero Increment
// replaces the target, as Load does.
type Increment struct {
	// Column is an incremental refresh's watermark column: the result
	// must have it, of a type with an order, and the watermark after the
	// load is its largest value.
	Column string
	// UniqueKey, when set, is a column the result must hold no duplicate
	// of; an Append upserts by it.
	UniqueKey string
	// Append adds the result to the target (upserting by UniqueKey)
	// instead of replacing it, in one transaction.
	Append bool
}

// Loaded is what LoadIncrement did.
type Loaded struct {
	// Rows is the target's rows after the load; Added, the rows the
	// result brought (appended or upserted).
	Rows, Added int64
	// Watermark is the largest value of Increment.Column in the target
	// after the load, as text; empty without a Column or rows.
	Watermark string
}

// LoadIncrement is Load with inc: the result is staged as Load stages it,
// checked for inc's column and key, then replaces the target or, with
// inc.Append, is added to it in one transaction through guard. Nothing
// of a result that fails a check or a fetch that fails lands.
func (m *Materializer) LoadIncrement(ctx context.Context, t Target, fetch Fetch, guard Guard, received *atomic.Int64, inc Increment) (res Loaded, err error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return res, err
	}
	staging := "__cellsd_staging_" + t.Name + "_" + strconv.FormatInt(stagingSeq.Add(1), 10)
	l := &loader{m: m, ctx: ctx, conn: conn, stagingRel: t.rel(staging), received: received}
	defer func() { l.release(err != nil) }()
	ferr := fetch(l)
	if ferr == nil && l.st == nil {
		ferr = errors.New("the source sent no result") // a Source breaking its contract
	}
	if err := l.finish(ferr); err != nil {
		return res, err
	}
	if err := checkIncrement(ctx, conn, t, staging, inc); err != nil {
		return res, err
	}
	res.Added = l.rows
	if inc.Append {
		err = merge(ctx, conn, t, l.stagingRel, inc.UniqueKey, guard)
	} else {
		err = swap(ctx, conn, t, l.stagingRel, guard)
	}
	if err != nil {
		return res, err
	}
	res.Rows = l.rows
	if inc.Column != "" || inc.Append {
		if res.Rows, res.Watermark, err = watermark(ctx, conn, t.Relation(), inc.Column); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Watermark returns the largest value of column in t as text, and false
// when t does not exist or holds no value of it: then an incremental
// refresh loads everything.
func (m *Materializer) Watermark(ctx context.Context, t Target, column string) (string, bool, error) {
	var n int
	err := m.db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?`,
		t.Catalog, t.Schema, t.Name).Scan(&n)
	if err != nil || n == 0 {
		return "", false, err
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return "", false, err
	}
	defer conn.Close()
	_, w, err := watermark(ctx, conn, t.Relation(), column)
	if err != nil {
		return "", false, fmt.Errorf("read the watermark %s of %s: %w", column, t.Relation(), err)
	}
	return w, w != "", nil
}

// watermark counts rel's rows and reads column's largest value as text
// (empty when column is empty or the table has none).
func watermark(ctx context.Context, conn *sql.Conn, rel, column string) (rows int64, mark string, err error) {
	if column == "" {
		err = conn.QueryRowContext(ctx, "SELECT count(*) FROM "+rel).Scan(&rows)
		return rows, "", err
	}
	var w sql.NullString
	err = conn.QueryRowContext(ctx, "SELECT count(*), CAST(max("+QuoteIdent(column)+") AS VARCHAR) FROM "+rel).Scan(&rows, &w)
	return rows, w.String, err
}

// unordered are the DuckDB types whose values have no order a watermark
// can follow.
var unordered = map[string]bool{"JSON": true, "MAP": true, "UNION": true}

// checkIncrement checks a staged result against inc: the watermark column
// is there and ordered, the unique key is there and holds no value twice.
func checkIncrement(ctx context.Context, conn *sql.Conn, t Target, staging string, inc Increment) error {
	typeOf := func(col string) (string, error) {
		var typ string
		err := conn.QueryRowContext(ctx, `SELECT data_type FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ? AND lower(column_name) = lower(?)`,
			t.Catalog, t.Schema, staging, col).Scan(&typ)
		if errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("the result has no column %q", col)
		}
		return typ, err
	}
	if inc.Column != "" {
		typ, err := typeOf(inc.Column)
		if err != nil {
			return fmt.Errorf("incremental refresh: watermark %w", err)
		}
		if base, _, _ := strings.Cut(typ, "("); unordered[base] {
			return fmt.Errorf("incremental refresh: watermark column %q is %s, a type without an order", inc.Column, typ)
		}
	}
	if inc.UniqueKey == "" {
		return nil
	}
	if _, err := typeOf(inc.UniqueKey); err != nil {
		return fmt.Errorf("unique_key: %w", err)
	}
	k := QuoteIdent(inc.UniqueKey)
	var dup sql.NullString
	var n int64
	err := conn.QueryRowContext(ctx, "SELECT CAST("+k+" AS VARCHAR), count(*) FROM "+t.rel(staging)+" GROUP BY "+k+" HAVING count(*) > 1 LIMIT 1").Scan(&dup, &n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("unique_key %q: %w", inc.UniqueKey, err)
	}
	v := "NULL"
	if dup.Valid {
		v = quoteString(dup.String)
	}
	return fmt.Errorf("unique_key %q: %d rows of the result have %s = %s", inc.UniqueKey, n, inc.UniqueKey, v)
}

// merge adds the staging table's rows to t in one transaction, through
// guard: with key, t's rows of the same key are deleted first (an upsert).
func merge(ctx context.Context, conn *sql.Conn, t Target, stagingRel, key string, guard Guard) error {
	commit := func() error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if key != "" {
			k := QuoteIdent(key)
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t.Relation()+" WHERE "+k+" IN (SELECT "+k+" FROM "+stagingRel+")"); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+t.Relation()+" BY NAME SELECT * FROM "+stagingRel); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DROP TABLE "+stagingRel); err != nil {
			return err
		}
		return tx.Commit()
	}
	return through(ctx, guard, "add the new rows to the result", commit)
}

// loader is the connectors.ResultWriter of one Load.
type loader struct {
	m          *Materializer
	ctx        context.Context
	conn       *sql.Conn
	stagingRel string
	received   *atomic.Int64

	id      string
	st      *scanStream
	ctasErr chan error
	rows    int64
	bytes   int64 // added to received
}

var errScanStopped = errors.New("the load into DuckDB stopped")

// Begin checks the result's types, makes its column names unique (DuckDB
// column names are case-insensitive) and starts the CREATE TABLE ... AS
// SELECT FROM cellsd_scan that pulls the batches into the staging table.
func (l *loader) Begin(schema *arrow.Schema, cols []connectors.Column) error {
	if l.st != nil {
		return errors.New("Begin called twice")
	}
	fields := make([]arrow.Field, schema.NumFields())
	sel := make([]string, len(fields))
	seen := map[string]bool{}
	for i, f := range schema.Fields() {
		base, duckType := f.Name, ""
		if i < len(cols) {
			base, duckType = cols[i].Name, cols[i].DuckDBType
		}
		if base == "" {
			base = "column" + strconv.Itoa(i)
		}
		name := base
		for n := 1; seen[strings.ToLower(name)]; n++ {
			name = base + "_" + strconv.Itoa(n)
		}
		seen[strings.ToLower(name)] = true
		if err := scannable(f.Type); err != nil {
			return fmt.Errorf("column %s: %w", name, err)
		}
		fields[i] = arrow.Field{Name: name, Type: f.Type, Nullable: true}
		if duckType == "" {
			duckType = carried(f.Type)
		}
		sel[i] = loadColumn(name, duckType)
	}
	if len(fields) == 0 {
		return errors.New("the result has no columns")
	}
	l.st = &scanStream{schema: arrow.NewSchema(fields, nil), records: make(chan arrow.RecordBatch, 4), stopped: make(chan struct{})}
	l.id = strconv.FormatInt(scanSeq.Add(1), 10)
	l.m.streams.Store(l.id, l.st)
	l.ctasErr = make(chan error, 1)
	go func() {
		defer close(l.st.stopped)
		_, err := l.conn.ExecContext(l.ctx, "CREATE TABLE "+l.stagingRel+" AS SELECT "+strings.Join(sel, ", ")+
			" FROM "+scanFunction+"("+quoteString(l.id)+")")
		l.ctasErr <- err
	}()
	return nil
}

// carried is the DuckDB type of an Arrow type whose values cross
// cellsd_scan as another (see typeInfoOf); empty for the rest.
func carried(t arrow.DataType) string {
	switch t := t.(type) {
	case *arrow.Date32Type:
		return "DATE"
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			return "TIMESTAMPTZ"
		}
		return "TIMESTAMP"
	}
	return ""
}

// loadColumn is the load's SELECT of a column that arrives in Arrow as
// its carrier type and lands as duckType: JSON and TIMETZ come as text,
// dates as days and timestamps as microseconds since the epoch.
func loadColumn(name, duckType string) string {
	q := QuoteIdent(name)
	switch duckType {
	case "JSON":
		return "CAST(" + q + " AS JSON) AS " + q
	case "DATE":
		return "CAST(DATE '1970-01-01' + " + q + " AS DATE) AS " + q
	case "TIMESTAMP":
		return "make_timestamp(" + q + ") AS " + q
	case "TIMESTAMPTZ":
		return "make_timestamptz(" + q + ") AS " + q
	case "TIMETZ":
		return "CAST(" + q + " AS TIMETZ) AS " + q
	}
	return q
}

// maxChunkRows is DuckDB's vector size, the most rows a chunk holds.
const maxChunkRows = 2048

// Write checks a batch (a malformed batch from a remote is an error here
// rather than a crash inside DuckDB's scan), cuts it to DuckDB's vector
// size and hands it to the scan.
func (l *loader) Write(rec arrow.RecordBatch) error {
	defer rec.Release()
	if l.st == nil {
		return errors.New("Write before Begin")
	}
	if err := checkRecord(rec); err != nil {
		return err
	}
	n := rec.NumRows()
	if n <= maxChunkRows {
		return l.send(rec)
	}
	for off := int64(0); off < n; off += maxChunkRows {
		sl := rec.NewSlice(off, min(off+maxChunkRows, n))
		err := l.send(sl)
		sl.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) send(rec arrow.RecordBatch) error {
	rec.Retain()
	select {
	case l.st.records <- rec:
		l.rows += rec.NumRows()
		if l.received != nil {
			n := recordBytes(rec)
			l.bytes += n
			l.received.Add(n)
		}
		return nil
	case <-l.st.stopped:
		rec.Release()
		return errScanStopped
	}
}

// errRestarted stops the load of a result the source starts over.
var errRestarted = errors.New("the source starts the result over")

// Restart drops what the load received: the source (a worker pool whose
// worker was lost) sends the result again from Begin. The staging table
// is dropped; the target is untouched, as it is until the swap.
func (l *loader) Restart() error {
	if l.st == nil {
		return nil
	}
	err := l.finish(errRestarted)
	if err != nil && !errors.Is(err, errRestarted) {
		return err
	}
	if _, err := l.conn.ExecContext(l.ctx, "DROP TABLE IF EXISTS "+l.stagingRel); err != nil {
		return fmt.Errorf("load result: drop the partial result: %w", err)
	}
	if l.received != nil {
		l.received.Add(-l.bytes)
	}
	l.st, l.rows, l.bytes = nil, 0, 0
	return nil
}

// finish ends the stream with the fetch's error, waits for DuckDB to
// finish loading and returns the first error of the two.
func (l *loader) finish(fetchErr error) error {
	if l.st == nil {
		return fetchErr
	}
	l.st.err = fetchErr
	close(l.st.records)
	ctasErr := <-l.ctasErr
	l.m.streams.Delete(l.id)
	for rec := range l.st.records { // left over after a failed load
		rec.Release()
	}
	if fetchErr != nil && !errors.Is(fetchErr, errScanStopped) {
		return fetchErr
	}
	if ctasErr != nil {
		return fmt.Errorf("load result: %w", ctasErr)
	}
	return fetchErr
}

// release ends a load: after a failure it drops the staging table and
// discards the connection, which may hold an aborted transaction or a
// pending interrupt; then it returns the connection.
func (l *loader) release(failed bool) {
	if failed {
		l.conn.ExecContext(context.WithoutCancel(l.ctx), "DROP TABLE IF EXISTS "+l.stagingRel)
		l.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	l.conn.Close()
}

// swap replaces t with the staging table in one transaction, through
// guard when there is one.
func swap(ctx context.Context, conn *sql.Conn, t Target, stagingRel string, guard Guard) error {
	commit := func() error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+t.Relation()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "ALTER TABLE "+stagingRel+" RENAME TO "+QuoteIdent(t.Name)); err != nil {
			return err
		}
		return tx.Commit()
	}
	return through(ctx, guard, "swap in result", commit)
}

// through runs commit through guard when there is one; an error is
// wrapped with what.
func through(ctx context.Context, guard Guard, what string, commit func() error) error {
	var err error
	if guard == nil {
		err = commit()
	} else {
		err = guard(ctx, commit)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// QuoteIdent quotes a DuckDB identifier.
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func quoteString(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}
