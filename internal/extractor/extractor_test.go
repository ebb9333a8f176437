package extractor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract"
	"github.com/intellidox/intellidox/internal/scan/samples"
)

// objects serves stored bytes the way a presigned GET does (with Range
// support); its PresignGet hands out URLs to it.
type objects struct {
	srv  *httptest.Server
	data map[string][]byte
	fail bool
	puts int // PutObject calls
}

func newObjects(t *testing.T) *objects {
	o := &objects{data: map[string][]byte{}}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.fail {
			http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
			return
		}
		b, ok := o.data[r.URL.Path[1:]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *objects) PresignGet(_ context.Context, key string, _ time.Duration) (string, error) {
	return o.srv.URL + "/" + key, nil
}

func (o *objects) Publish(context.Context, string, any) error { return nil }

func (o *objects) PutObject(_ context.Context, key string, data []byte) error {
	o.puts++
	o.data[key] = bytes.Clone(data)
	return nil
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestExtract(t *testing.T) {
	o := newObjects(t)
	content := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction 2 0 R >> endobj\n%%EOF\n")
	o.data["k"] = content
	svc := NewService(o, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), extract.DefaultLimits(), Views{})
	up := contract.FileUploaded{Version: 1, FileID: "f", SHA256: sum(content), Size: int64(len(content)), ObjectKey: "k", Name: "doc.pdf"}

	out, err := svc.extract(context.Background(), up)
	require.NoError(t, err)
	require.Nil(t, out.Rejection)
	assert.Equal(t, "application/pdf", out.MIMEType)
	assert.Len(t, out.MD5, 32)
	assert.Len(t, out.SHA1, 40)
	assert.Contains(t, out.Metadata, "pdf")

	wrongHash := up
	wrongHash.SHA256 = sum([]byte("other"))
	out, err = svc.extract(context.Background(), wrongHash)
	require.NoError(t, err)
	require.NotNil(t, out.Rejection)
	assert.Equal(t, contract.RejectHashMismatch, out.Rejection.Code)

	wrongSize := up
	wrongSize.Size++
	out, err = svc.extract(context.Background(), wrongSize)
	require.NoError(t, err)
	require.NotNil(t, out.Rejection)
	assert.Equal(t, contract.RejectSizeMismatch, out.Rejection.Code)

	missing := up
	missing.ObjectKey = "nope"
	out, err = svc.extract(context.Background(), missing)
	require.NoError(t, err)
	require.NotNil(t, out.Rejection)
	assert.Equal(t, contract.RejectNotFound, out.Rejection.Code)

	o.fail = true
	_, err = svc.extract(context.Background(), up)
	assert.Error(t, err, "storage trouble is transient: retry, do not reject")
}

// Decoded views are stored beside the object only when turned on, and
// only for files that have some.
func TestViews(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	pdf := samples.PDFAttachment("payload.txt", []byte("attached "+samples.Marker))
	text := []byte("nothing to decode here\n")
	for name, tc := range map[string]struct {
		on    bool
		data  []byte
		views []string
	}{
		"off":              {false, pdf, nil},
		"on, a PDF":        {true, pdf, []string{"pdf:embedded payload.txt"}},
		"on, a plain text": {true, text, nil},
	} {
		t.Run(name, func(t *testing.T) {
			o := newObjects(t)
			o.data["k"] = tc.data
			svc := NewService(o, nil, quiet, extract.DefaultLimits(), Views{On: tc.on})
			out, err := svc.extract(context.Background(), contract.FileUploaded{Version: 1, FileID: "f",
				SHA256: sum(tc.data), Size: int64(len(tc.data)), ObjectKey: "k", Name: "x"})
			require.NoError(t, err)
			var names []string
			for i, v := range out.Views {
				names = append(names, v.Name)
				assert.Equal(t, fmt.Sprintf("views/%s/%d", sum(tc.data), i), v.ObjectKey)
				assert.EqualValues(t, len(o.data[v.ObjectKey]), v.Size)
			}
			assert.Equal(t, tc.views, names)
			assert.Equal(t, len(tc.views), o.puts)
			if len(out.Views) > 0 {
				assert.Equal(t, "attached "+samples.Marker, string(o.data[out.Views[0].ObjectKey]))
			}
		})
	}
}
