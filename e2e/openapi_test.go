package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/testenv"
)

// Every test's exchanges with the api are checked against docs/openapi.yaml
// by the proxy TestMain installs, and TestMain fails the run when a
// documented operation status was never exercised. The tests below
// exercise what the other tests do not reach.

// opRequest builds a request for a documented operation: its path with id
// for the path parameter (dead letters have numeric ids), and the
// document's example as the body.
func opRequest(t *testing.T, o testenv.Operation, base, fileID, key string) *http.Request {
	t.Helper()
	id := fileID
	if strings.HasPrefix(o.Path, "/v1/admin/deadletters/") {
		id = "1"
	}
	var body io.Reader
	var ct string
	if rb := o.Op.RequestBody; rb != nil && rb.Value != nil {
		if mt := rb.Value.Content.Get("application/json"); mt != nil && mt.Example != nil {
			b, err := json.Marshal(mt.Example)
			require.NoError(t, err)
			body, ct = bytes.NewReader(b), "application/json"
		} else if rb.Value.Required {
			t.Fatalf("%s needs a request body: give it an example in docs/openapi.yaml", o.Key)
		}
	}
	req, err := http.NewRequest(o.Method, base+strings.ReplaceAll(o.Path, "{id}", id), body)
	require.NoError(t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return req
}

// send does req and returns the status, the problem code (if any) and the
// response headers.
func send(t *testing.T, req *http.Request) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p struct{ Code string }
	_ = json.Unmarshal(b, &p)
	return resp.StatusCode, p.Code, resp.Header
}

// TestServerHonoursOpenAPI drives a real stack through the operations and
// the outcomes the other tests leave out: history, the admin routes and a
// dead letter redriven.
func TestServerHonoursOpenAPI(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	user := client.New(stack.API)
	user.APIKey = stack.Key(t, stack.Tenant) // a tenant's user, not an administrator

	up, err := c.UploadBytes(ctx, "contract.txt", []byte("contract test "+time.Now().String()))
	require.NoError(t, err)
	_, err = c.Wait(ctx, up.ID)
	require.NoError(t, err)
	_, err = c.Scans(ctx, up.ID)
	require.NoError(t, err)
	h, err := c.History(ctx, up.ID)
	require.NoError(t, err)
	require.NotEmpty(t, h)
	var p *client.Problem
	_, err = c.History(ctx, "00000000-0000-4000-8000-000000000000")
	require.ErrorAs(t, err, &p)
	assert.Equal(t, http.StatusNotFound, p.Status)
	again, err := c.Create(ctx, client.CreateRequest{Name: "again.txt", Size: 3, SHA256: strings.Repeat("a", 64)})
	require.NoError(t, err)
	require.NoError(t, c.Confirm(ctx, up.ID)) // idempotent
	require.ErrorAs(t, c.Confirm(ctx, again.ID), &p)
	_, err = c.List(ctx, map[string][]string{"q": {"contract"}, "limit": {"5"}})
	require.NoError(t, err)
	require.NoError(t, c.Rescan(ctx, up.ID, []string{"clamav"}))

	admin := func(method, path string, key string) (int, string) {
		req, err := http.NewRequest(method, stack.API+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		status, code, _ := send(t, req)
		return status, code
	}
	status, code := admin(http.MethodPost, "/v1/admin/deadletters/1/redrive", user.APIKey)
	assert.Equal(t, http.StatusForbidden, status, code)
	status, code = admin(http.MethodPost, "/v1/admin/deadletters/987654/redrive", stack.APIKey)
	assert.Equal(t, http.StatusNotFound, status, code)

	// A poison message (an unknown schema version), published where the
	// api and the scanners subscribe, is dropped to the dead-letter topic;
	// the api keeps it, and an administrator redrives it.
	poisonID := fmt.Sprintf("poison-%d", time.Now().UnixNano())
	body, _ := json.Marshal(map[string]any{"version": 99, "fileId": poisonID})
	req, _ := http.NewRequest(http.MethodPost, stack.DaprHTTP+"/v1.0/publish/"+contract.PubSub+"/"+contract.TopicFileExtracted,
		bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("dapr-api-token", stack.DaprToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, "publish: %s", resp.Status)
	var letter int64
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, stack.API+"/v1/admin/deadletters", nil)
		req.Header.Set("Authorization", "Bearer "+stack.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var list struct {
			Items []struct {
				ID   int64           `json:"id"`
				Data json.RawMessage `json:"data"`
			} `json:"items"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
			return false
		}
		for _, it := range list.Items {
			if bytes.Contains(it.Data, []byte(poisonID)) {
				letter = it.ID
				return true
			}
		}
		return false
	}, time.Minute, 100*time.Millisecond, "the poison message never reached the dead letters")
	status, code = admin(http.MethodPost, fmt.Sprintf("/v1/admin/deadletters/%d/redrive", letter), stack.APIKey)
	assert.Equal(t, http.StatusAccepted, status, code)
}

// TestEveryOperationRefusesStrangersAndFloods calls every secured
// operation of docs/openapi.yaml without a credential (401 unauthorized),
// then with a key whose rate limit is spent (429 rate_limited with
// Retry-After). The operations come from the document, so a new one is
// covered when it is documented.
func TestEveryOperationRefusesStrangersAndFloods(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{Apps: []string{"api"},
		Env: map[string]string{"RATE_LIMIT_RPS": "1", "RATE_LIMIT_BURST": "1"}})
	const fileID = "00000000-0000-4000-8000-000000000000"
	ops := testenv.APIContract.Operations()
	secured := 0
	for _, o := range ops {
		if !o.Secured {
			continue
		}
		secured++
		t.Run(o.Key, func(t *testing.T) {
			status, code, header := send(t, opRequest(t, o, stack.API, fileID, ""))
			assert.Equal(t, http.StatusUnauthorized, status, "without a credential")
			assert.Equal(t, "unauthorized", code)
			assert.Contains(t, header.Get("WWW-Authenticate"), "Bearer")

			// One request a second, a burst of one: at most one request
			// per second gets through, so a few in a row meet the limit.
			for i := 0; ; i++ {
				status, code, header = send(t, opRequest(t, o, stack.API, fileID, stack.APIKey))
				if status == http.StatusTooManyRequests || i == 5 {
					break
				}
			}
			assert.Equal(t, http.StatusTooManyRequests, status, "a flood of one key")
			assert.Equal(t, "rate_limited", code)
			assert.NotEmpty(t, header.Get("Retry-After"))
		})
	}
	require.Positive(t, secured, "docs/openapi.yaml documents no secured operation")
}
