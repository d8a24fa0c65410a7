package sqlroomstest

import (
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/connectors/bridge"
)

// MySQLConnectionID is the id of the MySQL connection e2e_mysql.mjs
// queries. It must be read-only (the script checks that an INSERT is
// refused).
const MySQLConnectionID = "my"

// MySQLTarget is a running bridge and the MariaDB (or MySQL) database
// behind its connection MySQLConnectionID.
type MySQLTarget struct {
	// URL is the base URL; the bridge is under URL/api/db/.
	URL string
	// Token is the bearer token the bridge requires.
	Token string
	// DB is a pool on Database.
	DB *sql.DB
	// Database holds the tables MySQLPeople made.
	Database string
	// Connections are the ids list-connections must answer, in order
	// (connectors.CoreID first).
	Connections []string
}

// MySQLPeople fills the database of db with table e2e_people, holding the
// types the MySQL path maps (signed and unsigned integers, DECIMAL,
// DATETIME(6), TIMESTAMP, DOUBLE, DATE, VARBINARY, JSON, ENUM, TIME) and
// NULLs, and view e2e_people_names.
func MySQLPeople(t testing.TB, db *sql.DB) {
	t.Helper()
	const script = `
		SET SESSION time_zone = '+00:00';
		CREATE TABLE e2e_people (id BIGINT PRIMARY KEY, name VARCHAR(20), amount DECIMAL(12,2), at DATETIME(6),
			ts TIMESTAMP(3) NULL, flag TINYINT, ratio DOUBLE, day DATE, u BIGINT UNSIGNED, b VARBINARY(8), j JSON,
			e ENUM('small', 'large'), tm TIME(6)) CHARACTER SET utf8mb4;
		INSERT INTO e2e_people VALUES
			(1, 'Ada 😀', 12.34, '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.678', 1, 0.5, '2024-01-02',
				18446744073709551615, x'DEADBEEF', '{"a": [1, 2]}', 'large', '-12:30:00.5'),
			(2, 'Grace', -0.5, '1999-12-31 23:59:59', '1999-12-31 23:59:59', -128, -1.25, '1999-12-31',
				0, x'', '[]', 'small', '838:59:59'),
			(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
		CREATE VIEW e2e_people_names AS SELECT id, name FROM e2e_people;`
	if _, err := db.Exec(script); err != nil {
		t.Fatalf("%s: %v", script, err)
	}
}

// RunMySQL runs e2e_mysql.mjs against tg and checks what the client
// decoded: the rows equal those in MariaDB (as JSON and as Arrow), a
// streamed query comes in several batches, aborting a stream takes its
// query off the server's processlist, and errors carry the bridge's
// status.
func (c *Client) RunMySQL(t testing.TB, tg MySQLTarget) *MySQLResult {
	t.Helper()
	marker := fmt.Sprintf("e2e_abort_%s", tg.Database)
	got := new(MySQLResult)
	c.runJSON(t, "e2e_mysql.mjs", got, "BRIDGE_URL="+tg.URL, "BRIDGE_TOKEN="+tg.Token, "MY_DB="+tg.Database, "E2E_MARKER="+marker)
	logAbort(t, got.Abort)
	checkMySQL(t, got, tg, marker)
	return got
}

