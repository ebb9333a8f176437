package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// APIContract, when set (a test package's TestMain does it), sees every
// exchange with every stack's api: StartStack puts a validating proxy in
// front of the api, direct and through its sidecar, so that no test can
// talk to the api around it.
var APIContract *Contract

// Contract checks exchanges with the api against docs/openapi.yaml and
// records which documented (operation, status) pairs were exercised.
type Contract struct {
	doc    *openapi3.T
	router routers.Router

	mu        sync.Mutex
	seen      map[string]int // "createFile 201" → exchanges
	exchanges int
}

// contractHost is the server the router matches; the proxies rewrite each
// request to it before looking up its route.
const contractHost = "http://openapi.contract"

// LoadContract reads and validates docs/openapi.yaml.
func LoadContract() (*Contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(filepath.Join(Root(), "docs", "openapi.yaml"))
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("docs/openapi.yaml: %w", err)
	}
	doc.Servers = openapi3.Servers{{URL: contractHost}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Contract{doc: doc, router: router, seen: map[string]int{}}, nil
}

// Operation is one documented operation.
type Operation struct {
	Key          string // its operationId, or "METHOD path"
	Method, Path string
	Op           *openapi3.Operation
	Secured      bool     // needs a caller
	Statuses     []string // the statuses it documents explicitly
}

// Operations lists the document's operations in a stable order.
func (c *Contract) Operations() []Operation {
	var out []Operation
	for _, path := range c.doc.Paths.InMatchingOrder() {
		for method, op := range c.doc.Paths.Value(path).Operations() {
			o := Operation{Key: opKey(method, path, op), Method: method, Path: path, Op: op,
				Secured: op.Security == nil && len(c.doc.Security) > 0 || op.Security != nil && len(*op.Security) > 0}
			for status := range op.Responses.Map() {
				if status != "default" {
					o.Statuses = append(o.Statuses, status)
				}
			}
			slices.Sort(o.Statuses)
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Operation) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func opKey(method, path string, op *openapi3.Operation) string {
	if op.OperationID != "" {
		return op.OperationID
	}
	return method + " " + path
}

// Exchanges returns how many exchanges the contract checked.
func (c *Contract) Exchanges() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exchanges
}

// Missing lists each documented "operation status" no exchange showed.
func (c *Contract) Missing() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, o := range c.Operations() {
		for _, s := range o.Statuses {
			if c.seen[o.Key+" "+s] == 0 {
				out = append(out, o.Key+" "+s)
			}
		}
	}
	return out
}

// Documented counts the documented "operation status" pairs.
func (c *Contract) Documented() int {
	n := 0
	for _, o := range c.Operations() {
		n += len(o.Statuses)
	}
	return n
}

// Check validates one exchange: the request, when the server accepted it
// (refused ones are often invalid on purpose); the response, which must
// have a status the operation documents and match its schema. A request
// for an undocumented /v1 route must get a problem 404 or 405. Paths
// outside the API (the web app, metrics, the sidecar's routes) are not
// checked. It returns what is wrong, or "".
func (c *Contract) Check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) string {
	check := req.Clone(context.Background())
	u, _ := url.Parse(contractHost)
	check.URL.Scheme, check.URL.Host, check.Host = u.Scheme, u.Host, u.Host
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	what := fmt.Sprintf("%s %s → %d", req.Method, req.URL.RequestURI(), status)
	route, params, err := c.router.FindRoute(check)
	if err != nil {
		if !strings.HasPrefix(req.URL.Path, "/v1/") {
			return "" // not the API
		}
		c.count("")
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return what + ": the route is not in docs/openapi.yaml"
		}
		if err := c.problem(status, header, body); err != nil {
			return what + ": " + err.Error()
		}
		return ""
	}
	key := opKey(route.Method, route.Path, route.Operation)
	c.count(key + " " + strconv.Itoa(status))
	if route.Operation.Responses.Status(status) == nil {
		return fmt.Sprintf("%s: status %d is not documented for %s (body %.300s)", what, status, key, body)
	}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if status < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			return fmt.Sprintf("%s: the server accepted a request the contract refuses: %v", what, err)
		}
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true}
	if strings.HasPrefix(header.Get("Content-Type"), "text/event-stream") {
		opts.ExcludeResponseBody = true // a stream: its status and type are checked
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Sprintf("%s: the response breaks the contract: %v (body %.300s)", what, err, body)
	}
	return ""
}

func (c *Contract) count(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exchanges++
	if key != "" {
		c.seen[key]++
	}
}

// problem checks a response against components/schemas/Problem.
func (c *Contract) problem(status int, header http.Header, body []byte) error {
	if ct := header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("content type %q, want application/problem+json", ct)
	}
	schema := c.doc.Components.Schemas["Problem"]
	if schema == nil || schema.Value == nil {
		return fmt.Errorf("docs/openapi.yaml has no Problem schema")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	if err := schema.Value.VisitJSON(v); err != nil {
		return fmt.Errorf("problem body %s: %w", body, err)
	}
	if m, ok := v.(map[string]any); !ok || m["status"] != float64(status) {
		return fmt.Errorf("problem body %s: status field differs from %d", body, status)
	}
	return nil
}

// Proxy starts a reverse proxy to upstream that checks each exchange, and
// returns its base URL. prefix is the part of the path before the API's own
// (Dapr service invocation's /v1.0/invoke/api/method). Through the sidecar,
// only requests carrying a dapr-api-token reach the api; the sidecar
// answers the others itself. Violations fail t when it ends.
func (c *Contract) Proxy(t testing.TB, upstream, prefix string) string {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var violations []string
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		// An api that is down looks down: the client's connection fails,
		// as it would without the proxy, instead of getting a 502.
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) },
		ModifyResponse: func(resp *http.Response) error {
			req := resp.Request
			path := req.URL.Path
			if prefix != "" {
				if !strings.HasPrefix(path, prefix) || req.Header.Get("dapr-api-token") == "" {
					return nil
				}
				path = strings.TrimPrefix(path, prefix)
			}
			reqBody, _ := req.Context().Value(bodyKey{}).([]byte)
			var body []byte
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				var err error
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
				resp.Body = io.NopCloser(bytes.NewReader(body))
			}
			checked := req.Clone(req.Context())
			checked.URL = &url.URL{Path: path, RawQuery: req.URL.RawQuery}
			if v := c.Check(checked, reqBody, resp.StatusCode, resp.Header, body); v != "" {
				mu.Lock()
				violations = append(violations, v)
				mu.Unlock()
			}
			return nil
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, body)))
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections() // event streams a test left open
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, v := range violations {
			t.Errorf("OpenAPI contract (docs/openapi.yaml): %s", v)
		}
	})
	return srv.URL
}

type bodyKey struct{}
