// Command api serves the IntelliDox REST API beside its Dapr sidecar.
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

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intellidox/intellidox/internal/api"
	"github.com/intellidox/intellidox/internal/app"
	"github.com/intellidox/intellidox/internal/config"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/objstore"
	"github.com/intellidox/intellidox/internal/pgstore"
	"github.com/intellidox/intellidox/internal/sidecar"
	"github.com/intellidox/intellidox/internal/verdict"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := app.Logger("api")
	if err := realMain(ctx, log); err != nil {
		log.Error("api failed", "err", err)
		os.Exit(1)
	}
}

type settings struct {
	addr        string
	databaseURL string
	daprHTTP    string
	s3          objstore.Config
	files       files.Config
	policy      verdict.Policy
	webDir      string
	sseResync   time.Duration
}

func load() (settings, error) {
	var e config.Env
	s := settings{
		addr:        app.ListenAddr("8080"),
		databaseURL: e.String("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/intellidox?sslmode=disable"),
		daprHTTP:    "http://127.0.0.1:" + e.String("DAPR_HTTP_PORT", "3500"),
		s3: objstore.Config{
			Bucket:    e.String("S3_BUCKET", "intellidox"),
			Region:    e.String("AWS_REGION", "us-east-1"),
			Endpoint:  e.String("S3_ENDPOINT", ""),
			PathStyle: e.Bool("S3_PATH_STYLE", false),
		},
		files: files.Config{
			MaxSize:        e.Int64("MAX_FILE_SIZE", 2<<30),
			PresignTTL:     e.Duration("PRESIGN_TTL", 15*time.Minute),
			RescanLookback: e.Duration("RESCAN_LOOKBACK", 30*24*time.Hour),
		},
		policy:    verdict.Policy{Engines: e.List("ENGINES", []string{"clamav"})},
		webDir:    e.String("WEB_DIR", ""),
		sseResync: e.Duration("SSE_RESYNC_INTERVAL", 2*time.Second),
	}
	var err error
	if s.policy.OnError, err = verdict.ParseTreatment(e.String("VERDICT_ON_ERROR", "")); err != nil {
		e.Fail(err)
	}
	if s.policy.OnSkip, err = verdict.ParseTreatment(e.String("VERDICT_ON_SKIP", "")); err != nil {
		e.Fail(err)
	}
	return s, e.Err()
}

func realMain(ctx context.Context, log *slog.Logger) error {
	cfg, err := load()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	pool, err := pgxpool.New(ctx, cfg.databaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := migrateWhenReachable(ctx, log, pool); err != nil {
		return err
	}
	sc, err := sidecar.Dial("")
	if err != nil {
		return err
	}
	defer sc.Close()
	objects, err := objstore.New(ctx, cfg.s3)
	if err != nil {
		return err
	}
	store := pgstore.New(pool)
	outbox := pgstore.NewOutbox(pool, sc, log)
	go outbox.Run(ctx, 2*time.Second, 5*time.Second)

	svc := files.NewService(store, objects, sc, outbox, cfg.policy, cfg.files)
	health := api.SidecarHealth{URL: cfg.daprHTTP + "/v1.0/healthz/outbound", Client: &http.Client{}}
	srv := api.New(svc, log, api.Options{DB: store, Sidecar: health, WebDir: cfg.webDir, SSEResync: cfg.sseResync})
	log.Info("starting", "engines", cfg.policy.Engines, "max_file_size", cfg.files.MaxSize)
	return app.Serve(ctx, log, cfg.addr, srv.Routes())
}

// migrateWhenReachable applies migrations, waiting up to a minute for the
// database so that the api and PostgreSQL may start in any order.
func migrateWhenReachable(ctx context.Context, log *slog.Logger, pool *pgxpool.Pool) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := pgstore.Migrate(ctx, pool)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		log.Warn("database not ready; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
