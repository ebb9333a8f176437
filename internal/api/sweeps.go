package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/intellidox/intellidox/internal/app"
	"github.com/intellidox/intellidox/internal/auth"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/protect"
	"github.com/intellidox/intellidox/internal/sidecar"
)

// Objects that arrive without the api: storage events and sweeps
// (package protect).

// onStorageEvent queues what a protected bucket's event notification
// announces. A message that is not an S3 event is dropped: no retry
// would make it one.
func (s *Server) onStorageEvent(ctx context.Context, ev sidecar.Event) sidecar.Status {
	err := s.protect.OnEvent(ctx, ev.Data)
	var bad *protect.BadEvent
	if errors.As(err, &bad) {
		s.log.WarnContext(ctx, "storage event dropped", "event_id", ev.ID, "err", err)
		return sidecar.Drop
	}
	return s.outcome(ctx, ev, "", err)
}

func (s *Server) createSweep(w http.ResponseWriter, r *http.Request) {
	var req protect.SweepRequest
	if err := decodeJSON(w, r, &req); err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	p, _ := auth.From(r.Context())
	sw, err := s.protect.StartSweep(r.Context(), p.Tenant, p.Subject, req)
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/admin/sweeps/"+sw.ID)
	writeJSON(w, http.StatusAccepted, sw)
}

func (s *Server) listSweeps(w http.ResponseWriter, r *http.Request) {
	list, err := s.protect.ListSweeps(r.Context(), tenant(r))
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	if list == nil {
		list = []protect.Sweep{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (s *Server) getSweep(w http.ResponseWriter, r *http.Request) {
	sw, err := s.protect.GetSweep(r.Context(), tenant(r), mux.Vars(r)["id"])
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, sw)
}

// sweepEvents streams a sweep's progress as server-sent events: a
// "progress" event (the Sweep) whenever it changed, checked every second,
// and the stream ends after the sweep is done or failed.
func (s *Server) sweepEvents(w http.ResponseWriter, r *http.Request) {
	ctx, id := r.Context(), mux.Vars(r)["id"]
	sw, err := s.protect.GetSweep(ctx, tenant(r), id)
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	last := time.Time{}
	stopping := app.Stopping(ctx)
	for {
		if !sw.UpdatedAt.Equal(last) || sw.Pending > 0 {
			last = sw.UpdatedAt
			if err := writeEvent(w, "progress", sw); err != nil || rc.Flush() != nil {
				return
			}
		}
		if sw.Status == protect.SweepDone || sw.Status == protect.SweepFailed {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-stopping:
			return // this replica is stopping: the client reconnects to another
		case <-time.After(time.Second):
		}
		if sw, err = s.protect.GetSweep(ctx, tenant(r), id); err != nil {
			s.log.WarnContext(ctx, "sweep progress", "sweep", id, "err", err)
			_ = writeEvent(w, "error", map[string]string{"code": "progress_unavailable",
				"detail": "The sweep's progress could not be read; reconnect to follow it."})
			return
		}
	}
}

func writeEvent(w http.ResponseWriter, event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	return err
}
