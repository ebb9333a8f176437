package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/cli"
	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestMultipartUpload: a file over the multipart threshold goes up in
// parts, each bound to its size and SHA-256 by storage; an upload cut
// short is listed part by part and resumed with the same id, by the
// client and by the CLI; confirm refuses missing parts; and an abandoned
// upload's parts are aborted by the reconciler once it expires. The
// threshold is lowered to 6 MiB so that files of a few parts suffice.
func TestMultipartUpload(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{Env: map[string]string{
		"MULTIPART_THRESHOLD": "6291456", "MULTIPART_TTL": "25s"}})
	c := stack.Client()
	c.MultipartThreshold, c.PartSize = 6<<20, files.MinPartSize
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// 17 MiB of fresh bytes: parts of 5, 5, 5 and 2 MiB.
	body := make([]byte, 17<<20)
	_, _ = rand.Read(body)
	path := filepath.Join(dir, "large.bin")
	require.NoError(t, os.WriteFile(path, body, 0o600))
	sum := sha256.Sum256(body)

	t.Run("the api refuses large files without parts, and bad parts", func(t *testing.T) {
		_, err := c.Create(ctx, client.CreateRequest{Name: "x.bin", Size: 7 << 20, SHA256: hex.EncodeToString(sum[:])})
		assertProblem(t, err, 400, "parts_required")
		_, err = c.Create(ctx, client.CreateRequest{Name: "x.bin", Size: 17 << 20, SHA256: hex.EncodeToString(sum[:]),
			PartSize: files.MinPartSize, PartSHA256: []string{hex.EncodeToString(sum[:])}})
		assertProblem(t, err, 400, "invalid_parts")
		_, err = c.Create(ctx, client.CreateRequest{Name: "x.bin", Size: 17 << 20, SHA256: hex.EncodeToString(sum[:]),
			PartSize: 1 << 20, PartSHA256: make([]string, 17)})
		assertProblem(t, err, 400, "invalid_part_size")
	})

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	size, whole, partSums, err := client.HashFile(f, files.MinPartSize)
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(sum[:]), whole)
	require.Len(t, partSums, 4)
	cr, err := c.Create(ctx, client.CreateRequest{Name: "large.bin", Size: size, SHA256: whole,
		PartSize: files.MinPartSize, PartSHA256: partSums})
	require.NoError(t, err)
	require.Equal(t, files.AwaitingUpload, cr.Status)
	require.NotNil(t, cr.Upload)
	require.Len(t, cr.Upload.Parts, 4)
	assert.Equal(t, int64(files.MinPartSize), cr.Upload.PartSize)
	assert.Equal(t, int64(2<<20), cr.Upload.Parts[3].Size)

	put := func(p files.Part, b []byte) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.URL, bytes.NewReader(b))
		require.NoError(t, err)
		for k, v := range p.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		return resp.StatusCode, msg.String()
	}
	chunk := func(n int32) []byte {
		off := int64(n-1) * files.MinPartSize
		return body[off:min(off+files.MinPartSize, int64(len(body)))]
	}

	t.Run("other bytes never make the file", func(t *testing.T) {
		// Its own upload, so that what storage takes here does not touch
		// the main one.
		b := make([]byte, 7<<20)
		_, _ = rand.Read(b)
		n, w, parts, err := client.HashFile(bytes.NewReader(b), files.MinPartSize)
		require.NoError(t, err)
		up, err := c.Create(ctx, client.CreateRequest{Name: "tampered.bin", Size: n, SHA256: w, PartSize: files.MinPartSize, PartSHA256: parts})
		require.NoError(t, err)
		other := bytes.Clone(b[:files.MinPartSize])
		other[0] ^= 0xff
		code, msg := put(up.Upload.Parts[0], other)
		if testenv.Profile() != "aws" {
			// S3 and versitygw (the local and k8s profiles) check each
			// part against its SHA-256.
			assert.Equal(t, http.StatusBadRequest, code, msg)
			assert.Contains(t, msg, "BadDigest")
			return
		}
		// The moto emulator takes any bytes of the right size for a part,
		// and lists parts without their checksums: the extractor's check
		// of the whole object is then what refuses the file.
		t.Logf("%s storage took other bytes for a part (%d); the whole-object check must refuse them", testenv.Profile(), code)
		require.Equal(t, http.StatusOK, code, msg)
		code, msg = put(up.Upload.Parts[1], b[files.MinPartSize:])
		require.Equal(t, http.StatusOK, code, msg)
		require.NoError(t, c.Confirm(ctx, up.ID))
		got, err := c.Wait(ctx, up.ID)
		require.NoError(t, err)
		assert.Equal(t, files.Rejected, got.Status)
		assert.Contains(t, got.Reason, "hash_mismatch")
	})

	// The upload is cut short after parts 1 and 3.
	for _, n := range []int32{1, 3} {
		code, msg := put(cr.Upload.Parts[n-1], chunk(n))
		require.Equal(t, http.StatusOK, code, msg)
	}

	t.Run("confirm names the missing parts", func(t *testing.T) {
		err := c.Confirm(ctx, cr.ID)
		assertProblem(t, err, 409, "upload_incomplete")
		assert.Contains(t, err.Error(), "(2, 4)")
	})

	t.Run("the upload's state lists what storage holds", func(t *testing.T) {
		st, err := c.UploadState(ctx, cr.ID)
		require.NoError(t, err)
		assert.Equal(t, files.AwaitingUpload, st.Status)
		assert.Equal(t, int64(10<<20), st.ReceivedBytes)
		require.Len(t, st.Upload.Parts, 4)
		for i, p := range st.Upload.Parts {
			received := i == 0 || i == 2
			assert.Equal(t, received, p.Received, "part %d", p.Number)
			assert.Equal(t, received, p.URL == "", "a URL for the missing parts only")
		}
		_, err = c.UploadState(ctx, "00000000-0000-4000-8000-000000000000")
		assertProblem(t, err, 404, "not_found")
	})

	t.Run("the client resumes with the same id", func(t *testing.T) {
		res, err := c.Resume(ctx, cr.ID, path)
		require.NoError(t, err)
		assert.Equal(t, cr.ID, res.ID)
		got, err := c.Wait(ctx, cr.ID)
		require.NoError(t, err)
		assert.Equal(t, files.Done, got.Status, got.Reason)
		assert.Equal(t, contract.VerdictClean, got.Verdict)
		assert.Equal(t, int64(len(body)), got.Size)
		_, err = c.UploadState(ctx, cr.ID)
		assertProblem(t, err, 409, "not_awaiting_upload")
	})

	t.Run("the CLI resumes an upload cut short", func(t *testing.T) {
		other := make([]byte, 11<<20)
		_, _ = rand.Read(other)
		p := filepath.Join(dir, "cut.bin")
		require.NoError(t, os.WriteFile(p, other, 0o600))
		of, err := os.Open(p)
		require.NoError(t, err)
		defer of.Close()
		n, w, parts, err := client.HashFile(of, files.MinPartSize)
		require.NoError(t, err)
		up, err := c.Create(ctx, client.CreateRequest{Name: "cut.bin", Size: n, SHA256: w, PartSize: files.MinPartSize, PartSHA256: parts})
		require.NoError(t, err)
		code, msg := put(up.Upload.Parts[0], other[:files.MinPartSize])
		require.Equal(t, http.StatusOK, code, msg)
		var out, errOut bytes.Buffer
		exit := cli.Run(ctx, []string{"scan", "--api", stack.API, "--key", stack.APIKey, "--json", "--resume", up.ID, p},
			&out, &errOut, false)
		assert.Equal(t, cli.ExitOK, exit, "stdout: %s\nstderr: %s", out.String(), errOut.String())
		assert.Contains(t, out.String(), `"clean"`)
		assert.Contains(t, out.String(), up.ID)
	})

	t.Run("the CLI sends a file over the api's threshold in parts", func(t *testing.T) {
		// The CLI's own threshold is 64 MiB: the api asks for parts, and
		// the CLI hashes them and asks again.
		other := make([]byte, 7<<20)
		_, _ = rand.Read(other)
		p := filepath.Join(dir, "seven.bin")
		require.NoError(t, os.WriteFile(p, other, 0o600))
		var out, errOut bytes.Buffer
		exit := cli.Run(ctx, []string{"scan", "--api", stack.API, "--key", stack.APIKey, "--json", p}, &out, &errOut, false)
		assert.Equal(t, cli.ExitOK, exit, "stdout: %s\nstderr: %s", out.String(), errOut.String())
		assert.Contains(t, out.String(), `"clean"`)
	})

	t.Run("an abandoned upload is aborted once it expires", func(t *testing.T) {
		other := make([]byte, 6<<20+1)
		_, _ = rand.Read(other)
		n, w, parts, err := client.HashFile(bytes.NewReader(other), files.MinPartSize)
		require.NoError(t, err)
		up, err := c.Create(ctx, client.CreateRequest{Name: "abandoned.bin", Size: n, SHA256: w, PartSize: files.MinPartSize, PartSHA256: parts})
		require.NoError(t, err)
		code, msg := put(up.Upload.Parts[0], other[:files.MinPartSize])
		require.Equal(t, http.StatusOK, code, msg)
		// Confirm does not renew the upload (its state would): it answers
		// upload_incomplete while storage holds the parts, and
		// upload_expired once the reconciler (every 15 s) has aborted them.
		var last error
		require.Eventually(t, func() bool {
			last = c.Confirm(ctx, up.ID)
			var p *client.Problem
			return last != nil && errors.As(last, &p) && p.Code == "upload_expired"
		}, 2*time.Minute, time.Second, "the parts are aborted after MULTIPART_TTL: last answer %v", last)
		assert.True(t, strings.Contains(last.Error(), "expired"))
		_, err = c.UploadState(ctx, up.ID)
		assertProblem(t, err, 410, "upload_expired")
	})
}

