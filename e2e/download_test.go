package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/cli"
	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/testenv"
)

// storageView is what boto3, holding the bucket's credentials, sees of one
// object (testdata/s3object.py).
type storageView struct {
	Tags      map[string]string `json:"tags"`
	TagsError string            `json:"tags_error"`
	Get       int               `json:"get"`
}

// objectKey reads where a file's bytes are stored; the api never shows it.
func objectKey(t *testing.T, stack *testenv.Stack, fileID string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, stack.DB)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var key string
	require.NoError(t, conn.QueryRow(ctx, `SELECT coalesce(u.object_key, b.object_key) FROM uploads u JOIN blobs b USING (sha256)
		WHERE u.id = $1`, fileID).Scan(&key))
	return key
}

func viewObject(t *testing.T, stack *testenv.Stack, key string) storageView {
	t.Helper()
	return viewObjectAs(t, stack.S3, key)
}

// viewObjectAs reads the object under key with creds' credentials.
func viewObjectAs(t *testing.T, creds testenv.S3, key string) storageView {
	t.Helper()
	cmd := exec.Command("python3", filepath.Join(testenv.Root(), "e2e", "testdata", "s3object.py"), creds.Endpoint, creds.Bucket, key)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+creds.AccessKey, "AWS_SECRET_ACCESS_KEY="+creds.SecretKey)
	out, err := cmd.Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "boto3: %s", stderr)
	var v storageView
	require.NoError(t, json.Unmarshal(out, &v), string(out))
	return v
}

// eventuallyTagged waits for the object's verdict tag to say verdict.
func eventuallyTagged(t *testing.T, stack *testenv.Stack, key string, verdict contract.Verdict) storageView {
	t.Helper()
	var v storageView
	require.Eventually(t, func() bool {
		v = viewObject(t, stack, key)
		return v.Tags["intellidox-verdict"] == string(verdict)
	}, time.Minute, 200*time.Millisecond, "object %s never tagged %s", key, verdict)
	return v
}

