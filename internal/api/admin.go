package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/intellidox/intellidox/internal/auth"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/metrics"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/sidecar"
)

// DeadLetters keeps messages subscribers dropped.
type DeadLetters interface {
	SaveDeadLetter(ctx context.Context, topic, eventID string, data json.RawMessage) error
	DeadLetters(ctx context.Context, all bool, limit int) ([]files.DeadLetter, error)
	PendingDeadLetters(ctx context.Context) (int, error)
	Redrive(ctx context.Context, id int64) ([]int64, error)
}

// Reconciler re-drives files stuck in processing.
type Reconciler interface {
	Reconcile(ctx context.Context) (map[string]int, error)
}

// admin admits only administrators.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p, _ := auth.From(r.Context()); !p.Admin {
			problem.Write(w, r, s.log, auth.ErrForbidden)
			return
		}
		h(w, r)
	}
}

// onDeadLetter stores a dropped message with the topic it was published to
// (Dapr forwards the original cloud event, topic attribute included).
func (s *Server) onDeadLetter(ctx context.Context, ev sidecar.Event) sidecar.Status {
	topic := ev.SourceTopic
	if topic == "" {
		topic = ev.Topic
	}
	if err := s.dlq.SaveDeadLetter(ctx, topic, ev.ID, ev.Data); err != nil {
		return s.outcome(ctx, ev, "", err)
	}
	s.log.WarnContext(ctx, "message dead-lettered", "topic", topic, "event_id", ev.ID)
	s.refreshDLQGauge(ctx)
	return sidecar.Success
}

func (s *Server) refreshDLQGauge(ctx context.Context) {
	if n, err := s.dlq.PendingDeadLetters(ctx); err == nil {
		metrics.DeadLetters.Set(float64(n))
	}
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	list, err := s.dlq.DeadLetters(r.Context(), r.URL.Query().Get("all") == "true", 200)
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	if list == nil {
		list = []files.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (s *Server) redrive(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err != nil {
		problem.Write(w, r, s.log, problem.New(problem.NotFound, "not_found", "No dead letter with this id."))
		return
	}
	ids, err := s.dlq.Redrive(r.Context(), id)
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	s.files.RelayNow(r.Context(), ids)
	s.refreshDLQGauge(r.Context())
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "redriven": true})
}

// reconcile is the target of the "reconcile" cron input binding: every api
// replica's sidecar fires it, and the store's row locks keep them apart.
func (s *Server) reconcile(w http.ResponseWriter, r *http.Request) {
	if s.recon == nil || r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK) // the sidecar probes the route at start
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	actions, err := s.recon.Reconcile(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "reconcile failed; the next tick retries", "err", err)
		http.Error(w, "reconcile failed", http.StatusServiceUnavailable)
		return
	}
	aborted, err := s.files.AbortExpiredUploads(ctx)
	if aborted > 0 {
		if actions == nil {
			actions = map[string]int{}
		}
		actions["aborted_multipart"] = aborted
	}
	if err != nil {
		s.log.WarnContext(ctx, "aborting expired multipart uploads failed; the next tick retries", "err", err)
	}
	for action, n := range actions {
		metrics.ReconcilerActions.WithLabelValues(action).Add(float64(n))
	}
	if len(actions) > 0 {
		s.log.InfoContext(ctx, "reconciled stuck files", "actions", actions)
	}
	s.refreshDLQGauge(ctx)
	w.WriteHeader(http.StatusOK)
}
