package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/client"
)

// parseS3URL splits s3://bucket/prefix.
func parseS3URL(u string) (bucket, prefix string, ok bool) {
	rest, found := strings.CutPrefix(u, "s3://")
	if !found {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, prefix, bucket != ""
}

// sweep starts a sweep of a protected bucket and, unless detach, follows it
// to the end, printing its progress.
func sweep(ctx context.Context, c *client.Client, target string, include, exclude []string, detach, asJSON bool,
	every time.Duration, stdout, stderr io.Writer) int {
	bucket, prefix, ok := parseS3URL(target)
	if !ok {
		fmt.Fprintf(stderr, "intellidox sweep: %q: want s3://bucket/prefix\n", target)
		return ExitUsage
	}
	sw, err := c.StartSweep(ctx, client.SweepRequest{Bucket: bucket, Prefix: prefix, Include: include, Exclude: exclude})
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stderr, "sweep %s of s3://%s/%s started\n", sw.ID, bucket, prefix)
	last := ""
	for !detach && sw.Status != "done" && sw.Status != "failed" {
		if line := sweepProgress(sw); line != last {
			fmt.Fprintln(stderr, line)
			last = line
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "intellidox sweep: stopped following; the sweep goes on: intellidox sweep --status %s\n", sw.ID)
			return ExitError
		case <-time.After(every):
		}
		if next, err := c.Sweep(ctx, sw.ID); err == nil {
			sw = next
		} else if ctx.Err() == nil {
			fmt.Fprintln(stderr, "intellidox sweep: progress unavailable, retrying:", describe(err))
		}
	}
	return sweepReport(sw, asJSON, stdout, stderr)
}

// sweepStatus prints one sweep's progress.
func sweepStatus(ctx context.Context, c *client.Client, id string, asJSON bool, stdout, stderr io.Writer) int {
	sw, err := c.Sweep(ctx, id)
	if err != nil {
		return fail(stderr, err)
	}
	return sweepReport(sw, asJSON, stdout, stderr)
}

func sweepReport(sw client.Sweep, asJSON bool, stdout, stderr io.Writer) int {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sw)
	} else {
		fmt.Fprintf(stdout, "sweep %s  s3://%s/%s  %s\n%s\n", sw.ID, sw.Bucket, sw.Prefix, sw.Status, sweepProgress(sw))
		if sw.Error != "" {
			fmt.Fprintln(stdout, "error:", sw.Error)
		}
	}
	if sw.Status == "failed" || sw.Outcomes["failed"] > 0 {
		return ExitError
	}
	return ExitOK
}

// sweepProgress is one line: how much was listed, selected, read, and how each
// object ended.
func sweepProgress(sw client.Sweep) string {
	outcomes := make([]string, 0, len(sw.Outcomes))
	for k, n := range sw.Outcomes {
		outcomes = append(outcomes, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(outcomes)
	s := fmt.Sprintf("  listed %d, selected %d (%d new), waiting %d", sw.Listed, sw.Matched, sw.Queued, sw.Pending)
	if len(outcomes) > 0 {
		s += ", " + strings.Join(outcomes, ", ")
	}
	return s
}
