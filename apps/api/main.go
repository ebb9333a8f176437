// Command api serves the IntelliDox REST API beside its Dapr sidecar.
//
//	api                                  serve (migrations run at start)
//	api migrate                          apply migrations and exit (a Kubernetes Job)
//	api keys create --tenant T [--name N] [--admin]
//	api keys list
//	api keys revoke ID
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intellidox/intellidox/internal/api"
	"github.com/intellidox/intellidox/internal/app"
	"github.com/intellidox/intellidox/internal/auth"
	"github.com/intellidox/intellidox/internal/config"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/live"
	"github.com/intellidox/intellidox/internal/objstore"
	"github.com/intellidox/intellidox/internal/pgstore"
	"github.com/intellidox/intellidox/internal/protect"
	"github.com/intellidox/intellidox/internal/seal"
	"github.com/intellidox/intellidox/internal/sidecar"
	"github.com/intellidox/intellidox/internal/verdict"
	"github.com/intellidox/intellidox/internal/webhooks"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := app.Logger("api")
	var err error
	switch {
	case len(os.Args) > 1 && (os.Args[1] == "migrate" || os.Args[1] == "-migrate-only"):
		err = migrateOnly(ctx, log)
	case len(os.Args) > 1 && os.Args[1] == "keys":
		os.Exit(keys(ctx, os.Args[2:], os.Stdout, os.Stderr))
	case len(os.Args) > 1:
		fmt.Fprintf(os.Stderr, "api: unknown command %q (serve by default; or migrate, keys)\n", os.Args[1])
		os.Exit(2)
	default:
		err = realMain(ctx, log)
	}
	if err != nil {
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
	oidc        *auth.OIDC
	rateLimit   float64
	rateBurst   int
	failRate    float64
	failBurst   int
	trusted     []netip.Prefix
	bootstrap   string // an API key to ensure at start (local runs and tests)
	bootTenant  string
	appToken    string
	passwordKey string // the secret holding the archive password key
	stuckAfter  time.Duration
	maxRedrives int
	actions     files.ActionConfig
	hooks       webhookSettings
	protect     protect.Config
}

// webhookSettings configure webhook delivery (docs/webhooks.md).
type webhookSettings struct {
	enabled  bool
	allow    []netip.Prefix
	max      int
	dispatch webhooks.DispatchConfig
}

