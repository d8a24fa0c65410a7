// Package bridge is the SQLRooms DB bridge contract (createHttpDbBridge in
// @sqlrooms/db 0.29, DESIGN.md "HTTP") as a client sees it: the JSON
// bodies of the endpoints (wire.go), the framed Arrow stream of
// fetch-arrow-stream (frame.go), and Client, the bridge connector, which
// runs a cell's SQL on a connection of a remote bridge (another cellsd or
// the SQLRooms CLI). cellsd's own bridge server is
// engine/daemon/bridgeserver.
//
// Client is safe for concurrent use.
package bridge