// wantMySQLPeople reads e2e_people with database/sql and returns the rows
// as the client represents them: Arrow (64-bit integers as text, decimals
// at their scale, timestamps as JS dates, with ms, binary as hex) and JSON
// (numbers, decimals as numbers, timestamps as ISO text with µs, binary as
// base64, JSON as itself).
func wantMySQLPeople(t testing.TB, tg MySQLTarget) (wantArrow, wantJSON [][]any) {
	t.Helper()
	rows, err := tg.DB.Query(`SELECT id, name, CAST(amount AS CHAR), CAST(amount AS DOUBLE),
		DATE_FORMAT(at, '%Y-%m-%dT%H:%i:%s.%f'), DATE_FORMAT(CONVERT_TZ(ts, @@session.time_zone, '+00:00'), '%Y-%m-%dT%H:%i:%s.%f'),
		flag, ratio, CAST(day AS CHAR), CAST(u AS CHAR), HEX(b), j, e FROM e2e_people ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	jsonType := types[11].DatabaseTypeName() == "JSON"
	for rows.Next() {
		var (
			id                                    int64
			name, amount, at, ts, day, u, b, j, e *string
			amountF, ratio                        *float64
			flag                                  *int64
		)
		if err := rows.Scan(&id, &name, &amount, &amountF, &at, &ts, &flag, &ratio, &day, &u, &b, &j, &e); err != nil {
			t.Fatal(err)
		}
		var atArrow, atJSON, tsArrow, tsJSON, bArrow, bJSON, jJSON, uJSON any
		if at != nil {
			a, err := time.Parse("2006-01-02T15:04:05.999999", *at)
			if err != nil {
				t.Fatal(err)
			}
			atArrow, atJSON = a.Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z"), a.Format("2006-01-02T15:04:05.999999")
		}
		if ts != nil {
			a, err := time.Parse("2006-01-02T15:04:05.999999", *ts)
			if err != nil {
				t.Fatal(err)
			}
			tsArrow, tsJSON = a.Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z"), a.Format("2006-01-02T15:04:05.999999Z07:00")
		}
		if b != nil {
			bArrow = strings.ToLower(*b)
			raw, err := hex.DecodeString(*b)
			if err != nil {
				t.Fatal(err)
			}
			bJSON = base64.StdEncoding.EncodeToString(raw)
		}
		if j != nil {
			jJSON = *j // MariaDB's JSON is a LONGTEXT: text, not a document
			if jsonType {
				jJSON = json.RawMessage(*j)
			}
		}
		if u != nil {
			uJSON = json.Number(*u)
		}
		wantArrow = append(wantArrow, []any{fmt.Sprint(id), name, amount, atArrow, tsArrow, flag, ratio, day, u, bArrow, j, e})
		wantJSON = append(wantJSON, []any{id, name, amountF, atJSON, tsJSON, flag, ratio, day, uJSON, bJSON, jJSON, e})
	}
	if err := rows.Err(); err != nil || len(wantJSON) != 3 {
		t.Fatalf("read e2e_people: %v (%d rows)", err, len(wantJSON))
	}
	return wantArrow, wantJSON
}

// checkMySQL compares what the client decoded with what it should have.
func checkMySQL(t testing.TB, got *MySQLResult, tg MySQLTarget, marker string) {
	t.Helper()
	wantArrow, wantJSON := wantMySQLPeople(t, tg)
	tc := got.TestConnection
	expect(t, "testConnection", tc.My, "my %v", tc.My)
	checkRefusals(t, tc.Unknown, tc.NoToken)

	cat := got.ListCatalog.My
	expect(t, "listCatalog", slices.Contains(cat.Tables, bridge.CatalogTable{Database: "def", Schema: tg.Database, Table: "e2e_people_names", IsView: true}) &&
		slices.Contains(cat.Tables, bridge.CatalogTable{Database: "def", Schema: tg.Database, Table: "e2e_people"}) &&
		slices.Contains(cat.Schemas, bridge.CatalogSchema{Database: "def", Schema: tg.Database}), "e2e_people, e2e_people_names or the schema missing: %+v", cat)

	eq := got.ExecuteQuery
	var gotJSON [][]any
	for _, r := range eq.JSON {
		gotJSON = append(gotJSON, []any{r["id"], r["name"], r["amount"], r["at"], r["ts"], r["flag"], r["ratio"], r["day"], r["u"], r["b"], r["j"], r["e"]})
	}
	expect(t, "executeQuery json", reflect.DeepEqual(normalize(t, gotJSON), normalize(t, wantJSON)), "got %v\nwant %v", gotJSON, wantJSON)
	expect(t, "executeQuery read-only", strings.Contains(eq.ExecReadOnly, "(422)") && strings.Contains(eq.ExecReadOnly, "read_only"), "%q", eq.ExecReadOnly)
	expect(t, "executeQuery SQL error", strings.Contains(eq.SQLError, "(422)") && strings.Contains(eq.SQLError, "nowhere") && strings.Contains(eq.SQLError, "doesn't exist"), "%q", eq.SQLError)

	fa := got.FetchArrow
	expect(t, "fetchArrow rows", reflect.DeepEqual(normalize(t, fa.My.Rows), normalize(t, wantArrow)), "got %v\nwant %v", fa.My.Rows, wantArrow)
	var wantTime [][]any
	for _, r := range queryRows(t, tg.DB, `SELECT CAST(ROUND(TIME_TO_SEC(tm) * 1000000) AS SIGNED) * 1000 FROM e2e_people ORDER BY id`) {
		if r[0] == nil {
			wantTime = append(wantTime, nil)
			continue
		}
		wantTime = append(wantTime, []any{0, 0, *r[0]})
	}
	tm := fa.Time
	expect(t, "fetchArrow TIME", len(tm.Fields) == 2 && tm.Fields[1].Type == "Interval<MONTH_DAY_NANO>" &&
		reflect.DeepEqual(normalize(t, tm.Raw), normalize(t, wantTime)), "fields %v, values %v, want %v", tm.Fields, tm.Raw, wantTime)
	t.Logf("TIME as the client decodes it (apache-arrow 17 reads MONTH_DAY_NANO as YEAR_MONTH): %v; the values sent: %v", tm.Rows, tm.Raw)
	expect(t, "fetchArrow SQL error", strings.Contains(fa.SQLError, "(422)") && strings.Contains(fa.SQLError, "nowhere"), "%q", fa.SQLError)

	checkStream(t, got.FetchArrowStream)
	ab := got.Abort
	checkAbort(t, ab, "the processlist")
	expect(t, "abort kills the query", ab.GoneAfterMs >= 0 && ab.GoneAfterMs < 1000, "the query was gone %d ms after the abort (-1: still there after 10 s)", ab.GoneAfterMs)
	if n := ActiveMySQLQueries(t, tg.DB, marker); n != 0 {
		t.Errorf("%d connections still run the aborted query", n)
	}
	expect(t, "cancelQuery unknown", !got.CancelQuery.Unknown, "cancelled an unknown query")
	checkListConnections(t, got.ListConnections, tg.Connections)
}

// ActiveMySQLQueries counts the connections running a statement whose
// text contains marker (other than the one asking).
func ActiveMySQLQueries(t testing.TB, db *sql.DB, marker string) int {
	t.Helper()
	var n int
	err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.PROCESSLIST
		WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Sleep' AND INSTR(INFO, ?) > 0`, marker).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// MySQLResult is what e2e_mysql.mjs prints.
type MySQLResult struct {
	TestConnection struct {
		My               bool
		Unknown, NoToken string
	}
	ListCatalog  struct{ My bridge.CatalogResponse }
	ExecuteQuery struct {
		JSON         []map[string]any `json:"json"`
		ExecReadOnly string
		SQLError     string `json:"sqlError"`
	}
	FetchArrow struct {
		My struct {
			Fields []struct{ Name, Type string }
			Rows   [][]any
		}
		Time struct {
			Fields []struct{ Name, Type string }
			Rows   [][]any
			Raw    [][]any
		}
		SQLError string `json:"sqlError"`
	}
	FetchArrowStream StreamResult
	Abort            AbortResult
	CancelQuery      struct{ Unknown bool }
	ListConnections  ListConnectionsResult
}

// queryRows returns the rows of query as text (nil for NULL).
func queryRows(t testing.TB, db *sql.DB, query string) [][]*string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]*string
	for rows.Next() {
		row := make([]*string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
