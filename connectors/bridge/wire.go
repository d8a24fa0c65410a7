package bridge

// The JSON bodies of the bridge endpoints, as createHttpDbBridge sends and
// reads them.

// ConnectionRequest is the body of test-connection and list-catalog. An ad
// hoc test-connection names an engine and its config instead of an id.
type ConnectionRequest struct {
	ConnectionID string            `json:"connectionId,omitempty"`
	Engine       string            `json:"engine,omitempty"`
	Config       map[string]string `json:"config,omitempty"`
}

// QueryRequest is the body of execute-query, fetch-arrow and
// fetch-arrow-stream.
type QueryRequest struct {
	ConnectionID string `json:"connectionId"`
	SQL          string `json:"sql"`
	// QueryType is "exec" or "json" (execute-query only).
	QueryType string `json:"queryType,omitempty"`
	// QueryID names a streamed query so cancel-query can stop it.
	QueryID string `json:"queryId,omitempty"`
	// ChunkRows is the number of rows per streamed batch.
	ChunkRows int `json:"chunkRows,omitempty"`
}

// CancelRequest is the body of cancel-query.
type CancelRequest struct {
	QueryID string `json:"queryId"`
}

// CancelResponse answers cancel-query.
type CancelResponse struct {
	Cancelled bool `json:"cancelled"`
}

// ErrorResponse is the body of every failed request.
type ErrorResponse struct {
	Error string `json:"error"`
}

// DbConnection is one entry of list-connections, in the SQLRooms
// DbConnection shape, without secrets.
type DbConnection struct {
	ID             string            `json:"id"`
	EngineID       string            `json:"engineId"`
	Title          string            `json:"title"`
	RuntimeSupport string            `json:"runtimeSupport"`
	RequiresBridge bool              `json:"requiresBridge"`
	BridgeID       string            `json:"bridgeId,omitempty"`
	IsCore         bool              `json:"isCore"`
	Config         map[string]string `json:"config,omitempty"`
}

// TestConnectionResponse answers test-connection. A connection that cannot
// be reached is ok: false with the reason, not an HTTP error.
type TestConnectionResponse struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// CatalogResponse answers list-catalog.
type CatalogResponse struct {
	Databases []CatalogDatabase `json:"databases"`
	Schemas   []CatalogSchema   `json:"schemas"`
	Tables    []CatalogTable    `json:"tables"`
}

// CatalogDatabase is a database of list-catalog.
type CatalogDatabase struct {
	Database string `json:"database"`
}

// CatalogSchema is a schema of list-catalog.
type CatalogSchema struct {
	Database string `json:"database,omitempty"`
	Schema   string `json:"schema"`
}

// CatalogTable is a table or view of list-catalog.
type CatalogTable struct {
	Database string `json:"database,omitempty"`
	Schema   string `json:"schema,omitempty"`
	Table    string `json:"table"`
	IsView   bool   `json:"isView"`
}

// ExecuteQueryResponse answers execute-query: OK for queryType "exec",
// JSONData (one object per row, keys in column order) for "json".
type ExecuteQueryResponse struct {
	OK       bool             `json:"ok,omitempty"`
	JSONData []map[string]any `json:"jsonData,omitempty"`
}

// ListConnectionsResponse answers list-connections.
type ListConnectionsResponse struct {
	Connections []DbConnection `json:"connections"`
}
