// Command launcher runs the apps of dapr.yaml, each beside its own daprd,
// for machines without the Dapr CLI. Ctrl-C stops every process it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/intellidox/intellidox/internal/launch"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		os.Exit(1)
	}
}

func run() error {
	file := flag.String("f", "dapr.yaml", "Multi-App Run file")
	resources := flag.String("resources", "", "comma-separated resources paths replacing the run file's (e.g. components/aws)")
	logLevel := flag.String("dapr-log-level", "", "daprd log level for every app (default: the run file's logLevel)")
	tokens := flag.Bool("token-auth", true, "fresh Dapr API tokens between each app and its sidecar")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rf, err := launch.Load(*file)
	if err != nil {
		return err
	}
	var paths []string
	for _, p := range strings.Split(*resources, ",") {
		if p != "" {
			abs, err := filepath.Abs(p)
			if err != nil {
				return err
			}
			paths = append(paths, abs)
		}
	}
	for i := range rf.Apps {
		if len(paths) > 0 {
			rf.Apps[i].ResourcesPaths = paths
		}
		if *logLevel != "" {
			rf.Apps[i].LogLevel = *logLevel
		}
	}
	stack, err := launch.Start(ctx, rf, launch.Options{TokenAuth: *tokens})
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("IntelliDox is running. Ctrl-C stops it.")
	for _, a := range rf.Apps {
		fmt.Printf("  %-20s app http://127.0.0.1:%d   sidecar http://127.0.0.1:%d   logs %s\n", a.AppID, a.AppPort, a.DaprHTTPPort, a.LogsDir())
	}
	if api := rf.App("api"); api != nil {
		fmt.Printf("\n  API:            http://127.0.0.1:%d/v1/files\n", api.AppPort)
		fmt.Printf("  Through Dapr:   http://127.0.0.1:%d/v1.0/invoke/api/method/v1/files", api.DaprHTTPPort)
		if t := stack.Tokens("api").Dapr; t != "" {
			fmt.Printf("  (header dapr-api-token: %s)", t)
		}
		fmt.Println()
		// The run file's env wins over the launcher's own, as in the CLI.
		if v, ok := api.Env["BOOTSTRAP_API_KEY"]; ok {
			fmt.Printf("  API key:        %s   (local development key from dapr.yaml; send as Authorization: Bearer)\n", v)
		} else if key := os.Getenv("BOOTSTRAP_API_KEY"); key != "" {
			fmt.Printf("  API key:        %s   (local development key; send as Authorization: Bearer)\n", key)
		}
		fmt.Println()
	}
	<-ctx.Done()
	fmt.Println("\nstopping…")
	stack.Stop()
	return nil
}