func load() (settings, error) {
	var e config.Env
	s := settings{
		addr:        app.ListenAddr("8080"),
		databaseURL: databaseURL(&e),
		daprHTTP:    "http://127.0.0.1:" + e.String("DAPR_HTTP_PORT", "3500"),
		s3: objstore.Config{
			Bucket:    e.String("S3_BUCKET", "intellidox"),
			Region:    e.String("AWS_REGION", "us-east-1"),
			Endpoint:  e.String("S3_ENDPOINT", ""),
			PathStyle: e.Bool("S3_PATH_STYLE", false),
		},
		files: files.Config{
			MaxSize:            e.Int64("MAX_FILE_SIZE", 100<<30),
			MultipartThreshold: e.Int64("MULTIPART_THRESHOLD", files.DefaultMultipartThreshold),
			MultipartTTL:       e.Duration("MULTIPART_TTL", files.DefaultMultipartTTL),
			PresignTTL:         e.Duration("PRESIGN_TTL", 15*time.Minute),
			RescanLookback:     e.Duration("RESCAN_LOOKBACK", 30*24*time.Hour),
		},
		policy:      verdict.Policy{Engines: e.List("ENGINES", []string{"clamav"})},
		webDir:      e.String("WEB_DIR", ""),
		sseResync:   e.Duration("SSE_RESYNC_INTERVAL", 2*time.Second),
		rateLimit:   float64(e.Int("RATE_LIMIT_RPS", 100)),
		rateBurst:   e.Int("RATE_LIMIT_BURST", 200),
		failRate:    float64(e.Int("AUTH_FAILURES_PER_MINUTE", 60)) / 60,
		failBurst:   e.Int("AUTH_FAILURE_BURST", 20),
		bootstrap:   e.String("BOOTSTRAP_API_KEY", ""),
		bootTenant:  e.String("BOOTSTRAP_TENANT", "default"),
		appToken:    e.String("APP_API_TOKEN", ""),
		passwordKey: e.String("SEAL_KEY_NAME", contract.ArchivePasswordsKey),
		stuckAfter:  e.Duration("RECONCILE_STUCK_AFTER", 2*time.Minute),
		maxRedrives: e.Int("RECONCILE_MAX_REDRIVES", 5),
		actions: files.ActionConfig{
			DownloadTTL: e.Duration("DOWNLOAD_URL_TTL", files.DefaultDownloadTTL),
			Quarantine:  e.String("QUARANTINE_PREFIX", ""),
		},
	}
	if iss := e.String("OIDC_ISSUER", ""); iss != "" {
		s.oidc = &auth.OIDC{Issuer: iss, Audience: e.String("OIDC_AUDIENCE", "intellidox"),
			TenantClaim: e.String("OIDC_TENANT_CLAIM", "tenant"), AdminClaim: e.String("OIDC_ADMIN_CLAIM", "")}
	}
	if s.files.PresignTTL > time.Hour {
		e.Fail(fmt.Errorf("PRESIGN_TTL %s: at most 1h, upload URLs must be short-lived", s.files.PresignTTL))
	}
	if s.actions.DownloadTTL > time.Hour {
		e.Fail(fmt.Errorf("DOWNLOAD_URL_TTL %s: at most 1h, download URLs must be short-lived", s.actions.DownloadTTL))
	}
	if q := s.actions.Quarantine; q != "" && (!strings.HasSuffix(q, "/") || strings.HasPrefix(q, "blobs/") || strings.HasPrefix(q, "/")) {
		e.Fail(fmt.Errorf("QUARANTINE_PREFIX %q: a key prefix ending in / outside blobs/, such as quarantine/", q))
	}
	var err error
	if s.trusted, err = auth.ParsePrefixes(e.String("TRUSTED_PROXIES", "")); err != nil {
		e.Fail(fmt.Errorf("TRUSTED_PROXIES: %w", err))
	}
	s.hooks = loadWebhooks(&e)
	s.protect = protect.Config{
		Workers:  e.Int("DISCOVERY_WORKERS", 4),
		Lease:    e.Duration("DISCOVERY_LEASE", time.Minute),
		MaxSize:  s.files.MaxSize,
		PageSize: e.Int("SWEEP_PAGE_SIZE", 1000),
	}
	if s.protect.Rules, err = protect.ParseRules(e.String("PROTECTED_BUCKETS", ""), s.s3.Bucket); err != nil {
		e.Fail(fmt.Errorf("PROTECTED_BUCKETS: %w", err))
	}
	if s.policy.OnError, err = verdict.ParseTreatment(e.String("VERDICT_ON_ERROR", "")); err != nil {
		e.Fail(err)
	}
	if s.policy.OnSkip, err = verdict.ParseTreatment(e.String("VERDICT_ON_SKIP", "")); err != nil {
		e.Fail(err)
	}
	return s, e.Err()
}

func loadWebhooks(e *config.Env) webhookSettings {
	w := webhookSettings{
		enabled: e.Bool("WEBHOOKS_ENABLED", true),
		max:     e.Int("WEBHOOK_MAX_SUBSCRIPTIONS", webhooks.DefaultMaxSubscriptions),
		dispatch: webhooks.DispatchConfig{
			Workers:         e.Int("WEBHOOK_WORKERS", 64),
			PerSubscription: e.Int("WEBHOOK_PER_SUBSCRIPTION", 2),
			Timeout:         e.Duration("WEBHOOK_TIMEOUT", 10*time.Second),
			Poll:            e.Duration("WEBHOOK_POLL_INTERVAL", time.Second),
		},
	}
	var err error
	if w.allow, err = auth.ParsePrefixes(e.String("WEBHOOK_ALLOW_NETS", "")); err != nil {
		e.Fail(fmt.Errorf("WEBHOOK_ALLOW_NETS: %w", err))
	}
	if v := e.String("WEBHOOK_RETRY_SCHEDULE", ""); v != "" {
		if w.dispatch.Schedule, err = webhooks.ParseSchedule(v); err != nil {
			e.Fail(fmt.Errorf("WEBHOOK_RETRY_SCHEDULE: %w", err))
		}
	}
	return w
}

