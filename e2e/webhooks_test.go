package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/examples/webhook-receiver/receiver"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/testenv"
)

// hookReceiver is examples/webhook-receiver's handler on this machine's
// loopback (dapr.yaml's WEBHOOK_ALLOW_NETS admits 127.0.0.1): only deliveries
// whose signature verifies reach events.
type hookReceiver struct {
	URL    string
	mu     sync.Mutex
	secret string
	events map[string][]receiver.Event // by webhook-id
	fail   atomic.Bool                 // answer 500 instead
	calls  atomic.Int32
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{events: map[string][]receiver.Event{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.calls.Add(1)
		if r.fail.Load() {
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return
		}
		r.mu.Lock()
		secret := r.secret
		r.mu.Unlock()
		receiver.Handler(secret, func(id string, ev receiver.Event) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events[id] = append(r.events[id], ev)
			return nil
		}).ServeHTTP(w, req)
	}))
	// Where the api reaches it: the loopback, or the node's address from
	// the api's pod on the k8s profile (WEBHOOK_ALLOW_NETS admits it).
	l, err := net.Listen("tcp", net.JoinHostPort(testenv.CollectorHost(), "0"))
	require.NoError(t, err)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/hook"
	return r
}

func (r *hookReceiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

// find returns the verified events about fileID.
func (r *hookReceiver) find(fileID string) []receiver.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []receiver.Event
	for _, evs := range r.events {
		for _, ev := range evs {
			if ev.Data.FileID == fileID {
				out = append(out, ev)
			}
		}
	}
	return out
}

type hookAPI struct {
	t    *testing.T
	base string
}

