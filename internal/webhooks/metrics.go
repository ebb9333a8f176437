package webhooks

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/intellidox/intellidox/internal/metrics"
)

var (
	attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "intellidox_webhook_attempts_total",
		Help: "Webhook delivery attempts, by outcome (delivered, retry, failed).",
	}, []string{"outcome"})
	attemptSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "intellidox_webhook_attempt_duration_seconds",
		Help:    "Time one webhook attempt took, request to answer (or timeout).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	deliverySeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "intellidox_webhook_delivery_seconds",
		Help:    "Time from an event's queuing (or redrive) to its accepted delivery, retries included.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 300, 3600, 36000, 100000},
	})
)

func init() {
	metrics.Registry.MustRegister(attempts, attemptSeconds, deliverySeconds)
}

func attemptOutcome(o Outcome) string {
	if o.Status == StatusPending {
		return "retry"
	}
	return o.Status
}
