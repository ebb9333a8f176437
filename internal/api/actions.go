package api

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/intellidox/intellidox/internal/auth"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/sidecar"
)

// The routes and events that act on verdicts: the download gate, the
// download policy, and the tags and notifications of file events.

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	d, err := s.actions.Download(r.Context(), tenant(r), mux.Vars(r)["id"])
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) {
	p, audit, err := s.actions.Policy(r.Context(), tenant(r))
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"policy": p, "audit": audit})
}

// putPolicy is for administrators: the change is audited with the caller's
// subject and the reason it gives.
func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) {
	var req files.PolicyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	p, _ := auth.From(r.Context())
	out, err := s.actions.SetPolicy(r.Context(), p.Tenant, p.Subject, req)
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) onFileCompleted(ctx context.Context, ev sidecar.Event) sidecar.Status {
	var e contract.FileCompleted
	if !sidecar.Decode(s.log, ev, &e) {
		return sidecar.Drop
	}
	event := files.EventCompleted
	if e.Status == string(files.Rejected) {
		event = files.EventRejected
	}
	err := s.actions.OnFileEvent(ctx, event, e.FileID, "")
	if err == nil && s.protect != nil {
		// A file read from a protected bucket: if the object changed
		// while it was judged, its new version is queued.
		err = s.protect.Recheck(ctx, e.FileID)
	}
	return s.outcome(ctx, ev, e.SHA256, err)
}

func (s *Server) onVerdictChanged(ctx context.Context, ev sidecar.Event) sidecar.Status {
	var e contract.FileVerdictChanged
	if !sidecar.Decode(s.log, ev, &e) {
		return sidecar.Drop
	}
	return s.outcome(ctx, ev, e.SHA256, s.actions.OnFileEvent(ctx, files.EventVerdictChanged, e.FileID, e.Previous))
}
