// Command devtool holds small chores for local set-up and tests.
//
//	devtool bucket -endpoint URL -bucket NAME -cors ORIGINS
//
// creates the bucket on an S3-compatible server if it is missing and sets the
// CORS rule browsers need to PUT to presigned URLs. Credentials come from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
//
//	devtool stream -nats HOST:PORT
//
// creates (or updates) the JetStream stream that keeps storage events for
// components/local/storage.yaml.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/natsjs"
	"github.com/intellidox/intellidox/internal/objstore"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "stream" {
		stream()
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "bucket" {
		fmt.Fprintln(os.Stderr, "usage: devtool bucket -endpoint URL -bucket NAME [-cors ORIGINS] | devtool stream -nats HOST:PORT")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("bucket", flag.ExitOnError)
	endpoint := fs.String("endpoint", "http://127.0.0.1:7070", "S3 endpoint")
	bucket := fs.String("bucket", "intellidox", "bucket name")
	cors := fs.String("cors", "", "comma-separated origins allowed to upload from a browser")
	_ = fs.Parse(os.Args[2:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	access, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if access == "" {
		access, secret = "intellidox", "intellidox-local-secret"
	}
	st, err := objstore.New(ctx, objstore.Config{Bucket: *bucket, Endpoint: *endpoint, PathStyle: true,
		AccessKey: access, SecretKey: secret})
	if err == nil {
		var origins []string
		if *cors != "" {
			origins = strings.Split(*cors, ",")
		}
		err = st.EnsureBucket(ctx, origins)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devtool bucket:", err)
		os.Exit(1)
	}
}

func stream() {
	fs := flag.NewFlagSet("stream", flag.ExitOnError)
	addr := fs.String("nats", "127.0.0.1:4222", "NATS server")
	_ = fs.Parse(os.Args[2:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsjs.EnsureStream(ctx, *addr, natsjs.StorageStream); err != nil {
		fmt.Fprintln(os.Stderr, "devtool stream:", err)
		os.Exit(1)
	}
}
