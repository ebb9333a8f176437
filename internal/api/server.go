// Package api serves the IntelliDox REST API (v1) and the api's event
// subscriptions. Handlers decode, validate and map errors; the use cases live
// in package files.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/intellidox/intellidox/internal/auth"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/live"
	"github.com/intellidox/intellidox/internal/metrics"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/protect"
	"github.com/intellidox/intellidox/internal/sidecar"
	"github.com/intellidox/intellidox/internal/trace"
)

// Checker reports whether a dependency is ready.
type Checker interface {
	Ping(ctx context.Context) error
}

// Server holds the api's handlers.
type Server struct {
	files   *files.Service
	log     *slog.Logger
	db      Checker
	sidecar Checker
	hub     *live.Hub
	webDir  string
	resync  time.Duration
	auth    []auth.Authenticator
	limiter *auth.Limiter
	fails   *auth.FailureLimiter
	token   string
	dlq     DeadLetters
	recon   Reconciler
	actions *files.Actions
	hooks   Webhooks
	pws     *files.Passwords
	protect *protect.Service
}

// Options configure a Server.
type Options struct {
	DB, Sidecar Checker
	// WebDir, when set, is the built web app, served at / with index.html
	// for every path that is not an API route.
	WebDir string
	// SSEResync is how often an event stream re-reads the database in case
	// a live update was lost (default 2 s).
	SSEResync time.Duration
	// Auth authenticates callers of /v1; at least one is required.
	Auth []auth.Authenticator
	// Limiter bounds each caller's request rate; nil disables it.
	Limiter *auth.Limiter
	// Failures bounds failed authentications per client address; nil
	// disables it.
	Failures *auth.FailureLimiter
	// AppToken, when set, is the token the sidecar must present on the
	// routes it calls (APP_API_TOKEN).
	AppToken string
	// DeadLetters stores dropped messages for the admin endpoints.
	DeadLetters DeadLetters
	// Reconciler re-drives stuck files when the cron binding fires.
	Reconciler Reconciler
	// Actions gate downloads and tag and announce file events.
	Actions *files.Actions
	// Webhooks serves /v1/webhooks and takes verdict events for delivery;
	// nil turns webhooks off.
	Webhooks Webhooks
	// Passwords serves /v1/settings/archive-passwords; nil answers
	// passwords_unavailable.
	Passwords *files.Passwords
	// Protect serves /v1/admin/sweeps and, when it has rules, takes
	// protected buckets' storage events. Required.
	Protect *protect.Service
	// Hub fans updates out to this replica's event streams; the outbox
	// feeds it too (live.Hub.Relayed). Nil makes a hub of the server's own.
	Hub *live.Hub
}

// New returns a Server.
func New(svc *files.Service, log *slog.Logger, o Options) *Server {
	if o.SSEResync <= 0 {
		o.SSEResync = defaultResync
	}
	if o.Hub == nil {
		o.Hub = live.NewHub()
	}
	return &Server{files: svc, log: log, db: o.DB, sidecar: o.Sidecar, hub: o.Hub, webDir: o.WebDir,
		resync: o.SSEResync, auth: o.Auth, limiter: o.Limiter, fails: o.Failures, token: o.AppToken, dlq: o.DeadLetters, recon: o.Reconciler,
		actions: o.Actions, hooks: o.Webhooks, pws: o.Passwords, protect: o.Protect}
}

// MaxBodyBytes bounds JSON request bodies.
const MaxBodyBytes = 64 << 10

