package sqlparse_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/cellsd/cellsd/sqlparse"
)

// batchTexts are cells whose joined parse could go wrong: literals and
// comments left open that run into the next cell, cells with no
// statement, several statements, DDL, errors and a NUL.
var batchTexts = []string{
	"SELECT * FROM a",
	"SELECT 1 -- trailing comment",
	"SELECT 'open",
	"b' FROM x",
	"SELECT * FROM c /* open",
	"*/ SELECT * FROM d",
	"",
	"   -- only a comment",
	"/*",
	"*/",
	"SELECT * FROM e; SELECT * FROM f;",
	"CREATE TABLE g AS SELECT * FROM h; INSERT INTO g SELECT * FROM i",
	"CREATE OR REPLACE TABLE j AS FROM k",
	"SELEC oops",
	"SELECT * FROM l WHERE x = {{v}} AND y LIKE '%{{w}}%'",
	"SELECT $$open",
	"text$$ FROM m",
	"SELECT E'\\",
	"' FROM n",
	"SELECT * FROM o\x00SELECT * FROM p",
	"COPY r TO 'r.csv'",
	"PIVOT s ON k USING sum(v)",
	"WITH t AS (SELECT * FROM u) SELECT * FROM t",
	"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1;",
	"END",
	"SELECT * FROM v;",
	";",
	"SELECT * FROM w",
}

// TestAnalyzeAll checks that analysing texts in one batch gives exactly
// what analysing each on its own gives, for every split of batchTexts at
// every point (so every pair of neighbours meets).
func TestAnalyzeAll(t *testing.T) {
	ctx := context.Background()
	d := sqlparse.NewDuckDB(openDuckDB(t))
	var duckOne, pgOne []*sqlparse.Analysis
	for _, text := range batchTexts {
		a, err := d.Analyze(ctx, text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		duckOne = append(duckOne, a)
		pgOne = append(pgOne, sqlparse.AnalyzePostgres(text))
	}
	for start := range batchTexts {
		texts := batchTexts[start:]
		duck, err := d.AnalyzeAll(ctx, texts)
		if err != nil {
			t.Fatal(err)
		}
		pg := sqlparse.AnalyzePostgresAll(texts)
		for i, text := range texts {
			if !reflect.DeepEqual(duck[i], duckOne[start+i]) {
				t.Errorf("DuckDB %q from %d: batch %+v, alone %+v", text, start, duck[i], duckOne[start+i])
			}
			if !reflect.DeepEqual(pg[i], pgOne[start+i]) {
				t.Errorf("Postgres %q from %d: batch %+v, alone %+v", text, start, pg[i], pgOne[start+i])
			}
		}
	}
}

// TestAnalyzeAll_Parts checks a batch big enough to be split in parts that
// DuckDB serializes at once (over a pool, with several CPUs): the same
// analyses as each text alone, batchTexts among them.
func TestAnalyzeAll_Parts(t *testing.T) {
	ctx := context.Background()
	d := sqlparse.NewDuckDB(openDuckDB(t))
	var texts []string
	for i := range 1200 {
		texts = append(texts, fmt.Sprintf("SELECT v + %d AS v FROM t%d", i, i))
		if i%40 == 0 {
			texts = append(texts, batchTexts[i/40%len(batchTexts)])
		}
	}
	all, err := d.AnalyzeAll(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		one, err := d.Analyze(ctx, text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if !reflect.DeepEqual(all[i], one) {
			t.Errorf("%q: batch %+v, alone %+v", text, all[i], one)
		}
	}
}
