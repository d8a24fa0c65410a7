package engine

import "github.com/cellsd/cellsd/engine/plan"

// The plans the engine runs are package plan's; these names keep the
// engine's API in one import for its callers.
type (
	// Plan is a notebook resolved into one dependency graph per artifact.
	Plan = plan.Plan
	// ArtifactPlan is one artifact's graph, execution order and errors.
	ArtifactPlan = plan.ArtifactPlan
	// CellPlan is what cellsd knows about one cell before it runs.
	CellPlan = plan.CellPlan
	// CellError is a problem found in a cell before it runs.
	CellError = plan.CellError
	// Planner resolves notebooks into plans.
	Planner = plan.Planner
	// Selection is a subgraph of a plan: artifact id -> cell ids.
	Selection = plan.Selection
)

// Error kinds of DESIGN.md rule 8.
const (
	KindParse            = plan.KindParse
	KindCycle            = plan.KindCycle
	KindDuplicateName    = plan.KindDuplicateName
	KindUnknownVariable  = plan.KindUnknownVariable
	KindUnknownConnector = plan.KindUnknownConnector
	KindInvalidName      = plan.KindInvalidName
)

// ErrNoMatch is a selection (Plan.Select) that matches no cell.
var ErrNoMatch = plan.ErrNoMatch
