// Command bench measures an IntelliDox stack.
//
// The whole suite (`make bench`) starts a private stack and writes
// docs/BENCHMARKS.md; it lives in suite_test.go behind the "bench" build
// tag. This command runs single measurements against a stack that is
// already running, such as the one `make run` starts:
//
//	bench latency -size 1MiB -n 20 [-rate 5]   confirm → verdict, from the event stream
//	bench api -rate 200 -d 10s [-dapr URL -token T]   POST /v1/files at a fixed rate
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/intellidox/intellidox/internal/config"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench latency|api [flags]   (make bench runs the whole suite)")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	api := fs.String("api", "http://127.0.0.1:8080", "api base URL")
	key := fs.String("key", os.Getenv("INTELLIDOX_API_KEY"), "API key (default $INTELLIDOX_API_KEY)")
	sizeFlag := fs.String("size", "1MiB", "latency: file size")
	n := fs.Int("n", 20, "latency: files")
	rate := fs.Float64("rate", 0, "latency: files per second (0: one at a time); api: requests per second")
	dur := fs.Duration("d", 10*time.Second, "api: duration")
	dapr := fs.String("dapr", "", "api: call through this sidecar instead, e.g. http://127.0.0.1:3500/v1.0/invoke/api/method")
	token := fs.String("token", os.Getenv("DAPR_API_TOKEN"), "api: the sidecar's dapr-api-token")
	_ = fs.Parse(os.Args[2:])
	if *key == "" {
		*key = "idx_local-development-key-not-for-production" // dapr.yaml's BOOTSTRAP_API_KEY
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	tgt := Target{API: *api, APIKey: *key}
	switch os.Args[1] {
	case "latency":
		size, err := config.ParseSize(*sizeFlag)
		if err != nil {
			fail(err)
		}
		c := tgt.Client()
		f := func(ctx context.Context, _ int) (time.Duration, error) {
			return confirmToVerdict(ctx, c, randomContent(int(size)))
		}
		var ds []time.Duration
		var errs []error
		if *rate > 0 {
			ds, errs = openLoop(ctx, *rate, *n, f)
		} else {
			for i := range *n {
				d, err := f(ctx, i)
				ds, errs = append(ds, d), append(errs, err)
			}
		}
		var ok []time.Duration
		for i, err := range errs {
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				continue
			}
			ok = append(ok, ds[i])
		}
		s := summarize(ok)
		fmt.Printf("confirm→verdict, %s files, n=%d: min %.1f ms  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms  (%d errors)\n",
			*sizeFlag, s.N, s.Min, s.P50, s.P90, s.P99, s.Max, len(errs)-len(ok))
	case "api":
		url := *api + "/v1/files"
		h := http.Header{"Authorization": {"Bearer " + *key}}
		if *dapr != "" {
			url = *dapr + "/v1/files"
			h.Set("dapr-api-token", *token)
		}
		if *rate <= 0 {
			*rate = 100
		}
		s, achieved, failed := fixedRate(ctx, url, h, *rate, *dur)
		fmt.Printf("POST %s at %.0f/s: achieved %.1f/s, p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms, %d failed\n",
			url, *rate, achieved, s.P50, s.P90, s.P99, s.Max, failed)
	default:
		fail(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(2)
}
