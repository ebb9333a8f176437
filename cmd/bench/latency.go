package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/client"
)

// confirmToVerdict uploads fresh random content of size bytes and returns the
// time from sending the confirm to receiving the final "done" event.
func confirmToVerdict(ctx context.Context, c *client.Client, size int) (time.Duration, error) {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	cr, err := c.Create(ctx, client.CreateRequest{Name: fmt.Sprintf("bench-%d.bin", size), Size: int64(size), SHA256: sha(data)})
	if err != nil {
		return 0, err
	}
	if err := c.Put(ctx, &cr, strings.NewReader(string(data)), int64(size)); err != nil {
		return 0, err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/v1/files/"+cr.ID+"/events", nil)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() { // the stream is open and watching
		return 0, fmt.Errorf("event stream closed early")
	}
	start := time.Now()
	if err := c.Confirm(ctx, cr.ID); err != nil {
		return 0, err
	}
	for sc.Scan() {
		if sc.Text() == "event: done" {
			return time.Since(start), nil
		}
	}
	return 0, fmt.Errorf("event stream ended without a verdict: %v", sc.Err())
}
