// Command intellidox is the IntelliDox command-line client:
//
//	intellidox scan FILE...        upload, scan, report; exit 1 if malicious or suspicious
//	intellidox status ID
//	intellidox rescan ID
//	intellidox get --sha256 HASH
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/intellidox/intellidox/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr))
	stop()
	os.Exit(code)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
