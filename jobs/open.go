package jobs

import (
	"fmt"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/registry"
)

// OpenSource opens the Source of a connection a worker runs jobs on:
// Postgres and MySQL, through the connectors' own Sources.
func OpenSource(c connectors.Connection) (connectors.Source, error) {
	switch c.Engine {
	case connectors.EnginePostgres, connectors.EngineMySQL:
		return registry.Open(c)
	}
	return nil, fmt.Errorf("connection %s: engine %q does not run on a worker", c.ID, c.Engine)
}
