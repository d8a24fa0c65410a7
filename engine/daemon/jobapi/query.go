package jobapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon/sqlvalue"
	"github.com/cellsd/cellsd/sqlparse"
)

// Paging of the query op.
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 10_000
)

// codeNotReady answers a query of a cell that has not succeeded.
const codeNotReady = "not_ready"

// QueryRequest is the body of cellsd.v1.session.<id>.query: a cell's
// result or one read-only query, a page of it.
type QueryRequest struct {
	CellID string `json:"cellId,omitempty"`
	SQL    string `json:"sql,omitempty"`
	// Limit defaults to DefaultQueryLimit and may not exceed
	// MaxQueryLimit.
	Limit  *int `json:"limit,omitempty"`
	Offset int  `json:"offset,omitempty"`
}

// QueryColumn is a column of a QueryReply: its name and DuckDB type.
type QueryColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// QueryReply answers query: a page of rows, values as execute-query's
// jsonData gives them, and the number of rows of the whole result.
type QueryReply struct {
	Columns []QueryColumn `json:"columns"`
	Rows    [][]any       `json:"rows"`
	Total   int64         `json:"total"`
}

// Query answers the query op. A cellId reads the cell's result, once the
// cell has succeeded; sql must be one query (DuckDB's parser decides) and
// runs read-only, as on the bridge's session connections.
func Query(es *engine.Session, body []byte) (any, error) {
	var req QueryRequest
	if err := Decode(body, &req); err != nil {
		return nil, err
	}
	limit := DefaultQueryLimit
	if req.Limit != nil {
		limit = *req.Limit
	}
	switch {
	case (req.CellID == "") == (req.SQL == ""):
		return nil, Errorf(CodeBadRequest, "query: want cellId or sql, one of them")
	case limit <= 0 || limit > MaxQueryLimit:
		return nil, Errorf(CodeBadRequest, "query: limit %d: want 1 to %d", limit, MaxQueryLimit)
	case req.Offset < 0:
		return nil, Errorf(CodeBadRequest, "query: offset %d: want 0 or more", req.Offset)
	}
	ctx := context.Background()
	// One statement reads the page and the total, so they agree: the
	// total is a last column, computed once. A cell's relation is read as
	// it is; a query goes through DuckDB's query() table function, as a
	// value, never pasted into other SQL, in a read-only transaction.
	var err error
	out := QueryReply{Columns: []QueryColumn{}, Rows: [][]any{}}
	if req.CellID != "" {
		ev, rel, rerr := es.Result(req.CellID)
		if rerr != nil {
			return nil, queryError(rerr)
		}
		if ev.Status != engine.StatusSuccess {
			return nil, Errorf(codeNotReady, "cell %s is %s, not success: it has no result to read yet", req.CellID, ev.Status)
		}
		err = es.Read(ctx, func(ctx context.Context, db *sql.DB) error {
			return readPage(ctx, db, rel, nil, limit, req.Offset, &out)
		})
	} else {
		if err := es.CheckQuery(ctx, req.SQL); err != nil {
			return nil, queryError(err)
		}
		err = es.ReadOnly(ctx, func(ctx context.Context, conn *sql.Conn) error {
			return readPage(ctx, conn, "query(?)", []any{req.SQL}, limit, req.Offset, &out)
		})
	}
	if err != nil {
		return nil, queryError(err)
	}
	return out, nil
}

// querier is a *sql.DB or a *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readPage reads a page of from (a relation, or query(?) with its
// argument) and the number of its rows into out.
func readPage(ctx context.Context, q querier, from string, args []any, limit, offset int, out *QueryReply) error {
	stmt := "SELECT *, (SELECT count(*) FROM " + from + ") FROM " + from + " LIMIT ? OFFSET ?"
	rows, err := q.QueryContext(ctx, stmt, append(append(append([]any{}, args...), args...), limit, offset)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	n := len(cts) - 1 // the last column is the total
	types := make([]string, n)
	for i, ct := range cts[:n] {
		types[i] = ct.DatabaseTypeName()
		out.Columns = append(out.Columns, QueryColumn{Name: ct.Name(), Type: types[i]})
	}
	vals, dest := make([]any, n), make([]any, n+1)
	for i := range vals {
		dest[i] = &vals[i]
	}
	dest[n] = &out.Total
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		row := make([]any, n)
		for i, v := range vals {
			row[i] = sqlvalue.JSON(types[i], v)
		}
		out.Rows = append(out.Rows, row)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if len(out.Rows) > 0 {
		return nil
	}
	// Past the end: the total has no row to come with.
	return q.QueryRowContext(ctx, "SELECT count(*) FROM "+from, args...).Scan(&out.Total)
}

// queryError maps the errors of the query op to the job API's codes.
func queryError(err error) *Error {
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, sqlparse.ErrNotQuery):
		return Errorf(CodeBadRequest, "query: sql: %v", err)
	case errors.Is(err, engine.ErrClosed):
		return Errorf(CodeNotFound, "%v", err)
	case errors.Is(err, engine.ErrUnknownCell), errors.Is(err, engine.ErrNoResult):
		return Errorf(CodeNotFound, "query: %v", err)
	}
	return Errorf(CodeBadRequest, "query: %v", fmt.Sprint(err)) // the SQL failed: a missing table, a type error
}
