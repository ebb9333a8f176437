// Command webhook-receiver is an example IntelliDox webhook endpoint: it
// verifies every delivery's signature and logs the verdicts it learns.
//
//	WEBHOOK_SECRET=whsec_… LISTEN=127.0.0.1:9000 go run ./examples/webhook-receiver
//
// Then subscribe: POST /v1/webhooks {"url":"http://127.0.0.1:9000/","events":["file.completed"]}
// (the api must allow 127.0.0.1 in WEBHOOK_ALLOW_NETS).
package main

import (
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/intellidox/intellidox/examples/webhook-receiver/receiver"
)

func main() {
	secret := os.Getenv("WEBHOOK_SECRET")
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	if secret == "" {
		slog.Error("set WEBHOOK_SECRET to the secret POST /v1/webhooks returned")
		os.Exit(2)
	}
	var mu sync.Mutex
	seen := map[string]bool{} // webhook-ids handled: deliveries are at least once
	h := receiver.Handler(secret, func(id string, ev receiver.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if seen[id] {
			return nil
		}
		seen[id] = true
		slog.Info("verdict", "type", ev.Type, "file_id", ev.Data.FileID, "verdict", ev.Data.Verdict,
			"version", ev.Data.Version, "scanned_at", ev.Data.ScannedAt)
		return nil
	})
	slog.Info("listening", "addr", addr)
	if err := http.ListenAndServe(addr, h); err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
}
