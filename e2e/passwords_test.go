package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
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

// TestArchivePasswords: a tenant's stored list and an upload's own list
// open encrypted archives the built-in list does not, every result names
// the list and never the password, a list set later opens content already
// judged on rescan, and no password is ever in clear in PostgreSQL or on
// the event broker.
func TestArchivePasswords(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	admin := stack.Client()
	user := client.New(stack.API)
	user.APIKey = stack.Key(t, stack.Tenant)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	pw := func(name string) string { return name + "-" + hex.EncodeToString(suffix) }
	tenantPW, uploadPW, latePW := pw("tenant-pw"), pw("upload-pw"), pw("late-pw")
	secrets := []string{tenantPW, uploadPW, latePW, pw("decoy")}

	t.Run("the settings refuse bad lists and non-administrators", func(t *testing.T) {
		l, err := admin.ArchivePasswords(ctx)
		require.NoError(t, err)
		assert.Equal(t, 0, l.Count)
		_, err = user.SetArchivePasswords(ctx, []string{"x"})
		assertProblem(t, err, 403, "")
		for code, list := range map[string][]string{
			"too_many_passwords": make([]string, 17),
			"invalid_password":   {"ok", ""},
		} {
			_, err := admin.SetArchivePasswords(ctx, list)
			assertProblem(t, err, 400, code)
		}
		_, err = user.Create(ctx, client.CreateRequest{Name: "a.zip", Size: 1, SHA256: strings.Repeat("a", 64),
			ArchivePasswords: []string{strings.Repeat("x", 129)}})
		assertProblem(t, err, 400, "invalid_password")
	})

	// Judged before the tenant has a list: it stays locked.
	late, err := user.UploadBytes(ctx, "late.zip", samples.EICARAESZip(latePW))
	require.NoError(t, err)
	lateFile, err := user.Wait(ctx, late.ID)
	require.NoError(t, err)
	require.Equal(t, contract.VerdictUnscanned, lateFile.Verdict)

	l, err := admin.SetArchivePasswords(ctx, []string{pw("decoy"), tenantPW, latePW})
	require.NoError(t, err)
	assert.Equal(t, 3, l.Count)
	shown, err := user.ArchivePasswords(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, shown.Count, "anyone of the tenant sees how many")
	assert.NotEmpty(t, shown.UpdatedBy)

	byTenant, err := user.UploadBytes(ctx, "tenant.zip", samples.EICARAESZip(tenantPW))
	require.NoError(t, err)
	byUpload, err := user.UploadBytesWith(ctx, client.CreateRequest{Name: "upload.zip", ArchivePasswords: []string{uploadPW}},
		samples.EICARAESZip(uploadPW))
	require.NoError(t, err)
	locked, err := user.UploadBytes(ctx, "locked.zip", samples.EICARAESZip(pw("in-no-list")))
	require.NoError(t, err)
	pdfByTenant, err := user.UploadBytes(ctx, "tenant.pdf", samples.PDFObjStmJavaScriptEncrypted(tenantPW))
	require.NoError(t, err)
	pdfLocked, err := user.UploadBytes(ctx, "locked.pdf", samples.PDFObjStmJavaScriptEncrypted(pw("pdf-in-no-list")))
	require.NoError(t, err)

	cases := []struct {
		name, id, list string
		verdict        contract.Verdict
	}{
		{"the tenant's list", byTenant.ID, contract.PasswordsTenant, contract.VerdictMalicious},
		{"the upload's list", byUpload.ID, contract.PasswordsUpload, contract.VerdictMalicious},
		{"no list opens it", locked.ID, "", contract.VerdictUnscanned},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := user.Wait(ctx, tc.id)
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, f.Verdict)
			yara, rep := results(t, ctx, user, tc.id)
			if tc.list == "" {
				assert.Equal(t, contract.Skipped, yara.Result, yara.Detail)
				assert.True(t, strings.HasPrefix(yara.Detail, "encrypted: "), yara.Detail)
			} else {
				opened := "(opened with the " + tc.list + " password list)"
				assert.Equal(t, contract.Malicious, yara.Result, yara.Detail)
				assert.Contains(t, yara.Detail, "EICAR_Test_File in eicar.com "+opened)
				assert.Equal(t, contract.Malicious, rep.Result, rep.Detail)
				assert.Contains(t, rep.Detail, "archive member eicar.com "+opened)
				var meta struct {
					Archive struct {
						Entries []struct {
							Path       string `json:"path"`
							UnlockedBy string `json:"unlockedBy"`
						} `json:"entries"`
					} `json:"archive"`
				}
				require.NoError(t, json.Unmarshal(f.Metadata, &meta), string(f.Metadata))
				require.NotEmpty(t, meta.Archive.Entries, string(f.Metadata))
				assert.Equal(t, tc.list, meta.Archive.Entries[0].UnlockedBy, "the extractor opened it too")
			}
			raw, err := json.Marshal(f)
			require.NoError(t, err)
			for _, s := range secrets {
				assert.NotContains(t, yara.Detail+rep.Detail+string(raw), s, "no answer shows a password")
			}
		})
	}

	t.Run("a PDF opened by the tenant's list", func(t *testing.T) {
		f, err := user.Wait(ctx, pdfByTenant.ID)
		require.NoError(t, err)
		yara, _ := results(t, ctx, user, pdfByTenant.ID)
		assert.Equal(t, contract.VerdictSuspicious, f.Verdict, yara.Detail)
		assert.Contains(t, yara.Detail, "PDF_JavaScript_In_Stream in pdf:objstm 5 (opened with the "+contract.PasswordsTenant+" password list)")
		var meta struct {
			PDF struct {
				Encryption    string `json:"encryption"`
				Decrypted     bool   `json:"decrypted"`
				UnlockedBy    string `json:"unlockedBy"`
				HasJavaScript bool   `json:"hasJavaScript"`
			} `json:"pdf"`
		}
		require.NoError(t, json.Unmarshal(f.Metadata, &meta), string(f.Metadata))
		assert.Equal(t, "AES-256", meta.PDF.Encryption)
		assert.True(t, meta.PDF.Decrypted, "the extractor opened it too")
		assert.Equal(t, contract.PasswordsTenant, meta.PDF.UnlockedBy)
		assert.True(t, meta.PDF.HasJavaScript)
	})

	t.Run("a PDF no list opens", func(t *testing.T) {
		f, err := user.Wait(ctx, pdfLocked.ID)
		require.NoError(t, err)
		assert.Equal(t, contract.VerdictUnscanned, f.Verdict)
		yara, _ := results(t, ctx, user, pdfLocked.ID)
		assert.Equal(t, contract.Skipped, yara.Result, yara.Detail)
		assert.True(t, strings.HasPrefix(yara.Detail, "encrypted: "), yara.Detail)
		var meta findingsMeta
		require.NoError(t, json.Unmarshal(f.Metadata, &meta), string(f.Metadata))
		require.Contains(t, codes(meta.Findings), "encrypted_document", "the extractor says why")
		for _, fd := range meta.Findings {
			if fd.Code == "encrypted_document" {
				assert.Contains(t, fd.Message, "encrypted (AES-256)")
			}
		}
	})

	t.Run("a list set later opens judged content on rescan", func(t *testing.T) {
		require.NoError(t, user.Rescan(ctx, late.ID, nil))
		require.Eventually(t, func() bool {
			f, err := user.Get(ctx, late.ID)
			return err == nil && f.Verdict == contract.VerdictMalicious
		}, 2*time.Minute, 200*time.Millisecond, "the rescan tries the tenant's list")
		yara, _ := results(t, ctx, user, late.ID)
		assert.Contains(t, yara.Detail, "(opened with the tenant password list)")
	})

	t.Run("the CLI sends an upload's passwords", func(t *testing.T) {
		dir := t.TempDir()
		path := dir + "/cli.zip"
		cliPW := pw("cli-pw")
		require.NoError(t, os.WriteFile(path, samples.EICARAESZip(cliPW), 0o600))
		var out, errOut bytes.Buffer
		code := cli.Run(ctx, []string{"scan", "--api", stack.API, "--key", user.APIKey, "--json",
			"--password", cliPW, path}, &out, &errOut, false)
		assert.Equal(t, cli.ExitDetected, code, "stdout: %s\nstderr: %s", out.String(), errOut.String())
		assert.Contains(t, out.String(), `"malicious"`)
		assert.NotContains(t, out.String()+errOut.String(), cliPW)
	})

	t.Run("no password in clear at rest or on the broker", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, stack.DB)
		require.NoError(t, err)
		defer conn.Close(ctx)
		var dump string
		require.NoError(t, conn.QueryRow(ctx, `SELECT
			coalesce((SELECT string_agg(sealed, ' ') FROM archive_password_lists), '') || ' ' ||
			coalesce((SELECT string_agg(archive_passwords, ' ') FROM uploads), '') || ' ' ||
			coalesce((SELECT string_agg(archive_passwords::text, ' ') FROM blobs), '') || ' ' ||
			coalesce((SELECT string_agg(payload::text, ' ') FROM outbox), '') || ' ' ||
			coalesce((SELECT string_agg(data::text, ' ') FROM dead_letters), '')`).Scan(&dump))
		assert.Contains(t, dump, "v1.", "the lists are stored, sealed")
		for _, s := range secrets {
			assert.NotContains(t, dump, s)
		}
		if testenv.Profile() != "local" {
			t.Logf("broker check: local profile only (the %s profile's broker is not Redis)", testenv.Profile())
			return
		}
		host, port, _ := strings.Cut(stack.Redis, ":")
		var stream bytes.Buffer
		for _, topic := range []string{contract.TopicFileUploaded, contract.TopicFileExtracted} {
			out, err := exec.CommandContext(ctx, "redis-cli", "-h", host, "-p", port, "XRANGE", topic, "-", "+").Output()
			require.NoError(t, err)
			stream.Write(out)
		}
		assert.Contains(t, stream.String(), `"sealed":"v1.`, "events carry the lists sealed")
		for _, s := range secrets {
			assert.NotContains(t, stream.String(), s)
		}
	})

	t.Run("only an administrator clears the list", func(t *testing.T) {
		assertProblem(t, user.ClearArchivePasswords(ctx), 403, "forbidden")
		l, err := user.ArchivePasswords(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, l.Count, "a refused clear keeps the list")
		require.NoError(t, admin.ClearArchivePasswords(ctx))
		l, err = user.ArchivePasswords(ctx)
		require.NoError(t, err)
		assert.Equal(t, 0, l.Count)
		require.NoError(t, admin.ClearArchivePasswords(ctx), "clearing nothing is not an error")
	})
}

