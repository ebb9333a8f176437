package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/intellidox/intellidox/internal/client"
)

// SweepBench is a sweep of a prefix of small objects written straight into
// a protected bucket.
type SweepBench struct {
	Objects int `json:"objects"`
	Size    int `json:"size"`
	Workers int `json:"workers"` // DISCOVERY_WORKERS
	// Swept: start to the sweep done (every object listed, read, hashed,
	// copied into the upload bucket and confirmed); Judged: start to the
	// last verdict.
	SweptSeconds  float64 `json:"sweptSeconds"`
	SweptPerSec   float64 `json:"sweptPerSecond"`
	JudgedSeconds float64 `json:"judgedSeconds"`
	JudgedPerSec  float64 `json:"judgedPerSecond"`
}

// ProtectedBucket is the bucket the suite's stack protects.
const ProtectedBucket = "protected"

// sweepRun writes n objects of size fresh bytes under sweep/ in the
// protected bucket (eight PUTs at a time, with the AWS SDK), sweeps the
// prefix and waits for the sweep, then for every verdict.
func sweepRun(ctx context.Context, tgt Target, s3c *s3.Client, db string, n, size, workers int, logf func(string, ...any)) (SweepBench, error) {
	res := SweepBench{Objects: n, Size: size, Workers: workers}
	prefix := fmt.Sprintf("sweep-%d/", time.Now().UnixNano())
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(ProtectedBucket)}); err != nil {
		if _, herr := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(ProtectedBucket)}); herr != nil {
			return res, fmt.Errorf("create bucket: %w", err)
		}
	}
	keys := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range keys {
				_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(ProtectedBucket),
					Key: aws.String(fmt.Sprintf("%sobj-%05d.bin", prefix, i)), Body: bytes.NewReader(randomContent(size))})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		keys <- i
	}
	close(keys)
	wg.Wait()
	close(errs)
	for err := range errs {
		return res, fmt.Errorf("put: %w", err)
	}

	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.Background())
	c := tgt.Client()
	begin := time.Now()
	sw, err := c.StartSweep(ctx, client.SweepRequest{Bucket: ProtectedBucket, Prefix: prefix})
	if err != nil {
		return res, fmt.Errorf("start sweep: %w", err)
	}
	for swept := false; ; {
		if !swept {
			if sw, err = c.Sweep(ctx, sw.ID); err != nil {
				return res, err
			}
			if sw.Status == "failed" {
				return res, fmt.Errorf("sweep failed: %s", sw.Error)
			}
			if sw.Status == "done" {
				swept, res.SweptSeconds = true, time.Since(begin).Seconds()
				if sw.Matched != int64(n) || sw.Outcomes["uploaded"] != int64(n) {
					return res, fmt.Errorf("sweep: %d matched, outcomes %v; want %d uploaded", sw.Matched, sw.Outcomes, n)
				}
			}
		}
		if swept {
			var judged int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM discoveries d JOIN uploads u ON u.id = d.upload_id
				WHERE d.sweep_id = $1 AND u.status = 'done'`, sw.ID).Scan(&judged); err != nil {
				return res, err
			}
			if judged == n {
				res.JudgedSeconds = time.Since(begin).Seconds()
				break
			}
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	res.SweptPerSec, res.JudgedPerSec = float64(n)/res.SweptSeconds, float64(n)/res.JudgedSeconds
	logf("sweep: %d objects of %d bytes, swept in %.1f s (%.0f objects/s), judged in %.1f s (%.0f objects/s)",
		n, size, res.SweptSeconds, res.SweptPerSec, res.JudgedSeconds, res.JudgedPerSec)
	return res, nil
}
