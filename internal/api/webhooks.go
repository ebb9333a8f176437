package api

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/webhooks"
)

// Webhooks manages a tenant's webhook subscriptions and turns verdict
// events into deliveries (internal/webhooks.Service).
type Webhooks interface {
	Create(ctx context.Context, tenant string, req webhooks.CreateRequest) (webhooks.Subscription, error)
	List(ctx context.Context, tenant string) ([]webhooks.Subscription, error)
	Get(ctx context.Context, tenant, id string) (webhooks.Subscription, error)
	Delete(ctx context.Context, tenant, id string) error
	Deliveries(ctx context.Context, tenant, id string) ([]webhooks.Delivery, error)
	Redrive(ctx context.Context, tenant, id, deliveryID string) error
	Enqueue(ctx context.Context, ev webhooks.Event) error
}

// webhookRoutes registers /v1/webhooks; without a Webhooks service they
// answer 404 like any unknown route.
func (s *Server) webhookRoutes(v1 func(method, path string, h http.HandlerFunc)) {
	if s.hooks == nil {
		return
	}
	v1(http.MethodPost, "/v1/webhooks", s.createWebhook)
	v1(http.MethodGet, "/v1/webhooks", s.listWebhooks)
	v1(http.MethodGet, "/v1/webhooks/{id}", s.getWebhook)
	v1(http.MethodDelete, "/v1/webhooks/{id}", s.deleteWebhook)
	v1(http.MethodGet, "/v1/webhooks/{id}/deliveries", s.webhookDeliveries)
	v1(http.MethodPost, "/v1/webhooks/{id}/deliveries/{deliveryId}/redrive", s.redriveWebhookDelivery)
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	var req webhooks.CreateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	sub, err := s.hooks.Create(r.Context(), tenant(r), req)
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/webhooks/"+sub.ID)
	writeJSON(w, http.StatusCreated, sub)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.hooks.List(r.Context(), tenant(r))
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookList{Items: list})
}

type webhookList struct {
	Items []webhooks.Subscription `json:"items"`
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	sub, err := s.hooks.Get(r.Context(), tenant(r), mux.Vars(r)["id"])
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.hooks.Delete(r.Context(), tenant(r), mux.Vars(r)["id"]); err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) {
	list, err := s.hooks.Deliveries(r.Context(), tenant(r), mux.Vars(r)["id"])
	if err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, deliveryList{Items: list})
}

type deliveryList struct {
	Items []webhooks.Delivery `json:"items"`
}

func (s *Server) redriveWebhookDelivery(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	if err := s.hooks.Redrive(r.Context(), tenant(r), v["id"], v["deliveryId"]); err != nil {
		problem.Write(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, redriven{ID: v["deliveryId"], Status: webhooks.StatusPending})
}

type redriven struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// WebhookNotifier adapts Webhooks to files.Notifier: a file event's
// outcome becomes one delivery per interested subscription.
func WebhookNotifier(w Webhooks) files.Notifier { return webhookNotifier{w} }

type webhookNotifier struct{ w Webhooks }

func (n webhookNotifier) Notify(ctx context.Context, event string, o files.Outcome, previous contract.Verdict) error {
	f := o.File
	return n.w.Enqueue(ctx, webhooks.Event{Type: event, Tenant: f.Tenant, FileID: f.ID, SHA256: f.SHA256,
		Status: string(f.Status), Verdict: string(f.Verdict), Previous: string(previous), Version: o.Version,
		ScannedAt: o.ScannedAt, Signatures: o.Signatures})
}
