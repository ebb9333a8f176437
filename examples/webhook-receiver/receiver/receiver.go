// Package receiver verifies IntelliDox webhooks (the Standard Webhooks
// scheme) and hands their payloads to a function. It uses only the
// standard library, so it can be copied into any Go service.
package receiver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Tolerance is how far a webhook-timestamp may be from now: older
// messages are refused, so a captured request cannot be replayed later.
const Tolerance = 5 * time.Minute

// ErrInvalid is any verification failure; callers should answer 400 or
// 401 and not say which check failed.
var ErrInvalid = errors.New("webhook signature is not valid")

// Verify checks the webhook-id, webhook-timestamp and webhook-signature
// headers against body and secret (whsec_…). The signature header may hold
// several space-separated "v1,<base64>" values (during secret rotation);
// one match suffices.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return errors.New("malformed secret")
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrInvalid
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrInvalid
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return ErrInvalid
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrInvalid
}

// Event is an IntelliDox webhook payload.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		FileID          string    `json:"fileId"`
		SHA256          string    `json:"sha256"`
		Status          string    `json:"status"`
		Verdict         string    `json:"verdict"`
		PreviousVerdict string    `json:"previousVerdict"`
		ScannedAt       time.Time `json:"scannedAt"`
		Version         int64     `json:"version"`
		Signatures      []string  `json:"signatures"`
	} `json:"data"`
}

// Handler verifies each request and passes its id and event to handle;
// an error from handle answers 500, so IntelliDox retries. Deliveries are
// at least once and in no particular order: dedupe on the id, and keep
// the event with the highest data.version per file.
func Handler(secret string, handle func(id string, ev Event) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := Verify(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "malformed payload", http.StatusBadRequest)
			return
		}
		if err := handle(r.Header.Get("webhook-id"), ev); err != nil {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
