// Package live fans events out to Server-Sent Events clients. Every api
// replica subscribes to scan.completed and file.completed through the "live"
// pub/sub component, whose consumer group is unique per sidecar instance
// ({uuid}), so each replica sees every event whichever replica holds the
// client's connection. Nothing here is shared between replicas.
package live

import (
	"encoding/json"
	"sync"

	"github.com/intellidox/intellidox/internal/contract"
)

// Update is one change a watcher may care about. Exactly one of Scan or
// Completed is set.
type Update struct {
	SHA256    string
	Scan      *contract.ScanCompleted
	Completed *contract.FileCompleted
}

// Hub routes updates to the watchers of a content hash.
type Hub struct {
	mu       sync.Mutex
	watchers map[string]map[chan Update]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{watchers: map[string]map[chan Update]struct{}{}} }

// Watch registers interest in content sha256. Cancel must be called.
func (h *Hub) Watch(sha256 string) (updates <-chan Update, cancel func()) {
	ch := make(chan Update, 64)
	h.mu.Lock()
	if h.watchers[sha256] == nil {
		h.watchers[sha256] = map[chan Update]struct{}{}
	}
	h.watchers[sha256][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.watchers[sha256], ch)
		if len(h.watchers[sha256]) == 0 {
			delete(h.watchers, sha256)
		}
		h.mu.Unlock()
	}
}

// Publish delivers u to every watcher of its content. A watcher that is not
// keeping up loses the update; its stream then resynchronizes from the
// database (see the SSE handler), so a slow client never blocks the hub.
func (h *Hub) Publish(u Update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.watchers[u.SHA256] {
		select {
		case ch <- u:
		default:
		}
	}
}

// Relayed feeds the hub an event that this replica's outbox relays after
// the transaction that caused it committed. A stream held by this replica
// then finishes without waiting for the live subscription's delivery of the
// same event: that delivery still comes, for the streams of every replica,
// and a stream that sees a file finish twice reads the same state twice.
// Only file.completed matters here: results reach the api from the
// scanners, not from its outbox.
func (h *Hub) Relayed(topic string, payload []byte) {
	if topic != contract.TopicFileCompleted {
		return
	}
	var e contract.FileCompleted
	if json.Unmarshal(payload, &e) != nil || e.SHA256 == "" {
		return
	}
	h.Publish(Update{SHA256: e.SHA256, Completed: &e})
}

// Watchers returns the number of active watchers, for metrics and tests.
func (h *Hub) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, w := range h.watchers {
		n += len(w)
	}
	return n
}
