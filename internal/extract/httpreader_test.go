package extract

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/extract/exe"
	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

// rangeServer serves data with http.ServeContent, which honours Range, and
// counts the requests it gets.
func rangeServer(t *testing.T, data []byte) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.ServeContent(w, r, "object", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestHTTPReaderAtRandomReads(t *testing.T) {
	data := randomBytes(3<<20+123, 1)
	srv, _ := rangeServer(t, data)
	r := NewHTTPReaderAt(srv.Client(), srv.URL, int64(len(data)))
	rng := rand.New(rand.NewPCG(2, 2))
	for range 300 {
		off := rng.Int64N(int64(len(data)) + 10)
		n := rng.IntN(200 << 10)
		p := make([]byte, n)
		got, err := r.ReadAt(p, off)
		wantEnd := min(off+int64(n), int64(len(data)))
		want := max(wantEnd-off, 0)
		require.Equal(t, int(want), got, "ReadAt(%d bytes at %d)", n, off)
		if int64(n) > want {
			require.ErrorIs(t, err, io.EOF)
		} else {
			require.NoError(t, err)
		}
		if want > 0 {
			require.True(t, bytes.Equal(data[off:wantEnd], p[:got]), "bytes at %d", off)
		}
	}
}

func TestHTTPReaderAtRequestCounts(t *testing.T) {
	data := randomBytes(1<<20, 3)
	tests := []struct {
		name    string
		read    func(r io.ReaderAt)
		maxReqs int64
	}{
		{"many small reads in one block", func(r io.ReaderAt) {
			p := make([]byte, 16)
			for i := range 1000 {
				_, _ = r.ReadAt(p, int64(i*37%(httpBlockSize-16)))
			}
		}, 1},
		{"sequential 4 KiB reads of 1 MiB", func(r io.ReaderAt) {
			_, _ = io.Copy(io.Discard, io.NewSectionReader(r, 0, int64(len(data))))
		}, 6},
		{"one large read", func(r io.ReaderAt) {
			_, _ = r.ReadAt(make([]byte, 1<<20), 0)
		}, (1<<20 + httpMaxRun*httpBlockSize - 1) / (httpMaxRun * httpBlockSize)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, hits := rangeServer(t, data)
			r := NewHTTPReaderAt(srv.Client(), srv.URL, int64(len(data)))
			tt.read(r)
			assert.LessOrEqual(t, hits.Load(), tt.maxReqs)
			assert.Equal(t, hits.Load(), r.Requests())
		})
	}
}

func TestHTTPReaderAtConcurrent(t *testing.T) {
	data := randomBytes(2<<20, 4)
	srv, _ := rangeServer(t, data)
	r := NewHTTPReaderAt(srv.Client(), srv.URL, int64(len(data)))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			p := make([]byte, 5000)
			for range 100 {
				off := rng.Int64N(int64(len(data) - len(p)))
				n, err := r.ReadAt(p, off)
				if err != nil || n != len(p) || !bytes.Equal(p, data[off:off+int64(n)]) {
					t.Errorf("ReadAt(%d) = %d, %v", off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestHTTPReaderAtErrors(t *testing.T) {
	data := randomBytes(200<<10, 5)
	// A server that ignores Range: reads from 0 still work, others fail.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(data)
	}))
	defer plain.Close()
	r := NewHTTPReaderAt(plain.Client(), plain.URL, int64(len(data)))
	p := make([]byte, 100)
	n, err := r.ReadAt(p, 0)
	require.NoError(t, err)
	assert.Equal(t, data[:100], p[:n])
	_, err = r.ReadAt(p, 150<<10)
	assert.ErrorContains(t, err, "status 200")

	gone := httptest.NewServer(http.NotFoundHandler())
	defer gone.Close()
	_, err = NewHTTPReaderAt(gone.Client(), gone.URL, 10).ReadAt(p[:5], 0)
	assert.ErrorContains(t, err, "404")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv, _ := rangeServer(t, data)
	_, err = NewHTTPReaderAt(srv.Client(), srv.URL, int64(len(data))).ReadAtContext(ctx, p, 0)
	assert.ErrorIs(t, err, context.Canceled)

	_, err = r.ReadAt(p, -1)
	assert.Error(t, err)
}

func TestHTTPReaderAtServesDebugPE(t *testing.T) {
	// debug/pe reads headers, section table and import tables in many small
	// reads; through the block cache they cost a few requests.
	imports := map[string][]string{}
	for i := range 20 {
		for j := range 30 {
			dll := fmt.Sprintf("LIB%02d.dll", i)
			imports[dll] = append(imports[dll], fmt.Sprintf("Function%02d_%02d", i, j))
		}
	}
	data := tc.PE(tc.PEOptions{Imports: imports, Text: 4 << 20}) // imports 4 MiB after the headers
	srv, hits := rangeServer(t, data)
	info, err := exe.Read(NewHTTPReaderAt(srv.Client(), srv.URL, int64(len(data))), int64(len(data)))
	require.NoError(t, err)
	assert.Equal(t, 600, info.ImportsCount)
	require.NotNil(t, info.Sections[0].Entropy, "the whole .text was read for its entropy")
	// Headers, 4 MiB of .text read sequentially (read-ahead doubles up to
	// 2 MiB a request), and the import section.
	assert.LessOrEqual(t, hits.Load(), int64(12), "%d requests", hits.Load())
	t.Logf("%d requests for a %d-byte PE", hits.Load(), len(data))
}
