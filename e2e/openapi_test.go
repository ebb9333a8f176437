package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/testenv"
)

// validating checks every API exchange against docs/openapi.yaml.
type validating struct {
	t      *testing.T
	router routers.Router
	mu     sync.Mutex
	seen   map[string]bool // operationId → status seen
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/v1/") {
		return resp, err // storage PUTs are not part of the API
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	check := req.Clone(context.Background())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := v.router.FindRoute(check)
	if !assert.NoError(v.t, err, "%s %s is not in the OpenAPI document", req.Method, req.URL.Path) {
		return resp, nil
	}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	// Requests the server accepted must be valid by the contract; the
	// refused ones are deliberately invalid.
	if req.Header.Get("Content-Type") == "application/json" && len(reqBody) > 0 && resp.StatusCode < 400 {
		assert.NoError(v.t, openapi3filter.ValidateRequest(context.Background(), in), "request %s %s", req.Method, req.URL.Path)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Body: io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	assert.NoError(v.t, openapi3filter.ValidateResponse(context.Background(), out),
		"response to %s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, respBody)
	v.mu.Lock()
	v.seen[route.Operation.OperationID+" "+http.StatusText(resp.StatusCode)] = true
	v.mu.Unlock()
	return resp, nil
}

// TestServerHonoursOpenAPI drives a real stack through every operation and
// validates each request and response against the published contract.
func TestServerHonoursOpenAPI(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(filepath.Join(testenv.Root(), "docs", "openapi.yaml"))
	require.NoError(t, err)
	require.NoError(t, doc.Validate(loader.Context))

	stack := testenv.StartStack(t, testenv.StackOptions{})
	doc.Servers = openapi3.Servers{{URL: stack.API}}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	v := &validating{t: t, router: router, seen: map[string]bool{}}
	c := stack.Client()
	c.HTTP = &http.Client{Transport: v, Timeout: time.Minute}
	authorized := func(req *http.Request) *http.Request {
		req.Header.Set("Authorization", "Bearer "+stack.APIKey)
		return req
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	up, err := c.UploadBytes(ctx, "contract.txt", []byte("contract test "+time.Now().String()))
	require.NoError(t, err)
	_, err = c.Wait(ctx, up.ID)
	require.NoError(t, err)
	_, err = c.Scans(ctx, up.ID)
	require.NoError(t, err)
	again, err := c.Create(ctx, client.CreateRequest{Name: "again.txt", Size: 3, SHA256: strings.Repeat("a", 64)})
	require.NoError(t, err)
	require.NoError(t, c.Confirm(ctx, up.ID)) // idempotent
	var p *client.Problem
	require.ErrorAs(t, c.Confirm(ctx, again.ID), &p)
	_, err = c.Get(ctx, "00000000-0000-4000-8000-000000000000")
	require.ErrorAs(t, err, &p)
	_, err = c.Create(ctx, client.CreateRequest{Name: "x", Size: -1, SHA256: "nope"})
	require.ErrorAs(t, err, &p)

	get := func(path string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, stack.API+path, nil)
		resp, err := c.HTTP.Do(authorized(req))
		require.NoError(t, err)
		resp.Body.Close()
	}
	get("/v1/files?limit=1")
	get("/v1/files?q=contract&limit=5")
	get("/v1/files?limit=500")
	post := func(path, body string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, stack.API+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.HTTP.Do(authorized(req))
		require.NoError(t, err)
		resp.Body.Close()
	}
	post("/v1/files/"+up.ID+"/rescan", `{"engines":["clamav"]}`)
	post("/v1/files/"+up.ID+"/rescan", `{"engines":["NOT AN ENGINE"]}`)

	for _, want := range []string{"createFile Created", "createFile Bad Request", "confirmFile Accepted",
		"confirmFile Conflict", "getFile OK", "getFile Not Found", "getScans OK", "listFiles OK",
		"listFiles Bad Request", "rescanFile Accepted", "rescanFile Bad Request"} {
		assert.True(t, v.seen[want], "not exercised: %s", want)
	}
}
