//go:build tools

// Package tools records the Dapr main packages this module builds: daprd
// (scripts/daprd.sh) and the control plane (scripts/k8s-build.sh), all from
// the one pinned github.com/dapr/dapr version.
package tools

import (
	_ "github.com/dapr/dapr/cmd/daprd"
	_ "github.com/dapr/dapr/cmd/injector"
	_ "github.com/dapr/dapr/cmd/operator"
	_ "github.com/dapr/dapr/cmd/placement"
	_ "github.com/dapr/dapr/cmd/scheduler"
	_ "github.com/dapr/dapr/cmd/sentry"
)
