package plan

import (
	"context"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/sqlparse"
)

// Analyzer parses the SQL of one dialect. AnalyzeAll returns one Analysis
// per text, in order, each what the text parsed on its own gives; a parse
// error is in Analysis.Err, the error result is for a failing database or
// context. *sqlparse.DuckDB is the DuckDB dialect's.
type Analyzer interface {
	AnalyzeAll(ctx context.Context, texts []string) ([]*sqlparse.Analysis, error)
}

// PostgresAnalyzer parses the Postgres dialect with pg_query, all texts in
// one parse.
type PostgresAnalyzer struct{}

// AnalyzeAll implements Analyzer.
func (PostgresAnalyzer) AnalyzeAll(_ context.Context, texts []string) ([]*sqlparse.Analysis, error) {
	return sqlparse.AnalyzePostgresAll(texts), nil
}

// MySQLAnalyzer parses the MySQL dialect with vitess's grammar.
type MySQLAnalyzer struct{}

// AnalyzeAll implements Analyzer.
func (MySQLAnalyzer) AnalyzeAll(_ context.Context, texts []string) ([]*sqlparse.Analysis, error) {
	out := make([]*sqlparse.Analysis, len(texts))
	for i, t := range texts {
		out[i] = sqlparse.AnalyzeMySQL(t)
	}
	return out, nil
}

// analyzer returns the Analyzer of a connection's dialect
// (Connection.SQLDialect): the Planner's own for it, else the built-in one;
// DuckDB's is the Planner's DuckDB, and it parses every dialect without
// an analyzer of its own, as the core does.
func (p *Planner) analyzer(dialect string) Analyzer {
	if a := p.Analyzers[dialect]; a != nil {
		return a
	}
	switch dialect {
	case connectors.EnginePostgres:
		return PostgresAnalyzer{}
	case connectors.EngineMySQL:
		return MySQLAnalyzer{}
	}
	return p.DuckDB
}

// analyzeOne parses one text with the dialect's analyzer.
func (p *Planner) analyzeOne(ctx context.Context, dialect, text string) (*sqlparse.Analysis, error) {
	as, err := p.analyzer(dialect).AnalyzeAll(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	return as[0], nil
}
