// Command probe is the conformance suite's observer app. Beside its own
// sidecar it subscribes to scan.completed and to the dead-letter topic, keeps
// every event it receives, and serves them on GET /received?topic=NAME. The
// suite publishes file.extracted through the probe's sidecar.
package main

import (
	"encoding/json"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
)

type store struct {
	mu     sync.Mutex
	events map[string][]json.RawMessage // topic → CloudEvents as delivered
}

func main() {
	s := &store{events: map[string][]json.RawMessage{}}
	subs := []map[string]string{
		{"pubsubname": "events", "topic": "scan.completed", "route": "/received/scan.completed"},
		{"pubsubname": "events", "topic": "deadletter", "route": "/received/deadletter"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(subs)
	})
	mux.HandleFunc("POST /received/{topic}", func(w http.ResponseWriter, r *http.Request) {
		var ev json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.events[r.PathValue("topic")] = append(s.events[r.PathValue("topic")], ev)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"SUCCESS"}`))
	})
	mux.HandleFunc("GET /received", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		list := append([]json.RawMessage{}, s.events[r.URL.Query().Get("topic")]...)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	addr := net.JoinHostPort("127.0.0.1", os.Getenv("APP_PORT"))
	log.Printf("probe listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