// Routes returns the api's router. /healthz, /readyz, /metrics and the web
// app's files are public; /v1 needs a caller; the subscription routes only
// admit the sidecar.
func (s *Server) Routes() http.Handler {
	r := mux.NewRouter()
	fail := func(w http.ResponseWriter, r *http.Request, err error) { problem.Write(w, r, s.log, err) }
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet)
	r.Handle("/metrics", metrics.Handler()).Methods(http.MethodGet)

	// Routes hang off the root router: gorilla/mux answers 404 instead of 405
	// for a method mismatch inside a subrouter.
	authed := auth.Middleware(s.auth, s.limiter, s.fails, isEventStream, fail)
	v1 := func(method, path string, h http.HandlerFunc) {
		r.Handle(path, metrics.Instrument(path, authed(h))).Methods(method)
	}
	v1(http.MethodPost, "/v1/files", s.create)
	v1(http.MethodGet, "/v1/files", s.list)
	v1(http.MethodGet, "/v1/files/{id}", s.get)
	v1(http.MethodPost, "/v1/files/{id}/confirm", s.confirm)
	v1(http.MethodGet, "/v1/files/{id}/upload", s.uploadState)
	v1(http.MethodGet, "/v1/files/{id}/scans", s.scans)
	v1(http.MethodGet, "/v1/files/{id}/events", s.events)
	v1(http.MethodPost, "/v1/files/{id}/rescan", s.rescan)
	v1(http.MethodGet, "/v1/files/{id}/history", s.history)
	v1(http.MethodGet, "/v1/files/{id}/download", s.download)
	v1(http.MethodGet, "/v1/settings/download-policy", s.getPolicy)
	v1(http.MethodPut, "/v1/settings/download-policy", s.admin(s.putPolicy))
	v1(http.MethodGet, "/v1/settings/archive-passwords", s.getPasswords)
	v1(http.MethodPut, "/v1/settings/archive-passwords", s.admin(s.putPasswords))
	v1(http.MethodDelete, "/v1/settings/archive-passwords", s.admin(s.deletePasswords))
	v1(http.MethodGet, "/v1/admin/deadletters", s.admin(s.listDeadLetters))
	v1(http.MethodPost, "/v1/admin/deadletters/{id}/redrive", s.admin(s.redrive))
	v1(http.MethodPost, "/v1/admin/sweeps", s.admin(s.createSweep))
	v1(http.MethodGet, "/v1/admin/sweeps", s.admin(s.listSweeps))
	v1(http.MethodGet, "/v1/admin/sweeps/{id}", s.admin(s.getSweep))
	v1(http.MethodGet, "/v1/admin/sweeps/{id}/events", s.admin(s.sweepEvents))
	s.webhookRoutes(v1)

	sc := mux.NewRouter()
	subs := []sidecar.Subscription{
		sidecar.Subscription{Topic: contract.TopicFileExtracted, Route: "/events/file-extracted", Handler: s.onExtracted},
		sidecar.Subscription{Topic: contract.TopicScanCompleted, Route: "/events/scan-completed", Handler: s.onScanCompleted},
		sidecar.Subscription{Topic: contract.TopicEngineUpdated, Route: "/events/engine-updated", Handler: s.onEngineUpdated},
		sidecar.Subscription{Topic: contract.TopicFileCompleted, Route: "/events/file-completed", Handler: s.onFileCompleted},
		sidecar.Subscription{Topic: contract.TopicVerdictChanged, Route: "/events/verdict-changed", Handler: s.onVerdictChanged},
		sidecar.Subscription{Topic: contract.TopicDeadLetter, Route: "/events/deadletter", Handler: s.onDeadLetter,
			NoDeadLetter: true},
		sidecar.Subscription{PubSub: contract.LivePubSub, Topic: contract.TopicScanCompleted, Route: "/live/scan-completed",
			Handler: s.liveScan, NoDeadLetter: true},
		sidecar.Subscription{PubSub: contract.LivePubSub, Topic: contract.TopicFileCompleted, Route: "/live/file-completed",
			Handler: s.liveCompleted, NoDeadLetter: true},
	}
	if s.protect != nil && len(s.protect.Rules()) > 0 {
		// S3 event JSON, not cloud events: rawPayload. A failure is
		// retried by the sidecar's resiliency policy and the broker
		// (JetStream or SQS redelivery); the storage component has no
		// dead-letter topic of ours.
		subs = append(subs, sidecar.Subscription{PubSub: contract.StoragePubSub, Topic: contract.TopicStorageEvents,
			Route: "/events/storage", Handler: s.onStorageEvent, NoDeadLetter: true,
			Metadata: map[string]string{"rawPayload": "true"}})
	}
	sidecar.Register(sc, s.log, subs...)
	sc.HandleFunc("/reconcile", s.reconcile).Methods(http.MethodPost, http.MethodOptions)
	onlySidecar := auth.SidecarOnly(s.token, fail)(sc)
	r.Handle("/reconcile", onlySidecar)
	for _, prefix := range []string{"/dapr/", "/events/", "/live/"} {
		r.PathPrefix(prefix).Handler(onlySidecar)
	}

	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, s.log, problem.New(problem.NotFound, "route_not_found", "No such endpoint."))
	})
	r.NotFoundHandler = notFound
	if s.webDir != "" {
		r.NotFoundHandler = webApp(s.webDir, notFound)
	}
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, s.log, &problem.Error{Kind: problem.MethodNotAllowed, Code: "method_not_allowed",
			Detail: r.Method + " is not allowed here."})
	})
	return s.recoverer(trace.Middleware(r))
}

