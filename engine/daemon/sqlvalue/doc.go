// Package sqlvalue converts the Go values of a result's rows, described by
// their DuckDB type names ("INTEGER", "DECIMAL(12,2)", "TIMESTAMPTZ",
// "VARCHAR[]"), to Arrow columns and to the JSON values of the bridge's
// execute-query; and Arrow values back to those Go values. The bridge
// server and the job API's query op share it. Its functions are pure and
// safe for concurrent use.
package sqlvalue
