package connectors

// Error is how a Source's Fetch fails when its database reported the
// failure: it names the connection and, when the database said where in
// the query's SQL, carries the byte offset, so that the caller can name the
// cell's line and column. The database's own error (a *pgconn.PgError, a
// *mysql.MySQLError) stays reachable through Unwrap.
type Error struct {
	// Connection is the connection's id.
	Connection string
	// Offset is a byte offset into Query.SQL, or -1 when the database
	// gave no position.
	Offset int
	// Detail is what the database said beyond its message (Postgres's
	// DETAIL and HINT), one "\nDETAIL: ..." line each; the caller shows it
	// after the position. It is not part of Error.
	Detail string
	Err    error
}

func (e *Error) Error() string { return "connection " + e.Connection + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }
