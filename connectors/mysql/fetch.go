package mysql

import (
	"context"
	"errors"

	"github.com/cellsd/cellsd/connectors"
)

var _ connectors.Source = (*Source)(nil)

// Fetch implements connectors.Source through Query: q.SQL is the cell's
// SQL as written, rendered from q.Values statement by statement; with
// HasResult the last statement's rows stream to w. Errors of the
// statements are a *connectors.Error with the byte offset in q.SQL the
// server points at. MySQL cells take no parameters of their own: a query
// with Args fails before anything is sent.
func (s *Source) Fetch(ctx context.Context, q connectors.Query, w connectors.ResultWriter) error {
	if len(q.Args) > 0 {
		return &connectors.Error{Connection: s.cfg.ID, Offset: -1, Err: errors.New("query parameters are not supported")}
	}
	if q.Since != nil {
		return &connectors.Error{Connection: s.cfg.ID, Offset: -1, Err: errors.New("incremental refresh is not supported for MySQL yet")}
	}
	var sink ArrowSink
	fs := &fetchSink{w: w}
	if q.HasResult {
		sink = fs
	}
	err := s.Query(ctx, q.SQL, q.Values, sink)
	if err == nil && q.HasResult && !fs.began {
		err = errors.New("the last statement returned no result set")
	}
	if err == nil {
		return nil
	}
	off := -1
	var me *Error
	if errors.As(err, &me) {
		off = me.Offset
	}
	return &connectors.Error{Connection: s.cfg.ID, Offset: off, Err: err}
}

// fetchSink hands Query's result to a connectors.ResultWriter.
type fetchSink struct {
	w     connectors.ResultWriter
	began bool
}

func (f *fetchSink) Columns(cols []Column) error {
	f.began = true
	dst := make([]connectors.Column, len(cols))
	for i, c := range cols {
		dst[i] = connectors.Column{Name: c.Name, DuckDBType: c.DuckDBType}
	}
	return f.w.Begin(Schema(cols), dst)
}

func (f *fetchSink) Record(rec arrowRecord) error {
	rec.Retain() // the writer releases it
	return f.w.Write(rec)
}
