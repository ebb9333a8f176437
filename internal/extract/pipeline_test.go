package extract

import (
	"bytes"
	"context"
	"crypto/md5"  //nolint:gosec
	"crypto/sha1" //nolint:gosec
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInspectHashesAtChunkBoundaries(t *testing.T) {
	sizes := []int{0, 1, headSize - 1, headSize, chunkSize - 1, chunkSize, chunkSize + 1,
		chunkCount*chunkSize - 1, chunkCount*chunkSize + 1, 3*chunkCount*chunkSize + 77}
	readers := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"half":     iotest.HalfReader,
		"data+eof": iotest.DataErrReader,
	}
	data := randomBytes(sizes[len(sizes)-1], 7)
	for _, n := range sizes {
		for name, wrap := range readers {
			b := data[:n]
			s, err := Inspect(context.Background(), wrap(bytes.NewReader(b)), bytes.NewReader(b), int64(n), Options{})
			require.NoError(t, err, "%d bytes, %s", n, name)
			s256, s1, m5 := sha256.Sum256(b), sha1.Sum(b), md5.Sum(b) //nolint:gosec
			assert.Equal(t, hex.EncodeToString(s256[:]), s.SHA256, "%d bytes, %s", n, name)
			assert.Equal(t, hex.EncodeToString(s1[:]), s.SHA1, "%d bytes, %s", n, name)
			assert.Equal(t, hex.EncodeToString(m5[:]), s.MD5, "%d bytes, %s", n, name)
			assert.Equal(t, int64(n), s.Size)
		}
	}
}

func TestInspectReadError(t *testing.T) {
	boom := errors.New("connection reset")
	body := io.MultiReader(bytes.NewReader(randomBytes(3*chunkSize, 8)), iotest.ErrReader(boom))
	_, err := Inspect(context.Background(), body, nil, 4*chunkSize, Options{})
	assert.ErrorIs(t, err, boom)

	_, err = Inspect(context.Background(), iotest.ErrReader(boom), nil, 10, Options{})
	assert.ErrorIs(t, err, boom)
}

func TestInspectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Inspect(ctx, bytes.NewReader(randomBytes(10*chunkSize, 9)), nil, 10*chunkSize, Options{})
	assert.ErrorIs(t, err, context.Canceled)
}
