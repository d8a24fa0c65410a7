// Package connectors knows where a cell's SQL runs: the registry of
// connections loaded from the connections config (TOML, the SQLRooms
// [[db.connectors]] tables) and the engines cellsd speaks.
//
// A Registry is immutable once loaded and safe for concurrent use.
package connectors
