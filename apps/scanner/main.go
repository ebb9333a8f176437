// Command scanner scans files with one engine, chosen by SCANNER_ENGINE,
// beside its Dapr sidecar. Each engine runs under its own app-id, so each
// receives every file.extracted event through its own consumer group.
// docs/engines.md lists every engine's settings.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/intellidox/intellidox/internal/app"
	"github.com/intellidox/intellidox/internal/config"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/extract/views"
	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/scan/clamav"
	"github.com/intellidox/intellidox/internal/scan/reputation"
	"github.com/intellidox/intellidox/internal/scan/yara"
	"github.com/intellidox/intellidox/internal/seal"
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
	concurrency := env.Int("SCAN_CONCURRENCY", 4)
	checkEvery := env.Duration("SIGNATURE_CHECK_INTERVAL", 30*time.Second)
	log = log.With("engine", name)
	engine, closeEngine, err := newEngine(ctx, log, name, &env, timeout)
	if err != nil {
		return err
	}
	defer closeEngine()
	sc, err := sidecar.Dial("")
	if err != nil {
		return err
	}
	defer sc.Close()
	cfg := scan.Config{Timeout: timeout, Concurrency: concurrency}
	if name == "yara" || name == "reputation" {
		// The engines that open archives try the password lists events
		// carry; only they may read the key (the secret store's scopes).
		cfg.Keys = seal.NewKeyring(sc, env.String("SEAL_KEY_NAME", contract.ArchivePasswordsKey))
	}
	// Engines that judge the bytes alone start beside the extractor, on
	// file.uploaded, checking the claimed hash themselves.
	cfg.OnUpload = env.Bool("SCAN_ON_UPLOAD", scan.ReadsBytes(engine))
	if err := configErr(&env); err != nil {
		return err
	}
	if cfg.OnUpload && !scan.ReadsBytes(engine) {
		return fmt.Errorf("SCAN_ON_UPLOAD: the %s engine does not read every file's bytes, so it cannot check them; it needs file.extracted", name)
	}
	svc := scan.NewService(engine, sc, log, cfg)
	go scan.WatchSignatures(ctx, engine, sc, log, checkEvery)
	subs := []sidecar.Subscription{{Topic: contract.TopicFileExtracted, Route: "/events/file-extracted", Handler: svc.OnExtracted}}
	if cfg.OnUpload {
		subs = append(subs, sidecar.Subscription{Topic: contract.TopicFileUploaded, Route: "/events/file-uploaded", Handler: svc.OnUploaded})
	}
	r := sidecar.Router(log, os.Getenv("APP_API_TOKEN"), subs...)
	engineVersion, sigVersion, _ := engine.Versions(ctx)
	log.Info("starting", "engine_version", engineVersion, "signature_version", sigVersion,
		"scan_timeout", timeout.String(), "scan_concurrency", concurrency, "scan_on_upload", cfg.OnUpload)
	return app.Serve(ctx, log, app.ListenAddr("8082"), r)
}

// newEngine builds the engine named by SCANNER_ENGINE from its settings.
func newEngine(ctx context.Context, log *slog.Logger, name string, env *config.Env, timeout time.Duration) (scan.Engine, func(), error) {
	noop := func() {}
	switch name {
	case "clamav":
		e := clamav.New(clamav.Config{
			Addr:    env.String("CLAMD_ADDR", "127.0.0.1:3310"),
			DBDir:   env.String("CLAMAV_DB_DIR", ""),
			Timeout: timeout,
			MaxSize: env.Int64("CLAMAV_MAX_SIZE", clamav.MaxStream),
		})
		return e, noop, configErr(env)
	case "yara":
		cfg := yara.Config{
			RulesDir: env.String("YARA_RULES_DIR", "rules/yara"),
			Yara:     env.String("YARA_BIN", "yara"),
			Yarac:    env.String("YARAC_BIN", "yarac"),
			Helper:   env.String("YARA_HELPER", ""),
			MaxSize:  env.Int64("YARA_MAX_SIZE", 16<<30),
			Archive: archive.Limits{
				MaxArchiveDepth:     env.Int("YARA_MAX_ARCHIVE_DEPTH", 0),
				MaxArchiveEntries:   env.Int("YARA_MAX_ARCHIVE_ENTRIES", 0),
				MaxUncompressedSize: env.Int64("YARA_MAX_EXPANDED", 0),
			},
			Views: views.Limits{
				MaxViews:      env.Int("YARA_MAX_VIEWS", 0),
				MaxViewBytes:  env.Int64("YARA_MAX_VIEW_SIZE", 0),
				MaxTotalBytes: env.Int64("YARA_MAX_VIEWS_SIZE", 0),
				MinBlobBytes:  env.Int("YARA_MIN_BLOB_SIZE", 0),
				MaxTextBytes:  env.Int64("YARA_MAX_TEXT_SEARCH", 0),
			},
		}
		if err := configErr(env); err != nil {
			return nil, noop, err
		}
		e, err := yara.New(ctx, cfg)
		if err != nil {
			return nil, noop, err
		}
		return e, func() { _ = e.Close() }, nil
	case "reputation":
		cfg := reputation.Config{
			Paths: env.List("REPUTATION_LISTS", []string{"rules/reputation/known-bad.csv"}),
			Poll:  env.Duration("REPUTATION_POLL", 2*time.Second),
			Log:   log,
			Members: archive.Limits{
				MaxArchiveDepth:     env.Int("REPUTATION_MAX_ARCHIVE_DEPTH", 0),
				MaxArchiveEntries:   env.Int("REPUTATION_MAX_ARCHIVE_ENTRIES", 0),
				MaxUncompressedSize: env.Int64("REPUTATION_MAX_EXPANDED", 0),
			},
			MaxArchiveSize: env.Int64("REPUTATION_MAX_ARCHIVE_SIZE", 0),
		}
		if err := configErr(env); err != nil {
			return nil, noop, err
		}
		e, err := reputation.New(cfg)
		if err != nil {
			return nil, noop, err
		}
		watch, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); e.Watch(watch) }()
		return e, func() { stop(); <-done }, nil
	}
	return nil, noop, fmt.Errorf("SCANNER_ENGINE %q: unknown engine (clamav, yara or reputation)", name)
}

func configErr(env *config.Env) error {
	if err := env.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}
