package main

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/files"
)

// Uploads compares sending one large file in one PUT and in parts.
type Uploads struct {
	Bytes    int64   `json:"bytes"`
	PartSize int64   `json:"partSize"`
	Parallel int     `json:"parallel"`
	Single   float64 `json:"singlePutMBps"`
	Parts    float64 `json:"multipartMBps"`
	// Seconds are the transfer times: create to the end of confirm (which
	// joins the parts), the file already hashed.
	SingleSeconds float64 `json:"singlePutSeconds"`
	PartsSeconds  float64 `json:"multipartSeconds"`
}

// uploadsRun writes size bytes of fresh content to a file twice over (two
// contents, so that neither is known) and sends one in a single PUT, the
// other in parts of partSize, parallel at a time, to the stack's storage.
// Both read the same way from the page cache; each waits for its verdict
// before the next starts, so that the pipeline's work does not overlap the
// other transfer.
func uploadsRun(ctx context.Context, tgt Target, dir string, size int64, logf func(string, ...any)) (Uploads, error) {
	res := Uploads{Bytes: size, PartSize: files.PartSizeFor(size), Parallel: 4}
	c := tgt.Client()
	c.Parallel = res.Parallel
	send := func(name string, partSize int64) (float64, error) {
		var seed [32]byte
		_, _ = crand.Read(seed[:])
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			return 0, err
		}
		if _, err := io.CopyBuffer(f, newStream(seed, size), make([]byte, 1<<20)); err != nil {
			f.Close()
			return 0, err
		}
		if err := f.Close(); err != nil {
			return 0, err
		}
		defer os.Remove(path)
		f, err = os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		n, sum, parts, err := client.HashFile(f, partSize)
		if err != nil {
			return 0, err
		}
		begin := time.Now()
		cr, err := c.Create(ctx, client.CreateRequest{Name: name, Size: n, SHA256: sum, PartSize: partSize, PartSHA256: parts})
		if err != nil {
			return 0, fmt.Errorf("create: %w", err)
		}
		if partSize > 0 {
			err = c.PutParts(ctx, f, partSize, cr.Upload.Parts, nil)
		} else {
			if _, err = f.Seek(0, io.SeekStart); err == nil {
				err = c.Put(ctx, &cr, f, n)
			}
		}
		if err != nil {
			return 0, fmt.Errorf("upload: %w", err)
		}
		if err := c.Confirm(ctx, cr.ID); err != nil {
			return 0, fmt.Errorf("confirm: %w", err)
		}
		secs := time.Since(begin).Seconds()
		if _, err := c.Wait(ctx, cr.ID); err != nil {
			return 0, err
		}
		return secs, nil
	}
	var err error
	if res.SingleSeconds, err = send("single-put.bin", 0); err != nil {
		return res, fmt.Errorf("single PUT: %w", err)
	}
	if res.PartsSeconds, err = send("in-parts.bin", res.PartSize); err != nil {
		return res, fmt.Errorf("in parts: %w", err)
	}
	mb := float64(size) / 1e6
	res.Single, res.Parts = mb/res.SingleSeconds, mb/res.PartsSeconds
	logf("uploads: %d bytes, one PUT %.1f s (%.0f MB/s), %d-byte parts ×%d %.1f s (%.0f MB/s)", size,
		res.SingleSeconds, res.Single, res.PartSize, res.Parallel, res.PartsSeconds, res.Parts)
	return res, nil
}

// mib writes a size in whole MiB.
func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }
