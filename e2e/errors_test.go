package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/testenv"
)

type call struct {
	method, path, contentType, body string
}

func (c call) do(t *testing.T, base, key string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// requireProblem checks an RFC 9457 body with the expected status and code.
func requireProblem(t *testing.T, resp *http.Response, body []byte, status int, code string) problem.Body {
	t.Helper()
	require.Equal(t, status, resp.StatusCode, "body: %s", body)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	var p problem.Body
	require.NoError(t, json.Unmarshal(body, &p))
	assert.Equal(t, code, p.Code)
	assert.Equal(t, status, p.Status)
	assert.Equal(t, problem.TypeBase+code, p.Type)
	assert.NotEmpty(t, p.Title)
	assert.NotEmpty(t, p.Detail)
	return p
}

const sha64 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestErrorsAreProblems(t *testing.T) {
	dbURL, pg := testenv.OwnDatabase(t)
	stack := testenv.StartStack(t, testenv.StackOptions{
		DatabaseURL: dbURL,
		// The sweep endpoints reach the database only for a protected
		// bucket: docs/openapi.yaml's example sweeps "inbox".
		Env: map[string]string{"MAX_FILE_SIZE": "1MiB",
			"PROTECTED_BUCKETS": `[{"bucket":"inbox","tenant":"default"}]`},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := stack.Client()
	waiting, err := c.Create(ctx, client.CreateRequest{Name: "later.txt", Size: 5, SHA256: sha64})
	require.NoError(t, err)

	const js = "application/json"
	tests := []struct {
		name   string
		call   call
		status int
		code   string
		field  string
	}{
		{"malformed json", call{"POST", "/v1/files", js, `{"name":`}, 400, "malformed_json", ""},
		{"empty body", call{"POST", "/v1/files", js, ``}, 400, "malformed_json", ""},
		{"two objects", call{"POST", "/v1/files", js, `{} {}`}, 400, "malformed_json", ""},
		{"array", call{"POST", "/v1/files", js, `[]`}, 400, "invalid_field", ""},
		{"size as string", call{"POST", "/v1/files", js, `{"name":"a","size":"10","sha256":"` + sha64 + `"}`}, 400, "invalid_field", "size"},
		{"missing name", call{"POST", "/v1/files", js, `{"size":10,"sha256":"` + sha64 + `"}`}, 400, "missing_field", "name"},
		{"missing sha256", call{"POST", "/v1/files", js, `{"name":"a","size":10}`}, 400, "missing_field", "sha256"},
		{"short sha256", call{"POST", "/v1/files", js, `{"name":"a","size":10,"sha256":"abc"}`}, 400, "invalid_sha256", "sha256"},
		{"size negative", call{"POST", "/v1/files", js, `{"name":"a","size":-5,"sha256":"` + sha64 + `"}`}, 400, "invalid_size", "size"},
		{"size over maximum", call{"POST", "/v1/files", js, `{"name":"a","size":1048577,"sha256":"` + sha64 + `"}`}, 413, "file_too_large", "size"},
		{"path in name", call{"POST", "/v1/files", js, `{"name":"../../etc/passwd","size":10,"sha256":"` + sha64 + `"}`}, 400, "invalid_name", "name"},
		{"not json", call{"POST", "/v1/files", "text/plain", `name=a`}, 415, "unsupported_media_type", ""},
		{"body too large", call{"POST", "/v1/files", js, `{"name":"` + strings.Repeat("a", 70<<10) + `"}`}, 413, "body_too_large", ""},
		{"unknown id", call{"GET", "/v1/files/00000000-0000-4000-8000-000000000000", "", ""}, 404, "not_found", ""},
		{"not a uuid", call{"GET", "/v1/files/abc", "", ""}, 404, "not_found", ""},
		{"confirm unknown", call{"POST", "/v1/files/00000000-0000-4000-8000-000000000000/confirm", "", ""}, 404, "not_found", ""},
		{"confirm before upload", call{"POST", "/v1/files/" + waiting.ID + "/confirm", "", ""}, 409, "upload_missing", ""},
		{"rescan before upload", call{"POST", "/v1/files/" + waiting.ID + "/rescan", "", ""}, 409, "not_ready", ""},
		{"scans of unknown", call{"GET", "/v1/files/00000000-0000-4000-8000-000000000000/scans", "", ""}, 404, "not_found", ""},
		{"unknown route", call{"GET", "/v1/nothing", "", ""}, 404, "route_not_found", ""},
		{"wrong method", call{"DELETE", "/v1/files", "", ""}, 405, "method_not_allowed", ""},
		{"bad limit", call{"GET", "/v1/files?limit=0", "", ""}, 400, "invalid_limit", "limit"},
		{"bad cursor", call{"GET", "/v1/files?cursor=xyz", "", ""}, 400, "invalid_cursor", "cursor"},
		{"bad md5", call{"GET", "/v1/files?md5=123", "", ""}, 400, "invalid_md5", "md5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.call.do(t, stack.API, stack.APIKey)
			p := requireProblem(t, resp, body, tt.status, tt.code)
			if tt.field != "" {
				assert.Equal(t, tt.field, p.Field)
			}
		})
	}

	t.Run("unauthenticated", func(t *testing.T) {
		for name, c := range map[string]struct {
			call call
			key  string
		}{
			"no key":        {call{"GET", "/v1/files", "", ""}, ""},
			"unknown key":   {call{"GET", "/v1/files", "", ""}, "idx_unknown"},
			"malformed jwt": {call{"GET", "/v1/files", "", ""}, "a.b.c"},
			"create":        {call{"POST", "/v1/files", js, `{"name":"a","size":1,"sha256":"` + sha64 + `"}`}, ""},
		} {
			t.Run(name, func(t *testing.T) {
				resp, body := c.call.do(t, stack.API, c.key)
				requireProblem(t, resp, body, 401, "unauthorized")
				assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
			})
		}
		resp, body := call{"POST", "/events/scan-completed", js, `{}`}.do(t, stack.API, stack.APIKey)
		requireProblem(t, resp, body, 401, "unauthorized") // only the sidecar, with its token
		resp, _ = call{"GET", "/healthz", "", ""}.do(t, stack.API, "")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "health needs no key")
	})

	t.Run("bad requests leave nothing behind", func(t *testing.T) {
		resp, body := call{"GET", "/v1/files?limit=100", "", ""}.do(t, stack.API, stack.APIKey)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var page struct{ Items []client.File }
		require.NoError(t, json.Unmarshal(body, &page))
		require.Len(t, page.Items, 1)
		assert.Equal(t, waiting.ID, page.Items[0].ID)
	})

	t.Run("database down: 503 problems, then recovery by itself", func(t *testing.T) {
		pg.Stop(t)
		resp, body := call{"GET", "/v1/files/" + waiting.ID, "", ""}.do(t, stack.API, stack.APIKey)
		requireProblem(t, resp, body, 503, "database_unavailable")
		assert.NotEmpty(t, resp.Header.Get("Retry-After"))
		resp, body = call{"POST", "/v1/files", js, `{"name":"a","size":10,"sha256":"` + sha64 + `"}`}.do(t, stack.API, stack.APIKey)
		requireProblem(t, resp, body, 503, "database_unavailable")
		resp, body = call{"GET", "/readyz", "", ""}.do(t, stack.API, stack.APIKey)
		requireProblem(t, resp, body, 503, "not_ready")
		// Every documented operation that needs the database says so.
		for _, o := range testenv.APIContract.Operations() {
			if o.Secured {
				resp, err := http.DefaultClient.Do(opRequest(t, o, stack.API, waiting.ID, stack.APIKey))
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				requireProblem(t, resp, body, 503, "database_unavailable")
			}
		}
		resp, _ = call{"GET", "/healthz", "", ""}.do(t, stack.API, stack.APIKey)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "liveness does not depend on the database")

		pg.Start(t)
		require.Eventually(t, func() bool {
			resp, _ := call{"GET", "/v1/files/" + waiting.ID, "", ""}.do(t, stack.API, stack.APIKey)
			return resp.StatusCode == http.StatusOK
		}, 30*time.Second, 100*time.Millisecond)
		resp, _ = call{"GET", "/readyz", "", ""}.do(t, stack.API, stack.APIKey)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
}
