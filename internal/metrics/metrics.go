// Package metrics defines IntelliDox's Prometheus metrics, served by every
// app on GET /metrics. Names are prefixed intellidox_.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds every metric of this process.
var Registry = prometheus.NewRegistry()

var (
	// RequestDuration is the api's request latency by route, method and status.
	RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "intellidox_http_request_duration_seconds",
		Help:    "Latency of API requests.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method", "code"})
	// EventsProcessed counts subscription deliveries by topic and outcome.
	EventsProcessed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "intellidox_events_processed_total",
		Help: "Events delivered by the sidecar, by topic and outcome (SUCCESS, RETRY, DROP).",
	}, []string{"topic", "outcome"})
	// ScanDuration is the time engines take, by engine and result.
	ScanDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "intellidox_scan_duration_seconds",
		Help:    "Time to scan one file, by engine and result.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"engine", "result"})
	// Verdicts counts final verdicts as they are decided.
	Verdicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "intellidox_verdicts_total",
		Help: "Verdicts decided, by verdict.",
	}, []string{"verdict"})
	// DeadLetters is the number of dead-lettered messages awaiting attention.
	DeadLetters = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "intellidox_deadletter_messages",
		Help: "Messages in the dead-letter store, not yet re-driven.",
	})
	// ReconcilerActions counts what the reconciler did, by action.
	ReconcilerActions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "intellidox_reconciler_actions_total",
		Help: "Files the reconciler re-drove or finished, by action.",
	}, []string{"action"})
)

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		RequestDuration, EventsProcessed, ScanDuration, Verdicts, DeadLetters, ReconcilerActions)
}

// Handler serves the registry.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}

// Instrument records RequestDuration for h under a fixed route label (never
// the raw path, which would explode cardinality).
func Instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		RequestDuration.WithLabelValues(route, r.Method, strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush on the real writer (SSE).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
