//go:build tools

// Package tools records the daprd main package as a dependency of this module.
package tools

import _ "github.com/dapr/dapr/cmd/daprd"
