package text

import (
	"bytes"
	"context"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

func TestFuzzSeeds(t *testing.T) {
	tcWrite(t)
}

// FuzzScan checks that how the input is split into reads never changes the
// result: encoding detection and line counting carry state across chunks.
func FuzzScan(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, err := Scan(context.Background(), bytes.NewReader(data))
		require.NoError(t, err)
		bytewise, err := Scan(context.Background(), iotest.OneByteReader(bytes.NewReader(data)))
		require.NoError(t, err)
		require.Equal(t, whole, bytewise)
	})
}
