package webhooks

import "time"

// Payload is the JSON body of every webhook (docs/schemas/webhook.*.schema.json).
type Payload struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      PayloadData `json:"data"`
}

// PayloadData is what happened to the file. Deliveries may arrive in any
// order: scannedAt and version tell which verdict is the latest.
type PayloadData struct {
	FileID          string    `json:"fileId"`
	SHA256          string    `json:"sha256"`
	Status          string    `json:"status"`
	Verdict         string    `json:"verdict"`
	PreviousVerdict string    `json:"previousVerdict,omitempty"`
	ScannedAt       time.Time `json:"scannedAt"`
	Version         int64     `json:"version"`
	Signatures      []string  `json:"signatures"`
}

// NewPayload is the body sent for ev, created at now.
func NewPayload(ev Event, now time.Time) Payload {
	sigs := ev.Signatures
	if sigs == nil {
		sigs = []string{}
	}
	now = now.UTC().Truncate(time.Millisecond)
	scanned := ev.ScannedAt.UTC()
	if scanned.IsZero() { // a rejected upload was never scanned: the time it was decided
		scanned = now
	}
	d := PayloadData{FileID: ev.FileID, SHA256: ev.SHA256, Status: ev.Status, Verdict: ev.Verdict,
		ScannedAt: scanned, Version: ev.Version, Signatures: sigs}
	if ev.Type == EventVerdictChanged {
		d.PreviousVerdict = ev.Previous
	}
	return Payload{Type: ev.Type, Timestamp: now, Data: d}
}