// do sends one request and returns the status, the problem code if any,
// and the body.
func (a hookAPI) do(method, path, key string, body any) (int, string, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(a.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	require.NoError(a.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p struct{ Code string }
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		_ = json.Unmarshal(b, &p)
	}
	return resp.StatusCode, p.Code, b
}

type hookDelivery struct {
	ID         string `json:"id"`
	EventType  string `json:"eventType"`
	FileID     string `json:"fileId"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	LastStatus *int   `json:"lastStatus"`
	LastError  string `json:"lastError"`
}

func (a hookAPI) deliveries(key, sub string) []hookDelivery {
	a.t.Helper()
	status, code, body := a.do(http.MethodGet, "/v1/webhooks/"+sub+"/deliveries", key, nil)
	require.Equal(a.t, http.StatusOK, status, code)
	var list struct{ Items []hookDelivery }
	require.NoError(a.t, json.Unmarshal(body, &list))
	return list.Items
}

// TestWebhooks drives every /v1/webhooks route on the real stack, then an
// EICAR upload: its file.completed delivery, signed, reaches the example
// receiver with verdict malicious. A second receiver answers 500 until its
// delivery fails (a compressed schedule: one retry after 100 ms), and is
// redriven. Last, a rescan turns a clean file malicious, and
// file.verdict_changed arrives with both verdicts and a higher version.
func TestWebhooks(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(testenv.Root(), "rules", "reputation", "known-bad.csv"))
	require.NoError(t, err)
	list := testenv.NewReputationList(t, orig)
	stack := testenv.StartStack(t, testenv.StackOptions{Env: map[string]string{
		"WEBHOOK_RETRY_SCHEDULE":    "100ms",
		"WEBHOOK_POLL_INTERVAL":     "100ms",
		"WEBHOOK_MAX_SUBSCRIPTIONS": "3",
		"REPUTATION_LISTS":          list.Env["REPUTATION_LISTS"],
		"WEBHOOK_ALLOW_NETS":        testenv.CollectorHost(),
		"REPUTATION_POLL":           "100ms",
		"SIGNATURE_CHECK_INTERVAL":  "200ms",
	}})
	api := hookAPI{t: t, base: stack.API}
	key := stack.APIKey
	other := stack.Key(t, "webhooks-other-tenant")

	good, flaky := newHookReceiver(t), newHookReceiver(t)
	flaky.fail.Store(true)
	create := func(url string, events ...string) (int, string, map[string]any) {
		status, code, body := api.do(http.MethodPost, "/v1/webhooks", key, map[string]any{"url": url, "events": events})
		var out map[string]any
		_ = json.Unmarshal(body, &out)
		return status, code, out
	}
	status, code, subA := create(good.URL, "file.completed", "file.rejected", "file.verdict_changed")
	require.Equal(t, http.StatusCreated, status, code)
	require.True(t, strings.HasPrefix(subA["secret"].(string), "whsec_"))
	good.setSecret(subA["secret"].(string))
	a := subA["id"].(string)
	status, code, subB := create(flaky.URL, "file.completed")
	require.Equal(t, http.StatusCreated, status, code)
	flaky.setSecret(subB["secret"].(string))
	b := subB["id"].(string)

	t.Run("validation and SSRF", func(t *testing.T) {
		for _, c := range []struct {
			url, event string
			status     int
			code       string
		}{
			{good.URL, "file.deleted", 400, "invalid_events"},
			{"ftp://127.0.0.1/x", "file.completed", 400, "invalid_url"},
			{"http://127.0.0.2:9/hook", "file.completed", 422, "webhook_url_forbidden"}, // loopback outside the allow-list
			{"http://[::1]:8080/hook", "file.completed", 422, "webhook_url_forbidden"},
			{"http://169.254.169.254/latest/meta-data/", "file.completed", 422, "webhook_url_forbidden"},
			{"http://10.1.2.3/hook", "file.completed", 422, "webhook_url_forbidden"},
		} {
			status, code, _ := create(c.url, c.event)
			assert.Equal(t, c.status, status, c.url)
			assert.Equal(t, c.code, code, c.url)
		}
		status, code, subC := create(good.URL, "file.verdict_changed")
		require.Equal(t, http.StatusCreated, status, code)
		status, code, _ = create(good.URL, "file.completed")
		assert.Equal(t, http.StatusConflict, status)
		assert.Equal(t, "webhook_limit_reached", code)
		status, code, _ = api.do(http.MethodDelete, "/v1/webhooks/"+subC["id"].(string), key, nil)
		assert.Equal(t, http.StatusNoContent, status, code)
		status, code, _ = api.do(http.MethodGet, "/v1/webhooks/"+subC["id"].(string), key, nil)
		assert.Equal(t, http.StatusNotFound, status, code)
		status, code, _ = api.do(http.MethodDelete, "/v1/webhooks/"+subC["id"].(string), key, nil)
		assert.Equal(t, http.StatusNotFound, status, code)
	})

	t.Run("tenants learn nothing of each other", func(t *testing.T) {
		status, _, body := api.do(http.MethodGet, "/v1/webhooks", key, nil)
		require.Equal(t, http.StatusOK, status)
		assert.NotContains(t, string(body), "whsec_", "secrets are shown once")
		assert.Contains(t, string(body), a)
		status, _, body = api.do(http.MethodGet, "/v1/webhooks", other, nil)
		require.Equal(t, http.StatusOK, status)
		assert.JSONEq(t, `{"items":[]}`, string(body))
		_, _, unknown := api.do(http.MethodGet, "/v1/webhooks/00000000-0000-4000-8000-000000000000", other, nil)
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/v1/webhooks/" + a},
			{http.MethodDelete, "/v1/webhooks/" + a},
			{http.MethodGet, "/v1/webhooks/" + a + "/deliveries"},
			{http.MethodPost, "/v1/webhooks/" + a + "/deliveries/00000000-0000-4000-8000-000000000000/redrive"},
		} {
			status, code, _ := api.do(c.method, c.path, other, nil)
			assert.Equal(t, http.StatusNotFound, status, c.path)
			assert.Equal(t, "not_found", code, c.path)
		}
		status, _, mine := api.do(http.MethodGet, "/v1/webhooks/"+a, key, nil)
		require.Equal(t, http.StatusOK, status)
		assert.NotContains(t, string(mine), "whsec_")
		_, _, foreign := api.do(http.MethodGet, "/v1/webhooks/"+a, other, nil)
		assert.Equal(t, strings.ReplaceAll(string(unknown), "00000000-0000-4000-8000-000000000000", a), string(foreign),
			"another tenant's webhook answers exactly like an unknown one")
		assert.Empty(t, api.deliveries(key, a))
		status, code, _ := api.do(http.MethodPost, "/v1/webhooks/"+a+"/deliveries/nope/redrive", key, nil)
		assert.Equal(t, http.StatusNotFound, status, code)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := stack.Client()
	up, err := c.UploadBytes(ctx, "eicar.com", []byte(EICAR))
	require.NoError(t, err)
	f, err := c.Wait(ctx, up.ID)
	require.NoError(t, err)
	require.Equal(t, contract.VerdictMalicious, f.Verdict)

	var got []receiver.Event
	require.Eventually(t, func() bool {
		got = good.find(up.ID)
		return len(got) > 0
	}, time.Minute, 50*time.Millisecond, "the example receiver never verified a delivery about the EICAR upload")
	ev := got[0]
	assert.Equal(t, "file.completed", ev.Type)
	assert.Equal(t, "malicious", ev.Data.Verdict)
	assert.Equal(t, "done", ev.Data.Status)
	assert.Equal(t, f.SHA256, ev.Data.SHA256)
	assert.NotEmpty(t, ev.Data.Signatures)
	assert.Positive(t, ev.Data.Version)

	var failed hookDelivery
	require.Eventually(t, func() bool {
		for _, d := range api.deliveries(key, b) {
			if d.FileID == up.ID && d.Status == "failed" {
				failed = d
				return true
			}
		}
		return false
	}, time.Minute, 100*time.Millisecond, "the delivery to the failing receiver never failed for good")
	assert.Equal(t, 2, failed.Attempts)
	require.NotNil(t, failed.LastStatus)
	assert.Equal(t, 500, *failed.LastStatus)
	assert.Equal(t, "HTTP 500", failed.LastError)
	assert.Empty(t, flaky.find(up.ID))

	flaky.fail.Store(false)
	status, code, _ = api.do(http.MethodPost, "/v1/webhooks/"+b+"/deliveries/"+failed.ID+"/redrive", key, nil)
	require.Equal(t, http.StatusAccepted, status, code)
	require.Eventually(t, func() bool { return len(flaky.find(up.ID)) > 0 }, time.Minute, 50*time.Millisecond,
		"the redriven delivery never arrived")
	status, code, _ = api.do(http.MethodPost, "/v1/webhooks/"+b+"/deliveries/"+failed.ID+"/redrive", key, nil)
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "delivery_not_failed", code)

	// A clean file whose hash then joins the reputation list: the rescan
	// turns it malicious, and file.verdict_changed carries both verdicts
	// and a higher version than its file.completed.
	data := []byte("soon known bad " + time.Now().String())
	up2, err := c.UploadBytes(ctx, "later-bad.txt", data)
	require.NoError(t, err)
	f2, err := c.Wait(ctx, up2.ID)
	require.NoError(t, err)
	require.Equal(t, contract.VerdictClean, f2.Verdict)
	require.Eventually(t, func() bool { return len(good.find(up2.ID)) > 0 }, time.Minute, 50*time.Millisecond)
	completed := good.find(up2.ID)[0]
	assert.Equal(t, "clean", completed.Data.Verdict)
	line := fmt.Sprintf("\"2026-12-02 00:00:00\", \"%s\", \"%s\", \"%s\", \"test\", \"x.txt\", \"txt\", \"text/plain\", \"Test.Webhook\", \"n/a\", \"n/a\", \"n/a\", \"n/a\", \"n/a\"\n",
		f2.SHA256, f2.MD5, f2.SHA1)
	list.Set(t, append(orig, line...))
	var changed receiver.Event
	require.Eventually(t, func() bool {
		for _, ev := range good.find(up2.ID) {
			if ev.Type == "file.verdict_changed" {
				changed = ev
				return true
			}
		}
		return false
	}, 90*time.Second, 100*time.Millisecond, "no verified file.verdict_changed after the rescan")
	assert.Equal(t, "malicious", changed.Data.Verdict)
	assert.Equal(t, "clean", changed.Data.PreviousVerdict)
	assert.Greater(t, changed.Data.Version, completed.Data.Version, "the later verdict has the higher version")
	assert.False(t, changed.Data.ScannedAt.Before(completed.Data.ScannedAt))
	require.NotEmpty(t, changed.Data.Signatures)
	assert.Contains(t, changed.Data.Signatures[0], "Test.Webhook")
}
