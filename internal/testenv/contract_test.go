package testenv

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The contract check must fail each broken exchange below; a check that
// passes everything would make every e2e test's validation worthless.

const validFile = `{"id":"7c0e5f2a-3b1d-4c5e-9f00-0123456789ab","name":"a.txt","size":3,"sha256":"ab","contentType":"text/plain",
"status":"done","verdict":"clean","metadata":{},"createdAt":"2026-12-02T10:00:00Z","updatedAt":"2026-12-02T10:00:00Z"}`

const fileID = "7c0e5f2a-3b1d-4c5e-9f00-0123456789ab"

func exchange(t *testing.T, c *Contract, method, path, reqBody string, status int, ct, body string) string {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(reqBody))
	if reqBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.Check(req, []byte(reqBody), status, http.Header{"Content-Type": {ct}}, []byte(body))
}

func TestContractCatchesBrokenExchanges(t *testing.T) {
	c, err := LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	problem := func(status int, code string) string {
		return fmt.Sprintf(`{"type":"https://intellidox.dev/problems/%s","title":"x","status":%d,"code":%q}`, code, status, code)
	}
	if v := exchange(t, c, "GET", "/v1/files/"+fileID, "", 200, "application/json", validFile); v != "" {
		t.Fatalf("a valid exchange was refused: %s", v)
	}
	if v := exchange(t, c, "GET", "/v1/files/"+fileID, "", 404, "application/problem+json", problem(404, "not_found")); v != "" {
		t.Fatalf("a valid problem was refused: %s", v)
	}
	broken := []struct {
		name, method, path, reqBody string
		status                      int
		ct, body, want              string
	}{
		{"a response without a required field", "GET", "/v1/files/" + fileID, "", 200, "application/json",
			strings.Replace(validFile, `"status":"done",`, "", 1), "the response breaks the contract"},
		{"a value outside its enum", "GET", "/v1/files/" + fileID, "", 200, "application/json",
			strings.Replace(validFile, `"verdict":"clean"`, `"verdict":"fine"`, 1), "the response breaks the contract"},
		{"an undocumented status", "GET", "/v1/files/" + fileID, "", 418, "application/problem+json",
			problem(418, "teapot"), "status 418 is not documented for getFile"},
		{"a 500", "POST", "/v1/files", `{"name":"a","size":1,"sha256":"` + strings.Repeat("a", 64) + `"}`, 500,
			"application/problem+json", problem(500, "internal"), "status 500 is not documented for createFile"},
		{"an accepted request the contract refuses", "POST", "/v1/files", `{"name":"a","size":-1,"sha256":"x"}`, 201,
			"application/json", `{"id":"` + fileID + `","status":"awaiting_upload","sha256":"x","upload":null}`,
			"the server accepted a request the contract refuses"},
		{"an error that is no problem document", "GET", "/v1/files/" + fileID, "", 404, "text/plain",
			"not found", "the response breaks the contract"},
		{"an undocumented route that answers", "GET", "/v1/secret", "", 200, "application/json", `{}`,
			"the route is not in docs/openapi.yaml"},
		{"an undocumented route without a problem", "GET", "/v1/secret", "", 404, "text/plain", "404 page not found",
			"want application/problem+json"},
	}
	for _, b := range broken {
		v := exchange(t, c, b.method, b.path, b.reqBody, b.status, b.ct, b.body)
		if !strings.Contains(v, b.want) {
			t.Errorf("%s: the check said %q, want it to say %q", b.name, v, b.want)
		}
	}
	if v := exchange(t, c, "GET", "/metrics", "", 200, "text/plain", "x 1"); v != "" {
		t.Errorf("routes outside the API are not the contract's: %s", v)
	}
}

func TestContractCoverage(t *testing.T) {
	c, err := LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Missing()) != c.Documented() || c.Documented() == 0 {
		t.Fatalf("nothing exercised yet: missing %d of %d", len(c.Missing()), c.Documented())
	}
	exchange(t, c, "GET", "/v1/files/"+fileID, "", 200, "application/json", validFile)
	missing := strings.Join(c.Missing(), ",")
	if strings.Contains(missing, "getFile 200") || !strings.Contains(missing, "getFile 404") {
		t.Errorf("after one getFile 200, missing is %s", missing)
	}
	for _, o := range c.Operations() {
		if o.Key == "listDeadLetters" && !strings.Contains(strings.Join(o.Statuses, ","), "403") {
			t.Errorf("the admin routes must document 403: %v", o.Statuses)
		}
	}
}

// recorder is a test whose failures are kept instead of failing it.
type recorder struct {
	*testing.T
	errs     []string
	cleanups []func()
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func TestProxyReportsViolationsToTheTest(t *testing.T) {
	c, err := LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1.0/invoke/api/method/v1/files/"+fileID {
			w.Write([]byte(validFile))
			return
		}
		w.Write([]byte(`{"id":"` + fileID + `"}`)) // a File without most of its fields
	}))
	defer upstream.Close()
	rec := &recorder{T: t}
	direct := c.Proxy(rec, upstream.URL, "")
	viaDapr := c.Proxy(rec, upstream.URL, "/v1.0/invoke/api/method")
	for _, u := range []string{direct + "/v1/files/" + fileID, viaDapr + "/v1.0/invoke/api/method/v1/files/" + fileID} {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("dapr-api-token", "t")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for i := len(rec.cleanups) - 1; i >= 0; i-- {
		rec.cleanups[i]()
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "GET /v1/files/"+fileID+" → 200: the response breaks the contract") {
		t.Errorf("want one violation, of the direct exchange; got %q", rec.errs)
	}
	if c.Exchanges() != 2 {
		t.Errorf("%d exchanges checked, want 2", c.Exchanges())
	}
}

// TestProxyUnderConcurrency: e2e tests call the api from many goroutines
// at once (the chaos uploader); with -race this finds shared state.
func TestProxyUnderConcurrency(t *testing.T) {
	c, err := LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(validFile))
	}))
	defer upstream.Close()
	rec := &recorder{T: t}
	base := c.Proxy(rec, upstream.URL, "")
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			resp, err := http.Get(base + "/v1/files/" + fileID)
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for i := len(rec.cleanups) - 1; i >= 0; i-- {
		rec.cleanups[i]()
	}
	if len(rec.errs) != 0 || c.Exchanges() != 16 {
		t.Errorf("%d exchanges, violations %q", c.Exchanges(), rec.errs)
	}
}
