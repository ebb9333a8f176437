// Command broken is the project's scanner app (scan.Service beside its
// sidecar, as apps/scanner wires it) with a small marker engine and one
// deliberate fault, chosen by BROKEN. The conformance suite must pass the
// unbroken form and fail every broken one (TestSuiteCatchesBrokenScanners):
//
//	none            the control: nothing broken
//	wrong-schema    scan.completed lacks the result's signatureVersion
//	no-idempotency  never reads the stored result, so a redelivery scans again
//	silent-skip     content above the size limit is called clean unread
//	lost-message    an event the engine could not scan is acknowledged
//	on-upload       the control for scanning on file.uploaded: nothing broken
//	unchecked-claim scans on file.uploaded, taking the claimed hash as verified
//
// It lives in testdata: no build of ./... includes it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/intellidox/intellidox/internal/app"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/sidecar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := app.Logger("scanner-broken")
	if err := realMain(ctx, log); err != nil {
		log.Error("scanner failed", "err", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, log *slog.Logger) error {
	mode := os.Getenv("BROKEN")
	maxSize, _ := strconv.ParseInt(os.Getenv("MAX_SIZE"), 10, 64)
	eng := &marker{max: maxSize, down: os.Getenv("ENGINE_DOWN") != "", silentSkip: mode == "silent-skip"}
	sc, err := sidecar.Dial("")
	if err != nil {
		return err
	}
	defer sc.Close()
	dapr := &faulty{Client: sc, mode: mode}
	onUpload := mode == "on-upload" || mode == "unchecked-claim"
	svc := scan.NewService(eng, dapr, log, scan.Config{Timeout: time.Minute, OnUpload: onUpload})
	handler := svc.OnExtracted
	if mode == "lost-message" {
		handler = func(ctx context.Context, ev sidecar.Event) sidecar.Status {
			if st := svc.OnExtracted(ctx, ev); st != sidecar.Retry {
				return st
			}
			return sidecar.Success // the fault: a failed scan is acknowledged, and the event is gone
		}
	}
	subs := []sidecar.Subscription{{Topic: contract.TopicFileExtracted, Route: "/events/file-extracted", Handler: handler}}
	if onUpload {
		uploaded := svc.OnUploaded
		if mode == "unchecked-claim" {
			uploaded = func(ctx context.Context, ev sidecar.Event) sidecar.Status {
				// The fault: the claim is handled as if the extractor had
				// verified it (a rescan is scanned without a check).
				var u contract.FileUploaded
				if json.Unmarshal(ev.Data, &u) != nil {
					return sidecar.Drop
				}
				ev.Data, _ = json.Marshal(contract.FileExtracted{Version: u.Version, FileID: u.FileID, SHA256: u.SHA256,
					Size: u.Size, ObjectKey: u.ObjectKey, Rescan: true})
				return svc.OnExtracted(ctx, ev)
			}
		}
		subs = append(subs, sidecar.Subscription{Topic: contract.TopicFileUploaded, Route: "/events/file-uploaded", Handler: uploaded})
	}
	r := sidecar.Router(log, os.Getenv("APP_API_TOKEN"), subs...)
	log.Info("starting", "broken", mode)
	return app.Serve(ctx, log, app.ListenAddr("8082"), r)
}

// faulty is the sidecar client with the mode's fault.
type faulty struct {
	*sidecar.Client
	mode string
}

func (f *faulty) GetState(ctx context.Context, key string, v any) error {
	if f.mode == "no-idempotency" {
		return sidecar.ErrNotFound
	}
	return f.Client.GetState(ctx, key, v)
}

func (f *faulty) Publish(ctx context.Context, topic string, v any) error {
	if f.mode == "wrong-schema" && topic == contract.TopicScanCompleted {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		delete(m["result"].(map[string]any), "signatureVersion")
		v = m
	}
	return f.Client.Publish(ctx, topic, v)
}

// marker flags content holding samples.Marker.
type marker struct {
	max        int64
	down       bool
	silentSkip bool
}

func (m *marker) Name() string { return "broken-marker" }

func (m *marker) Versions(context.Context) (string, string, error) {
	return "broken/1", "marker-1", nil
}

func (m *marker) Scan(_ context.Context, r io.Reader, f scan.File) (scan.Finding, error) {
	if m.down {
		return scan.Finding{}, fmt.Errorf("%w: the engine is down (ENGINE_DOWN)", scan.ErrUnavailable)
	}
	if m.max > 0 && f.Size > m.max {
		if m.silentSkip {
			return scan.Finding{Outcome: contract.Clean, Threats: []string{}}, nil // the fault: never read, called clean
		}
		return scan.Skip(scan.ReasonTooLarge, fmt.Sprintf("%d bytes exceeds this engine's limit of %d bytes", f.Size, m.max)), nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return scan.Finding{}, err
	}
	if bytes.Contains(b, []byte(samples.Marker)) {
		return scan.Finding{Outcome: contract.Malicious, Threats: []string{"Broken.Marker"}}, nil
	}
	return scan.Finding{Outcome: contract.Clean, Threats: []string{}}, nil
}