// TestLargeFileInParts: a 3 GiB file, written in 1 MiB blocks (never
// whole in memory), goes up in 48 parts of 64 MiB; the upload is cut off
// halfway, resumed with the same id, confirmed and judged. clamd cannot
// scan 2 GiB or more: clamav answers an explicit too-large skip, yara and
// reputation judge the whole file, and the verdict follows the policy (a
// skip leaves it unscanned; the extractor's deep analysis stops at 1 GiB
// too, and says so).
func TestLargeFileInParts(t *testing.T) {
	size, opts, limit := int64(3<<30), testenv.StackOptions{}, "clamd scans less than 2 GiB"
	if testenv.Profile() == "k8s" {
		// deploy/ caps MAX_FILE_SIZE at 2 GiB and YARA_MAX_SIZE at 512
		// MiB, with scratch volumes sized for them (deploy/base): on the
		// cluster the file is 320 MiB, over limits lowered to 256 MiB for
		// clamav and the extractor's analysis. The parts, the resume and
		// the policy are the same.
		size, limit = 320<<20, "limit of 268435456 bytes"
		opts.Env = map[string]string{"CLAMAV_MAX_SIZE": "256MiB", "EXTRACT_MAX_FILE_SIZE": "256MiB"}
	}
	stack := testenv.StartStack(t, opts)
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "large.bin")
	f, err := os.Create(path)
	require.NoError(t, err)
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	for i := range size >> 20 {
		block[0], block[1], block[2] = byte(i), byte(i>>8), byte(i>>16) // every block its own bytes
		_, err := f.Write(block)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())

	f, err = os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	partSize := files.PartSizeFor(size)
	parts := int((size + partSize - 1) / partSize) // 48 of 64 MiB; 5 on the cluster
	n, whole, sums, err := client.HashFile(f, partSize)
	require.NoError(t, err)
	require.Equal(t, size, n)
	require.Len(t, sums, parts)
	cr, err := c.Create(ctx, client.CreateRequest{Name: "large.bin", Size: n, SHA256: whole, PartSize: partSize, PartSHA256: sums})
	require.NoError(t, err)
	require.Len(t, cr.Upload.Parts, parts)

	// Half the parts, then the connection is "lost".
	require.NoError(t, c.PutParts(ctx, f, partSize, cr.Upload.Parts[:parts/2], nil))
	st, err := c.UploadState(ctx, cr.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(parts/2)*partSize, st.ReceivedBytes)
	res, err := c.Resume(ctx, cr.ID, path)
	require.NoError(t, err)
	require.Equal(t, cr.ID, res.ID)

	got, err := c.Wait(ctx, cr.ID)
	require.NoError(t, err)
	require.Equal(t, files.Done, got.Status, got.Reason)
	assert.Equal(t, size, got.Size)
	scans, err := c.Scans(ctx, cr.ID)
	require.NoError(t, err)
	byEngine := map[string]contract.Result{}
	for _, r := range scans.Engines {
		byEngine[r.Engine] = r
	}
	clam := byEngine["clamav"]
	assert.Equal(t, contract.Skipped, clam.Result, clam.Detail)
	assert.True(t, strings.HasPrefix(clam.Detail, "too large: "), clam.Detail)
	assert.Contains(t, clam.Detail, limit)
	for _, e := range []string{"yara", "reputation"} {
		assert.Equal(t, contract.Clean, byEngine[e].Result, "%s: %s", e, byEngine[e].Detail)
	}
	assert.Equal(t, contract.VerdictUnscanned, got.Verdict, "a skip leaves the verdict unscanned (docs/engines.md, the verdict policy)")
	var meta findingsMeta
	require.NoError(t, json.Unmarshal(got.Metadata, &meta))
	assert.Contains(t, codes(meta.Findings), "too_large_for_analysis")
	assert.Equal(t, whole, got.SHA256, "the extractor verified the whole object's SHA-256")
}
