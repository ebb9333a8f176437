package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
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

// put stores body under key through a presigned PUT.
func put(t *testing.T, st *objstore.Store, key string, body []byte) {
	t.Helper()
	sum := sha256.Sum256(body)
	up, err := st.PresignPut(context.Background(), key, int64(len(body)), hex.EncodeToString(sum[:]), time.Minute)
	require.NoError(t, err)
	req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestDownloadIsAnAttachment: storage itself answers the presigned GET with
// the file as an attachment under a safe name, so a browser never renders
// an uploaded page from the bucket's origin.
func TestDownloadIsAnAttachment(t *testing.T) {
	s3 := testenv.StartS3(t)
	ctx := context.Background()
	st, err := objstore.New(ctx, s3.Config())
	require.NoError(t, err)
	body := []byte("<html><script>alert(1)</script></html>")
	put(t, st, "blobs/page", body)

	d, err := st.PresignGet(ctx, "blobs/page", "ré\"sumé\r\n.html", time.Minute)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Minute), d.ExpiresAt, 2*time.Second)
	resp, err := http.Get(d.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(got))
	assert.Equal(t, body, got)
	assert.Equal(t, `attachment; filename="r__sum___.html"; filename*=UTF-8''r%C3%A9%22sum%C3%A9%0D%0A.html`,
		resp.Header.Get("Content-Disposition"))
	assert.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))

	t.Run("the URL cannot be stretched to another object", func(t *testing.T) {
		put(t, st, "blobs/other", []byte("other"))
		resp, err := http.Get(strings.Replace(d.URL, "blobs/page", "blobs/other", 1))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
}

func TestAttachment(t *testing.T) {
	for name, want := range map[string]string{
		"report.pdf":  `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`,
		".htaccess":   `attachment; filename="htaccess"; filename*=UTF-8''.htaccess`,
		`a"b;c.svg`:   `attachment; filename="a_b_c.svg"; filename*=UTF-8''a%22b%3Bc.svg`,
		"日本.txt":      `attachment; filename="__.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt`,
		"..":          `attachment; filename="download"; filename*=UTF-8''..`,
		"x\r\nSet: y": `attachment; filename="x__Set_ y"; filename*=UTF-8''x%0D%0ASet%3A%20y`,
	} {
		assert.Equal(t, want, objstore.Attachment(name), name)
	}
}

// TestTags round-trips verdict tags through a real versitygw; a missing
// object has nothing to tag.
func TestTags(t *testing.T) {
	s3 := testenv.StartS3(t)
	ctx := context.Background()
	st, err := objstore.New(ctx, s3.Config())
	require.NoError(t, err)
	put(t, st, "blobs/tagged", []byte("x"))
	want := map[string]string{"intellidox-verdict": "malicious", "intellidox-scanned-at": "2026-12-02T11:00:00Z",
		"intellidox-signatures": "Win.Test.EICAR_HDB-1 yara:Eicar"}
	require.NoError(t, st.PutTags(ctx, "blobs/tagged", want))
	got, err := st.Tags(ctx, "blobs/tagged")
	require.NoError(t, err)
	assert.Equal(t, want, got)

	require.NoError(t, st.PutTags(ctx, "blobs/tagged", map[string]string{"intellidox-verdict": "clean"}))
	got, err = st.Tags(ctx, "blobs/tagged")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"intellidox-verdict": "clean"}, got, "tags are replaced, not merged")

	assert.NoError(t, st.PutTags(ctx, "blobs/missing", want))
}

func TestCopyAndDelete(t *testing.T) {
	s3 := testenv.StartS3(t)
	ctx := context.Background()
	st, err := objstore.New(ctx, s3.Config())
	require.NoError(t, err)
	put(t, st, "blobs/src", []byte("moving bytes"))
	require.NoError(t, st.Copy(ctx, "blobs/src", "quarantine/blobs/src"))
	size, found, err := st.ObjectSize(ctx, "quarantine/blobs/src")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, int64(len("moving bytes")), size)
	require.NoError(t, st.Delete(ctx, "blobs/src"))
	_, found, err = st.ObjectSize(ctx, "blobs/src")
	require.NoError(t, err)
	assert.False(t, found)
	assert.NoError(t, st.Delete(ctx, "blobs/src"), "deleting a missing object is not an error")
	assert.Error(t, st.Copy(ctx, "blobs/missing", "quarantine/blobs/missing"))
}

// TestMultipartIsBoundToTheBytes runs against a real versitygw: each part
// is accepted only with its declared size and SHA-256, the parts received
// are listed with their checksums, and completing them makes the object.
func TestMultipartIsBoundToTheBytes(t *testing.T) {
	s3 := testenv.StartS3(t)
	ctx := context.Background()
	st, err := objstore.New(ctx, s3.Config())
	require.NoError(t, err)
	const partSize = 5 << 20 // S3's smallest part but the last
	body := bytes.Repeat([]byte("0123456789abcdef"), (2*partSize+1000)/16)
	chunks := [][]byte{body[:partSize], body[partSize : 2*partSize], body[2*partSize:]}
	id, err := st.StartMultipart(ctx, "blobs/mp")
	require.NoError(t, err)
	send := func(number int32, b []byte, sum []byte) (int, string) {
		part, err := st.PresignPart(ctx, "blobs/mp", id, number, int64(len(b)), hex.EncodeToString(sum), time.Minute)
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPut, part.URL, bytes.NewReader(b))
		require.NoError(t, err)
		for k, v := range part.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(rb)
	}
	sum1 := sha256.Sum256(chunks[1])
	code, msg := send(2, bytes.ToUpper(chunks[1]), sum1[:])
	assert.Equal(t, http.StatusBadRequest, code, "other bytes: %s", msg)
	for i, c := range chunks {
		sum := sha256.Sum256(c)
		code, msg := send(int32(i+1), c, sum[:])
		require.Equal(t, http.StatusOK, code, msg)
	}
	parts, ok, err := st.Parts(ctx, "blobs/mp", id)
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, parts, 3)
	for i, p := range parts {
		sum := sha256.Sum256(chunks[i])
		assert.Equal(t, int32(i+1), p.Number)
		assert.Equal(t, int64(len(chunks[i])), p.Size)
		assert.Equal(t, hex.EncodeToString(sum[:]), p.SHA256)
	}
	require.NoError(t, st.CompleteMultipart(ctx, "blobs/mp", id, parts))
	size, ok, err := st.ObjectSize(ctx, "blobs/mp")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(len(body)), size)
	_, ok, err = st.Parts(ctx, "blobs/mp", id)
	require.NoError(t, err)
	assert.False(t, ok, "a completed upload is gone")

	id2, err := st.StartMultipart(ctx, "blobs/mp2")
	require.NoError(t, err)
	require.NoError(t, st.AbortMultipart(ctx, "blobs/mp2", id2))
	require.NoError(t, st.AbortMultipart(ctx, "blobs/mp2", id2), "twice is fine")
	_, ok, err = st.Parts(ctx, "blobs/mp2", id2)
	require.NoError(t, err)
	assert.False(t, ok)
}
