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
func Serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler) error {
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
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
