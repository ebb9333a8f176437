package extractor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
)

// objects serves stored bytes the way a presigned GET does (with Range
// support); its PresignGet hands out URLs to it.
type objects struct {
	srv  *httptest.Server
	data map[string][]byte
	fail bool
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

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestExtract(t *testing.T) {
	o := newObjects(t)
	content := []byte("%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction 2 0 R >> endobj\n%%EOF\n")
	o.data["k"] = content
	svc := NewService(o, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), extract.DefaultLimits())
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
