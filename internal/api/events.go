package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/intellidox/intellidox/internal/app"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/live"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/sidecar"
)

// SSE timing. resyncEvery re-reads the database, so a stream stays correct
// even when a live update was lost; heartbeats keep proxies from closing an
// idle stream.
const (
	defaultResync  = 2 * time.Second
	heartbeatEvery = 15 * time.Second
	// resumeSlack: on reconnect, results finished up to this long before
	// Last-Event-ID are sent again; clients key results by engine.
	resumeSlack = time.Minute
)

type statusData struct {
	ID      string           `json:"id"`
	Status  files.Status     `json:"status"`
	Verdict contract.Verdict `json:"verdict"`
}

// sseStream writes one client's event stream.
type sseStream struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	lastID int64
	sent   map[string]time.Time // engine → scannedAt of the result sent
	status statusData
	owned  bool // the caller's tenant proved it holds the content, as of the last resync
}

func (st *sseStream) send(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	id := max(st.lastID+1, time.Now().UnixMilli())
	st.lastID = id
	if _, err := fmt.Fprintf(st.w, "id: %d\nevent: %s\ndata: %s\n\n", id, event, b); err != nil {
		return err
	}
	return st.rc.Flush()
}

func (st *sseStream) sendStatus(f files.File) error {
	s := statusData{ID: f.ID, Status: f.Status, Verdict: f.Verdict}
	if s == st.status {
		return nil
	}
	st.status = s
	return st.send("status", s)
}

func (st *sseStream) sendResult(r contract.Result, since time.Time) error {
	if prev, ok := st.sent[r.Engine]; ok && !r.ScannedAt.After(prev) {
		return nil
	}
	if finished := r.ScannedAt.Add(time.Duration(r.DurationMs) * time.Millisecond); finished.Before(since) {
		st.sent[r.Engine] = r.ScannedAt // the client had it before it reconnected
		return nil
	}
	st.sent[r.Engine] = r.ScannedAt
	return st.send("scan", r)
}

func terminal(s files.Status) bool { return s == files.Done || s == files.Rejected }

// events streams a file's status and engine results as Server-Sent Events
// until its verdict is final.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := mux.Vars(r)["id"]
	f, err := s.files.Get(ctx, tenant(r), id)
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	updates, cancel := s.hub.Watch(f.SHA256) // before the snapshot: no gap
	defer cancel()

	since := time.Time{}
	if last, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		since = time.UnixMilli(last).Add(-resumeSlack)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &sseStream{w: w, rc: http.NewResponseController(w), sent: map[string]time.Time{}}
	_ = st.rc.SetWriteDeadline(time.Time{})
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}

	resync := func() (done bool, err error) {
		f, err := s.files.Get(ctx, tenant(r), id)
		if err != nil {
			return false, err
		}
		st.owned = f.Owned
		if err := st.sendStatus(f); err != nil {
			return false, err
		}
		scans, err := s.files.ScansOf(ctx, f) // the file just read: two queries per resync, not three
		if err != nil {
			return false, err
		}
		for _, res := range scans.Engines {
			if err := st.sendResult(res, since); err != nil {
				return false, err
			}
		}
		if terminal(f.Status) {
			return true, st.send("done", st.status)
		}
		return false, nil
	}
	if done, err := resync(); done || err != nil {
		return
	}
	tick := time.NewTicker(s.resync)
	defer tick.Stop()
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	stopping := app.Stopping(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-stopping:
			return // this replica is stopping: the client resumes on another (Last-Event-ID)
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || st.rc.Flush() != nil {
				return
			}
		case <-tick.C:
			if done, err := resync(); done || err != nil {
				return
			}
		case u := <-updates:
			switch {
			case u.Scan != nil:
				// A live update is about content, not about this caller:
				// only a tenant that proved it holds the content sees it.
				// Possession is read again at every resync.
				if !st.owned {
					continue
				}
				if err := st.sendResult(u.Scan.Result, time.Time{}); err != nil {
					return
				}
			case u.Completed != nil && u.Completed.FileID == id:
				if done, err := resync(); done || err != nil {
					return
				}
			}
		}
	}
}

func (s *Server) liveScan(_ context.Context, ev sidecar.Event) sidecar.Status {
	var e contract.ScanCompleted
	if !sidecar.Decode(s.log, ev, &e) {
		return sidecar.Drop
	}
	s.hub.Publish(live.Update{SHA256: e.SHA256, Scan: &e})
	return sidecar.Success
}

func (s *Server) liveCompleted(_ context.Context, ev sidecar.Event) sidecar.Status {
	var e contract.FileCompleted
	if !sidecar.Decode(s.log, ev, &e) {
		return sidecar.Drop
	}
	s.hub.Publish(live.Update{SHA256: e.SHA256, Completed: &e})
	return sidecar.Success
}
