// Package app holds the start-up and shutdown plumbing every IntelliDox
// service shares: JSON logs and an HTTP server with timeouts.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/intellidox/intellidox/internal/trace"
)

// Logger returns a JSON logger tagged with the service name, adding trace_id
// to records logged with a traced context. LOG_LEVEL (debug, info, warn,
// error) sets the level.
func Logger(service string) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(os.Getenv("LOG_LEVEL")))
	h := trace.LogHandler{Handler: slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})}
	return slog.New(h).With("service", service)
}

// ListenAddr is where the app serves the sidecar and clients:
// LISTEN_HOST (default 127.0.0.1) and APP_PORT, which the Dapr CLI sets too.
func ListenAddr(defPort string) string {
	host, port := os.Getenv("LISTEN_HOST"), os.Getenv("APP_PORT")
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = defPort
	}
	return net.JoinHostPort(host, port)
}

// Serve runs h on addr until ctx ends, then drains in-flight requests.
// Long-lived responses (event streams) end as the drain begins, when
// Stopping of their request's context is closed: their clients resume on
// another replica, and a rolling update does not wait out the drain's
// deadline for them.
// With CPU_PROFILE_DIR set, the process's CPU profile while serving is
// written there as <app-id>-<pid>.pprof when it stops (for `go tool pprof`;
// make bench's BENCH_PROFILE uses it).
func Serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler) error {
	if dir := os.Getenv("CPU_PROFILE_DIR"); dir != "" {
		stop, err := profileCPU(dir)
		if err != nil {
			return err
		}
		defer stop(log)
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	stopping := make(chan struct{})
	srv.BaseContext = func(net.Listener) context.Context {
		return context.WithValue(context.Background(), stoppingKey{}, (<-chan struct{})(stopping))
	}
	srv.RegisterOnShutdown(func() { close(stopping) })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

type stoppingKey struct{}

// Stopping returns a channel that is closed when the server serving the
// request of ctx begins to shut down (nil, never closed, outside Serve).
func Stopping(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	return c
}

// profileCPU starts the CPU profile written to dir when stop is called.
func profileCPU(dir string) (stop func(*slog.Logger), err error) {
	name := os.Getenv("APP_ID")
	if name == "" {
		name = filepath.Base(os.Args[0])
	}
	path := filepath.Join(dir, name+"-"+strconv.Itoa(os.Getpid())+".pprof")
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("CPU_PROFILE_DIR: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("CPU_PROFILE_DIR: %w", err)
	}
	return func(log *slog.Logger) {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			log.Warn("CPU profile not written", "path", path, "err", err)
			return
		}
		log.Info("CPU profile written", "path", path)
	}, nil
}
