package cells

import (
	"fmt"
	"strings"
	"time"
)

// RefreshKind is how an external cell's result is fetched again
// (DESIGN.md "Refresh of external results").
type RefreshKind string

const (
	// RefreshOnChange fetches again when the SQL, inputs or connection
	// change, or on an explicit run: the default.
	RefreshOnChange RefreshKind = "on-change"
	// RefreshTTL also fetches again once the result is older than TTL.
	RefreshTTL RefreshKind = "ttl"
	// RefreshManual fetches again only on an explicit run of the cell,
	// once it has a result.
	RefreshManual RefreshKind = "manual"
	// RefreshIncremental fetches only the rows whose Column is greater
	// than the largest one materialized, and appends (or upserts) them.
	RefreshIncremental RefreshKind = "incremental"
)

// Refresh is a refresh policy.
type Refresh struct {
	Kind RefreshKind
	// TTL is the age of a ttl result that makes it stale.
	TTL time.Duration
	// Column is an incremental policy's watermark column.
	Column string
	// UniqueKey, when set, makes an incremental refresh upsert by this
	// column instead of appending.
	UniqueKey string
}

// String is the policy as written ("ttl:10m"), without its unique key.
func (r Refresh) String() string {
	switch r.Kind {
	case RefreshTTL:
		return "ttl:" + formatDuration(r.TTL)
	case RefreshIncremental:
		return "incremental:" + r.Column
	case "":
		return string(RefreshOnChange)
	}
	return string(r.Kind)
}

// formatDuration prints a duration without the zero units time.Duration
// prints ("10m", not "10m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseRefresh parses a policy as DESIGN.md writes it: "on-change",
// "ttl:DUR" (a positive Go duration), "manual" or "incremental:COLUMN".
func ParseRefresh(s string) (Refresh, error) {
	kind, arg, hasArg := strings.Cut(s, ":")
	switch RefreshKind(kind) {
	case RefreshOnChange, RefreshManual:
		if !hasArg {
			return Refresh{Kind: RefreshKind(kind)}, nil
		}
		return Refresh{}, fmt.Errorf("refresh %q: %s takes no argument", s, kind)
	case RefreshTTL:
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return Refresh{}, fmt.Errorf("refresh %q: want a positive duration after ttl: (ttl:10m, ttl:1h30m)", s)
		}
		return Refresh{Kind: RefreshTTL, TTL: d}, nil
	case RefreshIncremental:
		if strings.TrimSpace(arg) == "" {
			return Refresh{}, fmt.Errorf("refresh %q: want the watermark column after incremental: (incremental:updated_at)", s)
		}
		return Refresh{Kind: RefreshIncremental, Column: arg}, nil
	}
	return Refresh{}, fmt.Errorf("unknown refresh policy %q (want on-change, ttl:DUR, manual or incremental:COLUMN)", s)
}

// checkRefresh refuses what a SQL cell's own data says of refresh that
// cannot hold whatever its connection: a policy other than on-change on
// a cell of the core DuckDB, a unique_key beside a policy that is not
// incremental.
func checkRefresh(c *Cell) error {
	r := c.Refresh
	if r != nil && r.Kind != RefreshOnChange && c.Connector() == CoreConnector {
		return fmt.Errorf("data.refresh %q: only for external cells (with a connectorId); a DuckDB cell's result is computed, not fetched", r.String())
	}
	if c.UniqueKey != "" && r != nil && r.Kind != RefreshIncremental {
		return fmt.Errorf("data.unique_key %q: only with an incremental refresh (refresh is %q)", c.UniqueKey, r.String())
	}
	return nil
}
