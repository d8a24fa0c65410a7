// Package web holds the live page's built assets (dist/, built from src/
// by `npm ci && npm run build` and committed), so the cellsd binary serves
// them with no Node on the machine. engine/daemon serves them; go:embed
// cannot reach a parent directory, hence this package of one variable.
package web

import "embed"

// Dist is the built page: index.html and assets/.
//
//go:embed dist
var Dist embed.FS
