package api

import (
	"net/http"

	"github.com/intellidox/intellidox/internal/auth"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/problem"
)

// Archive passwords are write-only: reads say how many there are and who
// set them (docs/security.md, "Archive passwords").

var errNoPasswords = problem.New(problem.Unavailable, "passwords_unavailable",
	"Archive passwords are not enabled on this server.")

func (s *Server) getPasswords(w http.ResponseWriter, r *http.Request) {
	if s.pws == nil {
		problem.Write(w, r, s.log, errNoPasswords)
		return
	}
	l, err := s.pws.Get(r.Context(), tenant(r))
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// putPasswords replaces the tenant's list; it is for administrators.
func (s *Server) putPasswords(w http.ResponseWriter, r *http.Request) {
	if s.pws == nil {
		problem.Write(w, r, s.log, errNoPasswords)
		return
	}
	var req files.PasswordsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	p, _ := auth.From(r.Context())
	l, err := s.pws.Set(r.Context(), p.Tenant, p.Subject, req)
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) deletePasswords(w http.ResponseWriter, r *http.Request) {
	if s.pws == nil {
		problem.Write(w, r, s.log, errNoPasswords)
		return
	}
	if err := s.pws.Delete(r.Context(), tenant(r)); err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
