package extract

import (
	"context"
	"io"

	"github.com/gabriel-vasile/mimetype"
)

// format says how one type is analyzed beyond hashing and detection. A
// format has a streaming analyzer, which reads the body as it is hashed, or
// a random-access one, which runs after hashing on src, or neither.
type format struct {
	name   string
	stream func(ctx context.Context, r io.Reader, lim Limits, res *result)
	random func(ctx context.Context, src io.ReaderAt, size int64, lim Limits, res *result)
}

// formatOf returns how to analyze content detected as mt.
func formatOf(mt *mimetype.MIME) format {
	return format{}
}
