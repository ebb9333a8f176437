package receiver_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/examples/webhook-receiver/receiver"
	"github.com/intellidox/intellidox/internal/webhooks"
)

// TestHandler signs requests as IntelliDox does and checks that the
// receiver takes the genuine one and refuses every broken variant. Real
// deliveries are verified in internal/webhooks' integration tests and in
// e2e/webhooks_test.go.
func TestHandler(t *testing.T) {
	secret := webhooks.NewSecret()
	body := `{"type":"file.completed","timestamp":"2026-12-02T12:00:00Z","data":{"fileId":"f1","verdict":"malicious","version":3}}`
	var got []receiver.Event
	h := receiver.Handler(secret, func(id string, ev receiver.Event) error {
		got = append(got, ev)
		return nil
	})
	req := func(mutate func(hdr http.Header, body *string)) int {
		b := body
		ts := time.Now().Unix()
		sig, err := webhooks.Sign(secret, "msg_1", ts, []byte(b))
		require.NoError(t, err)
		hdr := http.Header{}
		hdr.Set("webhook-id", "msg_1")
		hdr.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		hdr.Set("webhook-signature", sig)
		if mutate != nil {
			mutate(hdr, &b)
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(b))
		r.Header = hdr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, http.StatusNoContent, req(nil))
	require.Len(t, got, 1)
	assert.Equal(t, "malicious", got[0].Data.Verdict)
	assert.Equal(t, int64(3), got[0].Data.Version)

	assert.Equal(t, http.StatusNoContent, req(func(h http.Header, _ *string) {
		h.Set("webhook-signature", "v1,bm9wZQ== "+h.Get("webhook-signature")) // a rotated secret's signature beside
	}))
	for name, mutate := range map[string]func(http.Header, *string){
		"tampered body": func(_ http.Header, b *string) { *b = strings.Replace(*b, "malicious", "clean", 1) },
		"other id":      func(h http.Header, _ *string) { h.Set("webhook-id", "msg_2") },
		"old timestamp": func(h http.Header, _ *string) {
			h.Set("webhook-timestamp", strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10))
		},
		"no signature": func(h http.Header, _ *string) { h.Del("webhook-signature") },
		"other version": func(h http.Header, _ *string) {
			h.Set("webhook-signature", "v2,"+strings.TrimPrefix(h.Get("webhook-signature"), "v1,"))
		},
		"other secret": func(h http.Header, b *string) {
			sig, _ := webhooks.Sign(webhooks.NewSecret(), "msg_1", time.Now().Unix(), []byte(*b))
			h.Set("webhook-signature", sig)
		},
	} {
		assert.Equal(t, http.StatusUnauthorized, req(mutate), name)
	}
	assert.Len(t, got, 2, "no refused request reached the handler")
}
