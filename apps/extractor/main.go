// Command extractor verifies uploaded objects and extracts their metadata,
// beside its Dapr sidecar.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/intellidox/intellidox/internal/app"
	"github.com/intellidox/intellidox/internal/config"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract"
	"github.com/intellidox/intellidox/internal/extract/views"
	"github.com/intellidox/intellidox/internal/extractor"
	"github.com/intellidox/intellidox/internal/seal"
	"github.com/intellidox/intellidox/internal/sidecar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := app.Logger("extractor")
	if err := realMain(ctx, log); err != nil {
		log.Error("extractor failed", "err", err)
		os.Exit(1)
	}
}

// limits reads the safe limits; zero values take extract's defaults
// (docs/metadata.md).
func limits(e *config.Env) extract.Limits {
	var l extract.Limits
	l.MaxFileSize = e.Int64("EXTRACT_MAX_FILE_SIZE", 0)
	l.MaxDuration = e.Duration("EXTRACT_MAX_DURATION", 0)
	l.MaxArchiveDepth = e.Int("ARCHIVE_MAX_DEPTH", 0)
	l.MaxArchiveEntries = e.Int("ARCHIVE_MAX_ENTRIES", 0)
	l.MaxUncompressedSize = e.Int64("ARCHIVE_MAX_UNCOMPRESSED_SIZE", 0)
	l.MaxCompressionRatio = float64(e.Int("ARCHIVE_MAX_COMPRESSION_RATIO", 0))
	l.MaxNestedArchiveSize = e.Int64("ARCHIVE_MAX_NESTED_SIZE", 0)
	return l.WithDefaults()
}

func realMain(ctx context.Context, log *slog.Logger) error {
	var env config.Env
	lim := limits(&env)
	if err := env.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	sc, err := sidecar.Dial("")
	if err != nil {
		return err
	}
	defer sc.Close()
	keys := seal.NewKeyring(sc, env.String("SEAL_KEY_NAME", contract.ArchivePasswordsKey))
	vs := extractor.Views{On: env.Bool("EXTRACT_VIEWS", false), Limits: views.Limits{
		MaxViews:      env.Int("VIEWS_MAX", 0),
		MaxViewBytes:  env.Int64("VIEWS_MAX_SIZE", 0),
		MaxTotalBytes: env.Int64("VIEWS_MAX_TOTAL", 0),
		MinBlobBytes:  env.Int("VIEWS_MIN_BLOB_SIZE", 0),
		MaxTextBytes:  env.Int64("VIEWS_MAX_TEXT_SEARCH", 0),
	}}
	if err := env.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	svc := extractor.NewService(sc, keys, log, lim, vs)
	r := sidecar.Router(log, os.Getenv("APP_API_TOKEN"), sidecar.Subscription{
		Topic: contract.TopicFileUploaded, Route: "/events/file-uploaded", Handler: svc.OnUploaded,
	})
	log.Info("starting", "limits", fmt.Sprintf("%+v", lim), "views", vs.On)
	return app.Serve(ctx, log, app.ListenAddr("8081"), r)
}