func databaseURL(e *config.Env) string {
	return e.String("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/intellidox?sslmode=disable")
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
	if cfg.bootstrap != "" {
		if err := store.EnsureKey(ctx, cfg.bootTenant, "bootstrap", cfg.bootstrap, true); err != nil {
			return fmt.Errorf("bootstrap key: %w", err)
		}
	}
	outbox := pgstore.NewOutbox(pool, sc, log)
	// Streams held by this replica learn of a finished file from the
	// outbox directly; the live subscription serves every other replica's.
	hub := live.NewHub()
	outbox.Local = hub.Relayed
	go outbox.Run(ctx, 2*time.Second, 5*time.Second)

	authenticators := []auth.Authenticator{&auth.APIKeys{Store: store, CacheTTL: 10 * time.Second, MissTTL: time.Minute}}
	if cfg.oidc != nil {
		authenticators = append(authenticators, cfg.oidc)
	}
	// objects presigns uploads and checks they arrived (HEAD), presigns
	// downloads and writes verdict tags, all with aws-sdk-go-v2: the one
	// place the api touches storage without Dapr (docs/architecture.md).
	// Archive password lists are sealed with a key read through the
	// sidecar's secret store, on first use.
	keyring := seal.NewKeyring(sc, cfg.passwordKey)
	cfg.files.Sealer = keyring
	cfg.files.Multipart = objects
	svc := files.NewService(store, objects, objects, outbox, cfg.policy, cfg.files)
	var hooks *webhooks.Service
	var notifier files.Notifier
	if cfg.hooks.enabled {
		// Deliveries leave from every replica; claims in PostgreSQL keep
		// them from sending one twice.
		guard := &webhooks.Guard{Allow: cfg.hooks.allow}
		dispatcher := webhooks.NewDispatcher(store, guard, log, cfg.hooks.dispatch)
		go dispatcher.Run(ctx)
		hooks = webhooks.NewService(store, guard, cfg.hooks.max, dispatcher.Wake)
		notifier = api.WebhookNotifier(hooks)
	}
	actions := files.NewActions(store, objects, notifier, cfg.actions)
	health := api.SidecarHealth{URL: cfg.daprHTTP + "/v1.0/healthz/outbound", Client: &http.Client{}}
	recon := &files.Reconciler{Store: store, Relay: outbox, StuckAfter: cfg.stuckAfter, MaxRedrives: cfg.maxRedrives,
		Decider: cfg.policy, Batch: 200}
	opts := api.Options{DB: store, Sidecar: health, WebDir: cfg.webDir, SSEResync: cfg.sseResync,
		Auth: authenticators, Limiter: auth.NewLimiter(cfg.rateLimit, cfg.rateBurst),
		Failures: auth.NewFailureLimiter(cfg.failRate, cfg.failBurst, cfg.trusted), AppToken: cfg.appToken,
		DeadLetters: store, Reconciler: recon, Hub: hub, Actions: actions, Passwords: files.NewPasswords(store, keyring)}
	if hooks != nil {
		opts.Webhooks = hooks
	}
	// Objects written straight into protected buckets (storage events on
	// the storage pub/sub) and sweeps of what is there: listed, read and
	// copied with aws-sdk-go-v2 like uploads, queued in PostgreSQL so that
	// every replica works the queue. Without rules there is nothing to do.
	opts.Protect = protect.New(store, objects, svc, cfg.protect, log)
	if len(cfg.protect.Rules) > 0 {
		go opts.Protect.Run(ctx)
	}
	srv := api.New(svc, log, opts)
	log.Info("starting", "engines", cfg.policy.Engines, "max_file_size", cfg.files.MaxSize,
		"oidc", cfg.oidc != nil, "protected_buckets", len(cfg.protect.Rules), "rate_limit_rps", cfg.rateLimit, "auth_failures_per_minute", cfg.failRate*60, "app_token", cfg.appToken != "", "webhooks", cfg.hooks.enabled)
	return app.Serve(ctx, log, cfg.addr, srv.Routes())
}

func migrateOnly(ctx context.Context, log *slog.Logger) error {
	var e config.Env
	pool, err := pgxpool.New(ctx, databaseURL(&e))
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := migrateWhenReachable(ctx, log, pool); err != nil {
		return err
	}
	log.Info("migrations applied")
	return nil
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
