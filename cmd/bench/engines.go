package main

import (
	"bytes"
	"context"
	"crypto/md5"  //nolint:gosec // the reputation engine looks hashes up, as the extractor reports them
	"crypto/sha1" //nolint:gosec
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/scan/clamav"
	"github.com/intellidox/intellidox/internal/scan/reputation"
	"github.com/intellidox/intellidox/internal/scan/yara"
)

// rawEngines are the scan engines used directly, without the pipeline:
// the physical limit the pipeline is compared with.
type rawEngines struct {
	clamd *clamav.Client
	yara  *yara.Engine
	rep   *reputation.Engine
}

func newRawEngines(ctx context.Context, clamdAddr, rulesDir, lists string) (*rawEngines, error) {
	y, err := yara.New(ctx, yara.Config{RulesDir: rulesDir})
	if err != nil {
		return nil, err
	}
	r, err := reputation.New(reputation.Config{Paths: []string{lists}})
	if err != nil {
		return nil, err
	}
	return &rawEngines{clamd: &clamav.Client{Addr: clamdAddr, Timeout: 10 * time.Minute}, yara: y, rep: r}, nil
}

func (e *rawEngines) Close() { _ = e.yara.Close() }

// scanAll scans data with each engine in turn (one at a time, nothing else
// running) and returns each engine's time. Like the pipeline, yara gets a
// stream and stages it to a file itself.
func (e *rawEngines) scanAll(ctx context.Context, data []byte) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	// clamd caches the verdict of clean content by its MD5: the same bytes
	// again (the pipeline scanned them a moment ago) would be answered from
	// that cache. The last byte flipped makes them new content of the same
	// kind and size.
	n := len(data)
	fresh := io.MultiReader(bytes.NewReader(data[:n-1]), bytes.NewReader([]byte{data[n-1] ^ 0xff}))
	t := time.Now()
	r, err := e.clamd.Scan(ctx, fresh)
	if err != nil || r.Limited {
		return nil, fmt.Errorf("clamd INSTREAM: %v %s", err, r.Raw)
	}
	out["clamav"] = time.Since(t)

	m5, s1 := md5.Sum(data), sha1.Sum(data) //nolint:gosec
	f := scan.File{SHA256: hexSHA256(data), MD5: hex.EncodeToString(m5[:]), SHA1: hex.EncodeToString(s1[:]),
		Size: int64(len(data)), MIMEType: "application/octet-stream"}
	t = time.Now()
	if _, err := e.yara.Scan(ctx, bytes.NewReader(data), f); err != nil {
		return nil, fmt.Errorf("yara: %w", err)
	}
	out["yara"] = time.Since(t)

	t = time.Now()
	if _, err := e.rep.Scan(ctx, http.NoBody, f); err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	out["reputation"] = time.Since(t)
	return out, nil
}

// slowest returns the engine with the longest time.
func slowest(times map[string]time.Duration) (string, time.Duration) {
	name, d := "", time.Duration(0)
	for n, t := range times {
		if t > d {
			name, d = n, t
		}
	}
	return name, d
}