// results returns a file's yara and reputation results.
func results(t *testing.T, ctx context.Context, c *client.Client, id string) (yara, rep contract.Result) {
	t.Helper()
	s, err := c.Scans(ctx, id)
	require.NoError(t, err)
	for _, r := range s.Engines {
		switch r.Engine {
		case "yara":
			yara = r
		case "reputation":
			rep = r
		}
	}
	return yara, rep
}

// assertProblem checks err is the API's problem with status and, if given,
// code.
func assertProblem(t *testing.T, err error, status int, code string) {
	t.Helper()
	var p *client.Problem
	if !assert.True(t, errors.As(err, &p), "want a %d problem, got %v", status, err) {
		return
	}
	assert.Equal(t, status, p.Status, p.Detail)
	if code != "" {
		assert.Equal(t, code, p.Code, p.Detail)
	}
}

// TestContractViews: with EXTRACT_VIEWS on, the extractor stores a file's
// decoded views beside it and lists them in file.extracted, and an engine
// in another language that opts in through the scanner contract (the Node
// example) finds what only a view shows, naming the view.
func TestContractViews(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{Env: map[string]string{"EXTRACT_VIEWS": "true"}})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pdf := samples.PDFAttachment("payload.txt", []byte("attached "+samples.Marker))
	require.False(t, bytes.Contains(pdf, []byte(samples.Marker)), "the attachment is deflated: only its view shows the marker")
	attached, err := c.UploadBytes(ctx, "attached.pdf", pdf)
	require.NoError(t, err)
	plain, err := c.UploadBytes(ctx, "plain.txt", []byte("no views in here "+time.Now().String()))
	require.NoError(t, err)

	for _, tc := range []struct {
		id, result, detail string
	}{
		{attached.ID, "malicious", "marker string found in pdf:embedded payload.txt"},
		{plain.ID, "clean", "no marker in "},
	} {
		_, err := c.Wait(ctx, tc.id)
		require.NoError(t, err)
		// node-marker is not in ENGINES: the verdict does not wait for it,
		// so its result may come after.
		var node *contract.Result
		require.Eventually(t, func() bool {
			s, err := c.Scans(ctx, tc.id)
			if err != nil {
				return false
			}
			for i := range s.Engines {
				if s.Engines[i].Engine == "node-marker" {
					node = &s.Engines[i]
				}
			}
			return node != nil
		}, time.Minute, 100*time.Millisecond, "no node-marker result for %s", tc.id)
		assert.EqualValues(t, tc.result, node.Result, node.Detail)
		assert.Contains(t, node.Detail, tc.detail)
		if tc.id == plain.ID {
			assert.NotContains(t, node.Detail, "decoded views", "a file without views gets none")
		}
	}
}
