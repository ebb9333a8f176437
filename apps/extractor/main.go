// Command extractor verifies uploaded objects and extracts their metadata,
// beside its Dapr sidecar.
package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gorilla/mux"

	"github.com/intellidox/intellidox/internal/app"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extractor"
	"github.com/intellidox/intellidox/internal/sidecar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := app.Logger("extractor")
	sc, err := sidecar.Dial("")
	if err != nil {
		log.Error("extractor failed", "err", err)
		os.Exit(1)
	}
	defer sc.Close()
	svc := extractor.NewService(sc, log)
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	sidecar.Register(r, log, sidecar.Subscription{
		Topic: contract.TopicFileUploaded, Route: "/events/file-uploaded", Handler: svc.OnUploaded,
	})
	if err := app.Serve(ctx, log, app.ListenAddr("8081"), r); err != nil {
		log.Error("extractor failed", "err", err)
		os.Exit(1)
	}
}