// TestDownloadGate: EICAR cannot be downloaded through the api while a clean
// file can, as an attachment; the stored objects carry their verdicts as
// tags that anyone holding the bucket's credentials reads with boto3; the
// policy opens suspicious files only after an audited administrator's
// change; and the CLI's exit code says why it refused.
func TestDownloadGate(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	admin := stack.Client()
	user := client.New(stack.API)
	user.APIKey = stack.Key(t, stack.Tenant)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	upload := func(name string, data []byte) string {
		up, err := user.UploadBytes(ctx, name, data)
		require.NoError(t, err)
		return up.ID
	}
	clean := upload("page.html", []byte("<html><script>document.title='uploaded'</script>"+time.Now().String()+"</html>"))
	eicar := upload("eicar.com", []byte(EICAR))
	macro := upload("invoice.docm", samples.MacroDocument())

	var p *client.Problem
	_, err := user.Download(ctx, clean)
	if err != nil {
		require.ErrorAs(t, err, &p)
		assert.Equal(t, "verdict_pending", p.Code, "before its verdict a file is pending, not refused")
		assert.Equal(t, http.StatusConflict, p.Status)
	}
	for _, id := range []string{clean, eicar, macro} {
		_, err := user.Wait(ctx, id)
		require.NoError(t, err)
	}

	t.Run("a clean file downloads as an attachment", func(t *testing.T) {
		d, err := user.Download(ctx, clean)
		require.NoError(t, err)
		assert.Equal(t, contract.VerdictClean, d.Verdict)
		assert.WithinDuration(t, time.Now().Add(5*time.Minute), d.ExpiresAt, 5*time.Second)
		resp, err := http.Get(d.URL)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(body), "document.title")
		// The disposition is a query parameter of the URL, and SigV4 signs
		// every query parameter: nobody can drop it without breaking the URL.
		u, err := url.Parse(d.URL)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(u.Query().Get("response-content-disposition"), `attachment; filename="page.html"`), d.URL)
		if testenv.Profile() != "aws" {
			// versitygw, like S3, answers with it; moto ignores response
			// overrides.
			assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="page.html"`),
				resp.Header.Get("Content-Disposition"))
		}
	})

	t.Run("malicious never downloads", func(t *testing.T) {
		_, err := user.Download(ctx, eicar)
		require.ErrorAs(t, err, &p)
		assert.Equal(t, http.StatusForbidden, p.Status)
		assert.Equal(t, "verdict_blocks_download", p.Code)
		assert.Equal(t, contract.VerdictMalicious, p.Verdict)
		assert.NotEmpty(t, p.Reasons)
		assert.Contains(t, strings.Join(p.Reasons, "\n"), "clamav: ")
	})

	t.Run("objects carry their verdicts as tags", func(t *testing.T) {
		v := eventuallyTagged(t, stack, objectKey(t, stack, eicar), contract.VerdictMalicious)
		assert.NotEmpty(t, v.Tags["intellidox-signatures"])
		_, err := time.Parse(time.RFC3339, v.Tags["intellidox-scanned-at"])
		assert.NoError(t, err, "intellidox-scanned-at")
		v = eventuallyTagged(t, stack, objectKey(t, stack, clean), contract.VerdictClean)
		assert.Empty(t, v.Tags["intellidox-signatures"])
		eventuallyTagged(t, stack, objectKey(t, stack, macro), contract.VerdictSuspicious)
	})

	t.Run("suspicious opens only by an audited administrator's policy", func(t *testing.T) {
		_, err := user.Download(ctx, macro)
		require.ErrorAs(t, err, &p)
		assert.Equal(t, "verdict_blocks_download", p.Code)
		assert.Equal(t, contract.VerdictSuspicious, p.Verdict)

		set := func(c *client.Client, body string) (int, string) {
			req, _ := http.NewRequest(http.MethodPut, stack.API+"/v1/settings/download-policy", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+c.APIKey)
			req.Header.Set("Content-Type", "application/json")
			status, code, _ := send(t, req)
			return status, code
		}
		status, code := set(user, `{"allowSuspicious":true,"allowUnscanned":false,"reason":"triage"}`)
		assert.Equal(t, http.StatusForbidden, status, "only administrators change the policy")
		assert.Equal(t, "forbidden", code)
		status, code = set(admin, `{"allowSuspicious":true,"allowUnscanned":false}`)
		assert.Equal(t, http.StatusBadRequest, status, "a change needs a reason")
		assert.Equal(t, "missing_field", code)
		status, code = set(admin, `{"allowSuspicious":true,"allowUnscanned":false,"reason":"the triage team opens suspicious documents"}`)
		require.Equal(t, http.StatusOK, status, code)

		d, err := user.Download(ctx, macro)
		require.NoError(t, err)
		assert.Equal(t, contract.VerdictSuspicious, d.Verdict)
		_, err = user.Download(ctx, eicar)
		require.ErrorAs(t, err, &p, "no policy opens malicious files")

		req, _ := http.NewRequest(http.MethodGet, stack.API+"/v1/settings/download-policy", nil)
		req.Header.Set("Authorization", "Bearer "+user.APIKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var got struct {
			Policy struct{ AllowSuspicious bool }
			Audit  []struct{ ChangedBy, Reason string }
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		assert.True(t, got.Policy.AllowSuspicious)
		require.NotEmpty(t, got.Audit)
		assert.Equal(t, "the triage team opens suspicious documents", got.Audit[0].Reason)
		assert.NotEmpty(t, got.Audit[0].ChangedBy)

		other := client.New(stack.API)
		other.APIKey = stack.Key(t, "tenant-b")
		_, err = other.Download(ctx, macro)
		require.ErrorAs(t, err, &p)
		assert.Equal(t, http.StatusNotFound, p.Status, "another tenant's file is not found, whatever its policy")
	})

	t.Run("the CLI says why it refused", func(t *testing.T) {
		dir := t.TempDir()
		run := func(args ...string) (int, string) {
			var out, errOut strings.Builder
			code := cli.Run(ctx, append([]string{"download", "--api", stack.API, "--key", user.APIKey}, args...), &out, &errOut, false)
			return code, errOut.String()
		}
		code, msg := run("-o", filepath.Join(dir, "e.com"), eicar)
		assert.Equal(t, cli.ExitDetected, code, msg)
		assert.Contains(t, msg, "malicious")
		_, err := os.Stat(filepath.Join(dir, "e.com"))
		assert.True(t, os.IsNotExist(err), "a refused download writes nothing")

		code, msg = run("-o", filepath.Join(dir, "page.html"), clean)
		require.Equal(t, cli.ExitOK, code, msg)
		got, err := os.ReadFile(filepath.Join(dir, "page.html"))
		require.NoError(t, err)
		assert.Contains(t, string(got), "document.title")

		code, msg = run("00000000-0000-4000-8000-000000000000")
		assert.Equal(t, cli.ExitError, code, msg)

		pending, err := user.Create(ctx, client.CreateRequest{Name: "later.txt", Size: 5, SHA256: strings.Repeat("b", 64)})
		require.NoError(t, err)
		code, msg = run(pending.ID)
		assert.Equal(t, cli.ExitPending, code, msg)
	})
}

// TestQuarantine: with QUARANTINE_PREFIX set, malicious content moves under
// the prefix, and storage itself refuses it to a holder of bucket
// credentials whose bucket policy denies the prefix (versitygw enforces such
// a policy for its non-root users). moto evaluates no bucket policy: there
// the test shows the nearest thing, the object gone from its key.
func TestQuarantine(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{Env: map[string]string{"QUARANTINE_PREFIX": "quarantine/"}})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eicarUp, err := c.UploadBytes(ctx, "eicar.com", []byte(EICAR))
	require.NoError(t, err)
	cleanUp, err := c.UploadBytes(ctx, "clean.txt", []byte("harmless "+time.Now().String()))
	require.NoError(t, err)
	// Content judged before (EICAR on a shared database) is final at once
	// and may be in quarantine before this first look: its key outside.
	original := strings.TrimPrefix(objectKey(t, stack, eicarUp.ID), "quarantine/")
	for _, id := range []string{eicarUp.ID, cleanUp.ID} {
		_, err := c.Wait(ctx, id)
		require.NoError(t, err)
	}

	var moved string
	require.Eventually(t, func() bool {
		moved = objectKey(t, stack, eicarUp.ID)
		return moved == "quarantine/"+original
	}, time.Minute, 200*time.Millisecond, "the malicious object was never quarantined")
	v := eventuallyTagged(t, stack, moved, contract.VerdictMalicious)
	assert.Equal(t, 200, v.Get, "the service's own credentials still read it (rescans)")
	gone := viewObject(t, stack, original)
	assert.Equal(t, http.StatusNotFound, gone.Get, "nothing is left at the malicious object's old key")
	cleanKey := objectKey(t, stack, cleanUp.ID)
	assert.True(t, strings.HasPrefix(cleanKey, "blobs/"), "clean content stays where it is: %s", cleanKey)

	var p *client.Problem
	_, err = c.Download(ctx, eicarUp.ID)
	require.ErrorAs(t, err, &p)
	assert.Equal(t, "verdict_blocks_download", p.Code)

	// A rescan of quarantined content reads it where it now is.
	require.NoError(t, c.Rescan(ctx, eicarUp.ID, nil))
	f, err := c.Wait(ctx, eicarUp.ID)
	require.NoError(t, err)
	assert.Equal(t, contract.VerdictMalicious, f.Verdict)

	if testenv.Profile() == "aws" {
		t.Logf("%s: the emulator evaluates no bucket policy; checked that the object left its key instead", testenv.Profile())
		return
	}
	// A user of its own: the k8s profile's versitygw outlives the test.
	readerName := fmt.Sprintf("reader-%d", time.Now().UnixNano())
	reader := stack.S3.CreateS3User(t, readerName)
	policy := `{"Version": "2012-10-17", "Statement": [
	  {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": ["` + readerName + `"]}, "Action": "s3:GetObject",
	   "Resource": "arn:aws:s3:::` + stack.S3.Bucket + `/*"},
	  {"Sid": "NoQuarantine", "Effect": "Deny", "Principal": {"AWS": ["` + readerName + `"]}, "Action": "s3:GetObject",
	   "Resource": "arn:aws:s3:::` + stack.S3.Bucket + `/quarantine/*"}]}`
	cmd := exec.Command("python3", filepath.Join(testenv.Root(), "e2e", "testdata", "s3policy.py"), stack.S3.Endpoint, stack.S3.Bucket, policy)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+stack.S3.AccessKey, "AWS_SECRET_ACCESS_KEY="+stack.S3.SecretKey)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, 200, viewObjectAs(t, reader, cleanKey).Get, "bucket credentials read clean content")
	assert.Equal(t, http.StatusForbidden, viewObjectAs(t, reader, moved).Get, "storage itself refuses quarantined content")
}
