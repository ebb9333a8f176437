package scan

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/sidecar"
)

// versionState is what WatchSignatures remembers in the state store, so that
// a change made while the scanner was down is noticed at start.
type versionState struct {
	EngineVersion    string `json:"engineVersion"`
	SignatureVersion string `json:"signatureVersion"`
}

// VersionKey is the state key of an engine's last announced versions.
func VersionKey(engine string) string { return "engine/" + engine + "/versions" }

// WatchSignatures checks the engine's signature version every interval and
// publishes engine.updated when it changes, until ctx ends. Replicas of one
// engine may announce the same change; the api's rescans are idempotent.
func WatchSignatures(ctx context.Context, engine Engine, dapr sidecarAPI, log *slog.Logger, interval time.Duration) {
	var last versionState
	// The last announced version is read before anything is compared, and
	// read again on every tick until the sidecar answers: a scanner starts
	// before its sidecar, and comparing against "nothing" would record a
	// change made while it was down without announcing it.
	loaded := false
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if !loaded {
			switch err := dapr.GetState(ctx, VersionKey(engine.Name()), &last); {
			case err == nil, errors.Is(err, sidecar.ErrNotFound):
				loaded = true
			default:
				log.WarnContext(ctx, "cannot read last signature version; will retry", "err", err)
			}
		}
		ev, sig, err := engine.Versions(ctx)
		switch {
		case !loaded:
		case err != nil:
			log.WarnContext(ctx, "cannot read engine versions", "err", err)
		case sig != last.SignatureVersion:
			if err := announce(ctx, dapr, engine.Name(), ev, sig, last.SignatureVersion); err != nil {
				log.WarnContext(ctx, "cannot announce new signatures; will retry", "err", err)
				break
			}
			if last.SignatureVersion != "" {
				log.InfoContext(ctx, "signatures changed", "signature_version", sig, "previous", last.SignatureVersion)
			}
			last = versionState{EngineVersion: ev, SignatureVersion: sig}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func announce(ctx context.Context, dapr sidecarAPI, engine, ev, sig, previous string) error {
	if previous != "" {
		if err := dapr.Publish(ctx, contract.TopicEngineUpdated, contract.EngineUpdated{
			Version: contract.SchemaVersion, Engine: engine, EngineVersion: ev, SignatureVersion: sig, Previous: previous,
		}); err != nil {
			return err
		}
	}
	return dapr.SaveState(ctx, VersionKey(engine), versionState{EngineVersion: ev, SignatureVersion: sig})
}
