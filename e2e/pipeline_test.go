// Package e2e runs the whole pipeline on real sidecars: api, extractor and
// scanners beside daprd, with Redis, PostgreSQL, versitygw and clamd.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/testenv"
)

// EICAR is the standard antivirus test file.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

func TestPipeline(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	clean := []byte("IntelliDox end-to-end test: an ordinary text file.\n" + time.Now().String())
	cleanUp, err := c.UploadBytes(ctx, "notes.txt", clean)
	require.NoError(t, err)
	eicarUp, err := c.UploadBytes(ctx, "eicar.com", []byte(EICAR))
	require.NoError(t, err)
	require.NotNil(t, cleanUp.Upload, "new content must get an upload URL")

	cleanFile, err := c.Wait(ctx, cleanUp.ID)
	require.NoError(t, err)
	eicarFile, err := c.Wait(ctx, eicarUp.ID)
	require.NoError(t, err)

	assert.Equal(t, files.Done, cleanFile.Status)
	assert.Equal(t, contract.VerdictClean, cleanFile.Verdict)
	assert.Equal(t, "notes.txt", cleanFile.Name)
	assert.Equal(t, sha(clean), cleanFile.SHA256)
	assert.Len(t, cleanFile.MD5, 32)
	assert.Len(t, cleanFile.SHA1, 40)
	assert.Equal(t, "text/plain; charset=utf-8", cleanFile.MIMEType)

	assert.Equal(t, files.Done, eicarFile.Status)
	assert.Equal(t, contract.VerdictMalicious, eicarFile.Verdict)

	scans, err := c.Scans(ctx, eicarUp.ID)
	require.NoError(t, err)
	assert.True(t, scans.Complete)
	assert.Equal(t, contract.VerdictMalicious, scans.Verdict)
	r := engine(t, scans, "clamav")
	assert.Equal(t, contract.Malicious, r.Result)
	assert.Equal(t, []string{"IntelliDox.Test.EICAR.UNOFFICIAL"}, r.Threats)
	assert.NotEmpty(t, r.EngineVersion)
	assert.Contains(t, r.SignatureVersion, "local-")
	assert.False(t, r.ScannedAt.IsZero())

	t.Run("known content is not uploaded or scanned again", func(t *testing.T) {
		again, err := c.Create(ctx, client.CreateRequest{Name: "copy.com", Size: int64(len(EICAR)), SHA256: sha([]byte(EICAR))})
		require.NoError(t, err)
		assert.Nil(t, again.Upload)
		assert.Equal(t, files.Done, again.Status)
		assert.NotEqual(t, eicarUp.ID, again.ID)
		f, err := c.Get(ctx, again.ID)
		require.NoError(t, err)
		assert.Equal(t, contract.VerdictMalicious, f.Verdict)
		assert.Equal(t, "copy.com", f.Name)
		s2, err := c.Scans(ctx, again.ID)
		require.NoError(t, err)
		assert.Equal(t, r.ScannedAt, engine(t, s2, "clamav").ScannedAt, "the same bytes must not be scanned twice")
	})

	t.Run("storage refuses bytes that differ from the declared hash", func(t *testing.T) {
		declared := []byte("the bytes the client promised")
		cr, err := c.Create(ctx, client.CreateRequest{Name: "swap.bin", Size: int64(len(declared)), SHA256: sha(declared)})
		require.NoError(t, err)
		other := bytes.Repeat([]byte("X"), len(declared)) // same size, other bytes
		err = c.Put(ctx, &cr, bytes.NewReader(other), int64(len(other)))
		if testenv.Profile() == "aws" && err == nil {
			// moto checks neither signatures nor checksums (S3 itself does):
			// the extractor's own hash check must then reject the file.
			t.Log("the emulator accepted other bytes; checking that the extractor rejects them")
			require.NoError(t, c.Confirm(ctx, cr.ID))
			f, err := c.Wait(ctx, cr.ID)
			require.NoError(t, err)
			assert.Equal(t, files.Rejected, f.Status)
			assert.Equal(t, contract.VerdictUnscanned, f.Verdict)
			assert.Contains(t, f.Reason, contract.RejectHashMismatch)
			return
		}
		var se *client.StorageError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, http.StatusBadRequest, se.Status)
		assert.Contains(t, se.Body, "BadDigest")
		longer := append(declared, '!')
		err = c.Put(ctx, &cr, bytes.NewReader(longer), int64(len(longer)))
		require.ErrorAs(t, err, &se)
		assert.Equal(t, http.StatusForbidden, se.Status)
		err = c.Confirm(ctx, cr.ID)
		var p *client.Problem
		require.ErrorAs(t, err, &p)
		assert.Equal(t, http.StatusConflict, p.Status)
		assert.Equal(t, "upload_missing", p.Code)
	})

	t.Run("the api answers through Dapr service invocation", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, stack.APIDapr+"/v1/files/"+eicarUp.ID, nil)
		req.Header.Set("Authorization", "Bearer "+stack.APIKey)
		req.Header.Set("dapr-api-token", stack.DaprToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var f files.File
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&f))
		assert.Equal(t, eicarUp.ID, f.ID)
		assert.Equal(t, contract.VerdictMalicious, f.Verdict)

		viaDapr := client.New(stack.APIDapr)
		viaDapr.APIKey = stack.APIKey
		viaDapr.Header = http.Header{"Dapr-Api-Token": {stack.DaprToken}}
		_, err = viaDapr.Get(ctx, "00000000-0000-0000-0000-000000000000")
		var p *client.Problem
		require.True(t, errors.As(err, &p), "want a problem, got %v", err)
		assert.Equal(t, http.StatusNotFound, p.Status)
		assert.Equal(t, "not_found", p.Code)

		noToken := client.New(stack.APIDapr)
		noToken.APIKey = stack.APIKey
		_, err = noToken.Get(ctx, eicarUp.ID)
		require.ErrorAs(t, err, &p)
		assert.Equal(t, http.StatusUnauthorized, p.Status, "the sidecar's API requires its token")
	})
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// engine returns the result of one engine.
func engine(t *testing.T, s client.Scans, name string) contract.Result {
	t.Helper()
	for _, r := range s.Engines {
		if r.Engine == name {
			return r
		}
	}
	t.Fatalf("no %s result in %+v", name, s.Engines)
	return contract.Result{}
}
