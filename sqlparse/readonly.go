package sqlparse

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotQuery is wrapped by the error CheckQuery returns for text that is
// not exactly one query.
var ErrNotQuery = errors.New("not a query")

// NotQueryError says why a text is not exactly one query. Parse is set
// when the text does not parse.
type NotQueryError struct {
	Reason string
	Parse  *Error
}

func (e *NotQueryError) Error() string { return "not a query: " + e.Reason }

func (e *NotQueryError) Is(target error) bool { return target == ErrNotQuery }

func (e *NotQueryError) Unwrap() error {
	if e.Parse == nil {
		return nil
	}
	return e.Parse
}

// CheckQuery returns nil when text is exactly one query, as DuckDB's parser
// reads it: json_serialize_sql serializes SELECT-like statements only
// (SELECT, FROM-first, WITH ... SELECT, VALUES, set operations, DESCRIBE,
// SHOW, SUMMARIZE, a PIVOT with an IN list) and reports "not implemented"
// for any other statement. Everything else gets a *NotQueryError (which
// wraps ErrNotQuery): DDL, DML, COPY, ATTACH, SET, PRAGMA, CALL, INSTALL,
// EXPLAIN, a PIVOT without IN list (DuckDB runs it as several statements,
// the first of which creates a type), several statements, none, and text
// that does not parse. The error result is nil or such an error, except
// for a failing database or context.
func (d *DuckDB) CheckQuery(ctx context.Context, text string) error {
	s, err := d.newBatch().serialize(ctx, text)
	switch {
	case err != nil:
		return err
	case s.err != nil:
		reason := s.err.Message
		if s.err.Line > 0 {
			reason = fmt.Sprintf("parse error at line %d, column %d: %s", s.err.Line, s.err.Column, s.err.Message)
		}
		return &NotQueryError{Reason: reason, Parse: s.err}
	case s.trees == nil:
		return &NotQueryError{Reason: "DuckDB's parser reads a statement that is not a query " +
			"(only SELECT, FROM, WITH ... SELECT, VALUES, DESCRIBE, SHOW and SUMMARIZE are read here)"}
	case len(s.trees) == 0:
		return &NotQueryError{Reason: "no SQL statement"}
	case len(s.trees) > 1:
		return &NotQueryError{Reason: fmt.Sprintf("%d statements, want one query", len(s.trees))}
	}
	return nil
}
