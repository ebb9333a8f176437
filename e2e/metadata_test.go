package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/md5"  //nolint:gosec // looked up by MD5, as users do
	"crypto/sha1" //nolint:gosec
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/testenv"
)

func zipOf(t *testing.T, name string, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	require.NoError(t, err)
	_, err = w.Write(body)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// bomb is a small 42.zip in spirit: zips of zips of megabytes of zeros.
func bomb(t *testing.T) []byte {
	layer := zipOf(t, "zeros.bin", make([]byte, 40<<20)) // over the 32 MiB below which a high ratio is no bomb
	for i := 0; i < 2; i++ {
		layer = zipOf(t, fmt.Sprintf("layer%d.zip", i), layer)
	}
	return layer
}

func nested(t *testing.T, depth int) []byte {
	b := []byte("at the bottom\n")
	for i := 0; i < depth; i++ {
		b = zipOf(t, fmt.Sprintf("level%d.zip", depth-i), b)
	}
	return b
}

type findingsMeta struct {
	Type struct {
		MIME        string `json:"mime"`
		Description string `json:"description"`
	} `json:"type"`
	PDF *struct {
		HasJavaScript bool `json:"hasJavaScript"`
		HasAutoAction bool `json:"hasAutoAction"`
	} `json:"pdf"`
	Findings []contract.Finding `json:"findings"`
}

func codes(fs []contract.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

// TestMetadataLimitsAndLookup checks what users see of a file beyond the
// engines: per-format metadata, findings from the safe limits and the
// verdicts they cause, and lookup by any hash.
func TestMetadataLimitsAndLookup(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	upload := func(name string, data []byte) (string, findingsMeta) {
		up, err := c.UploadBytes(ctx, name, data)
		require.NoError(t, err, name)
		f, err := c.Wait(ctx, up.ID)
		require.NoError(t, err, name)
		var m findingsMeta
		require.NoError(t, json.Unmarshal(f.Metadata, &m), name)
		return up.ID, m
	}

	id, m := upload("brochure.pdf", samples.PDFJavaScript())
	assert.Equal(t, "application/pdf", m.Type.MIME)
	assert.Contains(t, m.Type.Description, "PDF")
	require.NotNil(t, m.PDF)
	assert.True(t, m.PDF.HasJavaScript)
	assert.True(t, m.PDF.HasAutoAction)

	t.Run("a disguised executable is named for what it is", func(t *testing.T) {
		_, m := upload("report.pdf", samples.PlainPE())
		assert.Contains(t, m.Type.Description, "executable")
		assert.Contains(t, codes(m.Findings), "extension_mismatch")
	})
	t.Run("a zip bomb is suspicious, with the reason", func(t *testing.T) {
		id, m := upload("bomb.zip", bomb(t))
		assert.Contains(t, codes(m.Findings), "zip_bomb")
		f, err := c.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, contract.VerdictSuspicious, f.Verdict)
	})
	t.Run("a too deeply nested archive is unscanned, with the reason", func(t *testing.T) {
		id, m := upload("deep.zip", nested(t, 9))
		assert.Contains(t, codes(m.Findings), "archive_too_deep")
		f, err := c.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, contract.VerdictUnscanned, f.Verdict)
	})
	t.Run("lookup by any hash", func(t *testing.T) {
		data := samples.PDFJavaScript()
		s1, m5 := sha1.Sum(data), md5.Sum(data) //nolint:gosec
		for param, value := range map[string]string{"sha256": sha(data), "sha1": hex.EncodeToString(s1[:]), "md5": hex.EncodeToString(m5[:])} {
			page, err := c.List(ctx, url.Values{param: {value}})
			require.NoError(t, err, param)
			require.Len(t, page.Items, 1, param)
			assert.Equal(t, id, page.Items[0].ID, param)
		}
		page, err := c.List(ctx, url.Values{"md5": {"00000000000000000000000000000000"}})
		require.NoError(t, err)
		assert.Empty(t, page.Items)
	})
}
