// Package plan resolves a notebook into what cellsd knows before anything
// runs: a [Planner] parses every cell in its own dialect (DuckDB through
// json_serialize_sql, Postgres through pg_query, MySQL through vitess) and
// builds one dependency graph per artifact ([Plan], [ArtifactPlan]) by
// DESIGN.md's dependency rules, with the families of writers (rule 7), the
// errors of rule 8, selections ([Plan.Select]) and the resolution of names
// written outside any cell ([Plan.Reads]). An edit of one cell
// ([ArtifactPlan.Update]) re-parses only that cell and re-resolves only the
// cells it concerns. The dependency corpus, testdata/corpus/*.txtar, is
// readable without Go.
//
// A Planner is safe for concurrent use; an ArtifactPlan is not: its owner
// (the engine's scheduler) serialises Update with reads of it.
package plan
