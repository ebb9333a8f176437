package extract

import (
	"time"

	"github.com/intellidox/intellidox/internal/extract/archive"
)

// Limits are the safe limits of one analysis. A zero field means "use the
// default"; DefaultLimits returns them all. When a limit trips, Inspect
// records a finding (see docs/metadata.md) and carries on with what it has:
// hashes and type detection are never cut short by a limit.
type Limits struct {
	// archive.Limits bound archives: depth, entries, total uncompressed size,
	// compression ratio and memory for nested archives. The total
	// uncompressed size also bounds what is decompressed inside PDFs.
	archive.Limits
	// MaxFileSize is the largest file given deep (per-format) analysis.
	// Larger files are hashed and typed only, with a too_large_for_analysis
	// finding.
	MaxFileSize int64
	// MaxDuration bounds the wall time of deep analysis, counted from the
	// start of Inspect. Hashing is not bounded by it (the extractor needs
	// the hashes to verify the upload), only by the caller's context.
	MaxDuration time.Duration
}

// Defaults for Limits, beside those of archive.Limits.
const (
	DefaultMaxFileSize = 1 << 30 // 1 GiB
	DefaultMaxDuration = 30 * time.Second
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{Limits: archive.DefaultLimits(), MaxFileSize: DefaultMaxFileSize, MaxDuration: DefaultMaxDuration}
}

// WithDefaults returns l with every zero (or negative) field set to its
// default.
func (l Limits) WithDefaults() Limits {
	l.Limits = l.Limits.WithDefaults()
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultMaxFileSize
	}
	if l.MaxDuration <= 0 {
		l.MaxDuration = DefaultMaxDuration
	}
	return l
}