// isEventStream tells the routes whose credential may come in the query
// string: browsers' EventSource cannot send an Authorization header.
func isEventStream(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/events")
}

// recoverer turns a panic into a logged 500 problem; no panic reaches a client.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic", "panic", p, "stack", string(debug.Stack()))
				problem.Write(w, r, s.log, problem.New(problem.Internal, "internal", "An internal error occurred. It has been logged."))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{"database": "ok", "sidecar": "ok"}
	ready := true
	for name, c := range map[string]Checker{"database": s.db, "sidecar": s.sidecar} {
		if err := c.Ping(r.Context()); err != nil {
			checks[name], ready = err.Error(), false
		}
	}
	if !ready {
		problem.Write(w, r, s.log, problem.New(problem.Unavailable, "not_ready", "Not ready: "+summary(checks)))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}

func summary(checks map[string]string) string {
	var parts []string
	for k, v := range checks {
		if v != "ok" {
			parts = append(parts, k+": "+v)
		}
	}
	return strings.Join(parts, "; ")
}

// tenant is the authenticated caller's tenant. Routes without a caller
// never reach the handlers that call it.
func tenant(r *http.Request) string {
	p, ok := auth.From(r.Context())
	if !ok {
		panic("api: tenant() on an unauthenticated route")
	}
	return p.Tenant
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var req files.CreateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	out, err := s.files.Create(r.Context(), tenant(r), req)
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/files/"+out.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	f, err := s.files.Get(r.Context(), tenant(r), mux.Vars(r)["id"])
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, f.Wire())
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	f, err := s.files.Confirm(r.Context(), tenant(r), mux.Vars(r)["id"])
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": f.ID, "status": f.Status})
}

// uploadState answers what storage holds of an awaiting upload, with fresh
// URLs for the rest: a client resumes from it.
func (s *Server) uploadState(w http.ResponseWriter, r *http.Request) {
	st, err := s.files.UploadState(r.Context(), tenant(r), mux.Vars(r)["id"])
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := s.files.List(r.Context(), tenant(r), files.ListRequest{
		Q: q.Get("q"), SHA256: q.Get("sha256"), SHA1: q.Get("sha1"), MD5: q.Get("md5"),
		Cursor: q.Get("cursor"), Limit: q.Get("limit"),
	})
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) rescan(w http.ResponseWriter, r *http.Request) {
	var req files.RescanRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			problem.Write(w, r, s.log, err)
			return
		}
	}
	f, err := s.files.Rescan(r.Context(), tenant(r), mux.Vars(r)["id"], req)
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": f.ID, "status": f.Status, "engines": req.Engines})
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	h, err := s.files.History(r.Context(), tenant(r), mux.Vars(r)["id"])
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"verdicts": h})
}

