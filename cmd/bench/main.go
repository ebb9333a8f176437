// Command bench measures a running IntelliDox stack.
//
//	bench latency -api URL -size 1MiB -n 20
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/config"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench latency [-api URL] [-size N] [-n N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	api := fs.String("api", "http://127.0.0.1:8080", "api base URL")
	sizeFlag := fs.String("size", "1MiB", "file size")
	n := fs.Int("n", 20, "files")
	_ = fs.Parse(os.Args[2:])
	size, err := config.ParseSize(*sizeFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c := client.New(*api)
	c.HTTP = &http.Client{Timeout: 10 * time.Minute}
	ctx := context.Background()
	switch os.Args[1] {
	case "latency":
		var ds []time.Duration
		for i := 0; i < *n; i++ {
			d, err := confirmToVerdict(ctx, c, int(size))
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				os.Exit(1)
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		fmt.Printf("confirm→verdict, %s files, n=%d: min %v  p50 %v  p90 %v  max %v\n", *sizeFlag, len(ds),
			ds[0].Round(time.Microsecond*100), pct(ds, 50), pct(ds, 90), ds[len(ds)-1].Round(time.Microsecond*100))
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	i := (len(ds)*p + 99) / 100
	return ds[max(0, min(len(ds)-1, i-1))].Round(100 * time.Microsecond)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
