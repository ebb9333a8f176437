package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/objstore"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestPresignPutIsBoundToTheBytes runs against a real versitygw: storage
// itself must refuse bytes other than the declared ones.
func TestPresignPutIsBoundToTheBytes(t *testing.T) {
	s3 := testenv.StartS3(t, "http://app.example")
	ctx := context.Background()
	st, err := objstore.New(ctx, s3.Config())
	require.NoError(t, err)
	body := []byte("the declared bytes")
	sum := sha256.Sum256(body)
	up, err := st.PresignPut(ctx, "blobs/k1", int64(len(body)), hex.EncodeToString(sum[:]), time.Minute)
	require.NoError(t, err)
	assert.Equal(t, http.MethodPut, up.Method)
	assert.Contains(t, up.Headers, "x-amz-checksum-sha256")
	assert.WithinDuration(t, time.Now().Add(time.Minute), up.ExpiresAt, 2*time.Second)

	put := func(b []byte) (int, string) {
		req, err := http.NewRequest(up.Method, up.URL, bytes.NewReader(b))
		require.NoError(t, err)
		for k, v := range up.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(rb)
	}
	code, msg := put(bytes.ToUpper(body))
	assert.Equal(t, http.StatusBadRequest, code, "same length, other bytes")
	assert.Contains(t, msg, "BadDigest")
	code, _ = put(append(body, 'x'))
	assert.Equal(t, http.StatusForbidden, code, "other length")
	code, _ = put(body)
	assert.Equal(t, http.StatusOK, code)

	t.Run("without the checksum header the signature fails", func(t *testing.T) {
		req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("bad hash is refused before signing", func(t *testing.T) {
		_, err := st.PresignPut(ctx, "k", 1, "zz", time.Minute)
		assert.Error(t, err)
	})
	t.Run("browsers may upload from the allowed origin", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, up.URL, nil)
		req.Header.Set("Origin", "http://app.example")
		req.Header.Set("Access-Control-Request-Method", "PUT")
		req.Header.Set("Access-Control-Request-Headers", "x-amz-checksum-sha256")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "http://app.example", resp.Header.Get("Access-Control-Allow-Origin"))
	})
}

func TestObjectSize(t *testing.T) {
	s3 := testenv.StartS3(t)
	ctx := context.Background()
	st, err := objstore.New(ctx, s3.Config())
	require.NoError(t, err)
	_, found, err := st.ObjectSize(ctx, "blobs/missing")
	require.NoError(t, err)
	assert.False(t, found)
	body := []byte("twelve bytes")
	sum := sha256.Sum256(body)
	up, err := st.PresignPut(ctx, "blobs/present", int64(len(body)), hex.EncodeToString(sum[:]), time.Minute)
	require.NoError(t, err)
	req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	size, found, err := st.ObjectSize(ctx, "blobs/present")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, int64(len(body)), size)

	down := s3
	down.Endpoint = "http://127.0.0.1:1"
	broken, err := objstore.New(ctx, down.Config())
	require.NoError(t, err)
	_, _, err = broken.ObjectSize(ctx, "blobs/present")
	assert.Error(t, err, "an unreachable store is an error, not a missing object")
}
