package sidecar

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/gorilla/mux"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/metrics"
	"github.com/intellidox/intellidox/internal/trace"
)

// Status is a subscriber's answer to the sidecar.
type Status string

// Subscriber outcomes, as Dapr defines them.
const (
	// Success acknowledges the message.
	Success Status = "SUCCESS"
	// Retry asks for redelivery later: use it for transient failures.
	Retry Status = "RETRY"
	// Drop discards the message to the dead-letter topic: use it for poison
	// messages that no retry can fix, and log why.
	Drop Status = "DROP"
)

// Event is a CloudEvent as the sidecar delivers it.
type Event struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	Topic       string          `json:"topic"`
	TraceParent string          `json:"traceparent"`
	Data        json.RawMessage `json:"data"`
	DataBase64  string          `json:"data_base64"`
	// SourceTopic is the topic attribute the event arrived with; for a
	// dead-lettered event, the topic it was first published to.
	SourceTopic string `json:"-"`
}

// Handler processes one event. It must be idempotent: delivery is
// at-least-once, so the same event may arrive again after a Success.
type Handler func(ctx context.Context, ev Event) Status

// Subscription routes one topic to a handler.
type Subscription struct {
	PubSub  string // component name; contract.PubSub when empty
	Topic   string
	Route   string // path the sidecar POSTs to, e.g. /events/file-uploaded
	Handler Handler
	// NoDeadLetter drops failed messages instead of dead-lettering them:
	// for notifications that lose their value with time.
	NoDeadLetter bool
	// Metadata is the subscription's, e.g. rawPayload "true" for messages
	// that are not cloud events (they arrive wrapped in one).
	Metadata map[string]string
}

type subscriptionJSON struct {
	PubSubName      string            `json:"pubsubname"`
	Topic           string            `json:"topic"`
	Route           string            `json:"route"`
	DeadLetterTopic string            `json:"deadLetterTopic,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

// Register serves the programmatic subscription list on GET /dapr/subscribe
// and one POST route per subscription. Dropped messages go to the
// dead-letter topic.
func Register(r *mux.Router, log *slog.Logger, subs ...Subscription) {
	list := make([]subscriptionJSON, 0, len(subs))
	for _, s := range subs {
		sj := subscriptionJSON{PubSubName: s.PubSub, Topic: s.Topic, Route: s.Route, DeadLetterTopic: contract.TopicDeadLetter,
			Metadata: s.Metadata}
		if sj.PubSubName == "" {
			sj.PubSubName = contract.PubSub
		}
		if s.NoDeadLetter {
			sj.DeadLetterTopic = ""
		}
		list = append(list, sj)
		r.Handle(s.Route, deliver(log, s)).Methods(http.MethodPost)
	}
	body, _ := json.Marshal(list)
	r.HandleFunc("/dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}).Methods(http.MethodGet)
}

func deliver(log *slog.Logger, s Subscription) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev Event
		status := Drop
		defer func() {
			if p := recover(); p != nil {
				log.Error("subscriber panic; message dropped to dead letter",
					"topic", s.Topic, "event_id", ev.ID, "panic", p, "stack", string(debug.Stack()))
				status = Drop
			}
			metrics.EventsProcessed.WithLabelValues(s.Topic, string(status)).Inc()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]Status{"status": status})
		}()
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&ev); err != nil {
			log.Warn("undecodable cloud event dropped", "topic", s.Topic, "err", err)
			return
		}
		ev.SourceTopic = ev.Topic
		if len(ev.Data) == 0 && ev.DataBase64 != "" {
			b, err := base64.StdEncoding.DecodeString(ev.DataBase64)
			if err != nil {
				log.Warn("undecodable event data dropped", "topic", s.Topic, "event_id", ev.ID, "err", err)
				return
			}
			ev.Data = b
		}
		ev.Topic = s.Topic
		status = s.Handler(trace.With(r.Context(), ev.TraceParent), ev)
	})
}

// Decode unmarshals an event's data into v and checks its schema version.
// A false return means the message is poison and should be dropped.
func Decode(log *slog.Logger, ev Event, v any) bool {
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(ev.Data, &probe); err != nil {
		log.Warn("malformed event dropped", "topic", ev.Topic, "event_id", ev.ID, "err", err)
		return false
	}
	if probe.Version != contract.SchemaVersion {
		log.Warn("event with unknown schema version dropped", "topic", ev.Topic, "event_id", ev.ID, "version", probe.Version)
		return false
	}
	if err := json.Unmarshal(ev.Data, v); err != nil {
		log.Warn("malformed event dropped", "topic", ev.Topic, "event_id", ev.ID, "err", err)
		return false
	}
	return true
}

// Router serves a worker's routes: GET /healthz for probes, and the
// subscriptions, which admit only the sidecar when appToken is set (the
// sidecar sends it as dapr-api-token, from APP_API_TOKEN).
func Router(log *slog.Logger, appToken string, subs ...Subscription) http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }).Methods(http.MethodGet)
	r.Handle("/metrics", metrics.Handler()).Methods(http.MethodGet)
	subsRouter := mux.NewRouter()
	Register(subsRouter, log, subs...)
	var h http.Handler = subsRouter
	if appToken != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if subtle.ConstantTimeCompare([]byte(req.Header.Get("dapr-api-token")), []byte(appToken)) != 1 {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"type":"https://intellidox.dev/problems/unauthorized","title":"Unauthorized","status":401,"code":"unauthorized","detail":"Only the Dapr sidecar may call this route."}`)
				return
			}
			subsRouter.ServeHTTP(w, req)
		})
	}
	r.PathPrefix("/").Handler(h)
	return r
}