func (s *Server) scans(w http.ResponseWriter, r *http.Request) {
	out, err := s.files.Scans(r.Context(), tenant(r), mux.Vars(r)["id"])
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) onExtracted(ctx context.Context, ev sidecar.Event) sidecar.Status {
	var e contract.FileExtracted
	if !sidecar.Decode(s.log, ev, &e) {
		return sidecar.Drop
	}
	return s.outcome(ctx, ev, e.SHA256, s.files.OnExtracted(ctx, e))
}

func (s *Server) onScanCompleted(ctx context.Context, ev sidecar.Event) sidecar.Status {
	var e contract.ScanCompleted
	if !sidecar.Decode(s.log, ev, &e) {
		return sidecar.Drop
	}
	if e.Result.Engine == "" || !e.Result.Result.Valid() || len(e.SHA256) != 64 {
		s.log.WarnContext(ctx, "invalid scan result dropped", "event_id", ev.ID, "sha256", e.SHA256, "engine", e.Result.Engine)
		return sidecar.Drop
	}
	return s.outcome(ctx, ev, e.SHA256, s.files.OnScanCompleted(ctx, e))
}

func (s *Server) onEngineUpdated(ctx context.Context, ev sidecar.Event) sidecar.Status {
	var e contract.EngineUpdated
	if !sidecar.Decode(s.log, ev, &e) {
		return sidecar.Drop
	}
	if e.Engine == "" || e.SignatureVersion == "" {
		s.log.WarnContext(ctx, "invalid engine update dropped", "event_id", ev.ID)
		return sidecar.Drop
	}
	n, err := s.files.OnEngineUpdated(ctx, e)
	if err != nil {
		return s.outcome(ctx, ev, "", err)
	}
	s.log.InfoContext(ctx, "signatures changed; rescans queued", "engine", e.Engine,
		"signature_version", e.SignatureVersion, "previous", e.Previous, "rescans", n)
	return sidecar.Success
}

func (s *Server) outcome(ctx context.Context, ev sidecar.Event, sha string, err error) sidecar.Status {
	if err == nil {
		return sidecar.Success
	}
	s.log.WarnContext(ctx, "event handling failed; will retry", "topic", ev.Topic, "event_id", ev.ID, "sha256", sha, "err", err)
	return sidecar.Retry
}

// decodeJSON reads one JSON object into v, mapping every failure to a problem.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return problem.New(problem.Unsupported, "unsupported_media_type", "Send the body as application/json.")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return problem.New(problem.TooLarge, "body_too_large", "The request body is larger than 64 KiB.")
	case err != nil:
		return problem.New(problem.Invalid, "malformed_json", "The body could not be read.")
	case !utf8.Valid(body):
		// encoding/json would silently replace invalid bytes with U+FFFD.
		return problem.New(problem.Invalid, "malformed_json", "The body must be UTF-8 JSON.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	err = dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		return problem.New(problem.Invalid, "malformed_json", "The body must hold exactly one JSON object.")
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr):
		return problem.Field("invalid_field", typeErr.Field,
			typeErr.Field+" must be a JSON "+jsonKind(typeErr.Type.Kind().String())+".")
	case errors.Is(err, io.EOF):
		return problem.New(problem.Invalid, "malformed_json", "The body is empty; send a JSON object.")
	}
	return problem.New(problem.Invalid, "malformed_json", "The body is not valid JSON.")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int64", "int32", "float64", "uint64":
		return "number"
	case "ptr":
		return "value of the documented type"
	}
	return goKind
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// SidecarHealth checks the sidecar's outbound health endpoint.
type SidecarHealth struct {
	URL    string // e.g. http://127.0.0.1:3500/v1.0/healthz/outbound
	Client *http.Client
}

// Ping implements Checker.
func (h SidecarHealth) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return err
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return errors.New("unreachable")
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return errors.New(resp.Status)
	}
	return nil
}
