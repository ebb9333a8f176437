// Command scanner scans files with one engine, chosen by SCANNER_ENGINE,
// beside its Dapr sidecar. Each engine runs under its own app-id, so each
// receives every file.extracted event through its own consumer group.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gorilla/mux"

	"github.com/intellidox/intellidox/internal/app"
	"github.com/intellidox/intellidox/internal/config"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/scan/clamav"
	"github.com/intellidox/intellidox/internal/sidecar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := app.Logger("scanner")
	if err := realMain(ctx, log); err != nil {
		log.Error("scanner failed", "err", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, log *slog.Logger) error {
	var env config.Env
	name := env.String("SCANNER_ENGINE", "clamav")
	timeout := env.Duration("SCAN_TIMEOUT", 5*time.Minute)
	var engine scan.Engine
	switch name {
	case "clamav":
		engine = clamav.NewEngine(env.String("CLAMD_ADDR", "127.0.0.1:3310"), env.String("CLAMAV_DB_DIR", ""), timeout)
	default:
		return fmt.Errorf("SCANNER_ENGINE %q: unknown engine", name)
	}
	if err := env.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log = log.With("engine", name)
	sc, err := sidecar.Dial("")
	if err != nil {
		return err
	}
	defer sc.Close()
	svc := scan.NewService(engine, sc, log, scan.Config{Timeout: timeout})
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	sidecar.Register(r, log, sidecar.Subscription{
		Topic: contract.TopicFileExtracted, Route: "/events/file-extracted", Handler: svc.OnExtracted,
	})
	return app.Serve(ctx, log, app.ListenAddr("8082"), r)
}
