// Package cli is the intellidox command-line client: it hashes files,
// uploads them through presigned URLs, confirms them, waits for their
// verdicts with a progress display and prints a results table (or JSON).
// Its exit code gates CI pipelines.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
)

// Exit codes.
const (
	ExitOK       = 0 // every file judged and none failed the policy
	ExitDetected = 1 // a file is malicious or suspicious (or as --fail-on says)
	ExitUsage    = 2 // bad command line
	ExitError    = 3 // a file could not be uploaded or judged in time
	ExitPending  = 4 // download: the file has no verdict yet
)

const usage = `intellidox — ask IntelliDox what files are and whether they are malicious

Usage:
  intellidox scan [flags] FILE...     upload, scan and report; exit 1 if any file is malicious or suspicious
  intellidox status [--json] ID       show one file and its engine results
  intellidox rescan [--engines a,b] ID
  intellidox get (--sha256|--sha1|--md5) HASH [--json]
  intellidox download [-o FILE] ID    save a file's bytes if its verdict allows; -o - writes to stdout
  intellidox passwords show|set|clear the tenant's archive passwords; set reads one per line from stdin
  intellidox sweep [--include P] [--exclude P] [--detach] s3://BUCKET/PREFIX
                                      scan the objects already in a protected bucket; follows its progress
  intellidox sweep --status ID        one sweep's progress

scan --password PW (repeatable) is tried on that scan's encrypted archives and PDFs.
Files over 64 MiB go up in parts, four at a time; an upload cut short says how to
finish it: scan --resume ID FILE sends only the parts storage lacks.

Common flags (also from the environment):
  --api URL      API base URL (INTELLIDOX_API, default http://127.0.0.1:8080)
  --key KEY      API key, sent as a bearer token (INTELLIDOX_API_KEY)

Exit codes: 0 clean, 1 malicious or suspicious (see scan --fail-on), 2 usage, 3 error.
download: 0 saved, 1 refused by the file's verdict, 3 error, 4 no verdict yet.
`

// Run executes the command line args and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, isTTY bool) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", envOr("INTELLIDOX_API", "http://127.0.0.1:8080"), "API base URL")
	key := fs.String("key", os.Getenv("INTELLIDOX_API_KEY"), "API key")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	var run func(*client.Client) int
	switch cmd {
	case "scan":
		timeout := fs.Duration("timeout", 30*time.Minute, "give up waiting for a verdict after this long")
		failOn := fs.String("fail-on", "suspicious", "lowest verdict that fails: malicious, suspicious or unscanned")
		parallel := fs.Int("parallel", 4, "files processed at once")
		resume := fs.String("resume", "", "the id of an interrupted upload of the one file named: send only what storage lacks")
		var passwords []string
		fs.Func("password", "an archive password to try on these files (repeatable)", func(v string) error {
			passwords = append(passwords, v)
			return nil
		})
		run = func(c *client.Client) int {
			threshold, ok := thresholds[*failOn]
			if !ok {
				fmt.Fprintf(stderr, "intellidox: --fail-on %q: want malicious, suspicious or unscanned\n", *failOn)
				return ExitUsage
			}
			if fs.NArg() == 0 {
				fmt.Fprintln(stderr, "intellidox scan: name at least one file")
				return ExitUsage
			}
			if *resume != "" && fs.NArg() != 1 {
				fmt.Fprintln(stderr, "intellidox scan: --resume takes the one file whose upload it resumes")
				return ExitUsage
			}
			ctx, cancel := context.WithTimeout(ctx, *timeout)
			defer cancel()
			return scan(ctx, c, fs.Args(), scanOptions{json: *asJSON, failOn: threshold, parallel: max(1, *parallel),
				out: stdout, err: stderr, tty: isTTY, passwords: passwords, resume: *resume})
		}
	case "status":
		run = func(c *client.Client) int {
			if fs.NArg() != 1 {
				fmt.Fprintln(stderr, "intellidox status: give one file id")
				return ExitUsage
			}
			return status(ctx, c, fs.Arg(0), *asJSON, stdout, stderr)
		}
	case "rescan":
		engines := fs.String("engines", "", "comma-separated engines (default all)")
		run = func(c *client.Client) int {
			if fs.NArg() != 1 {
				fmt.Fprintln(stderr, "intellidox rescan: give one file id")
				return ExitUsage
			}
			var list []string
			if *engines != "" {
				list = strings.Split(*engines, ",")
			}
			if err := c.Rescan(ctx, fs.Arg(0), list); err != nil {
				return fail(stderr, err)
			}
			fmt.Fprintf(stdout, "rescan of %s queued\n", fs.Arg(0))
			return ExitOK
		}
	case "get":
		sha256 := fs.String("sha256", "", "SHA-256 of the content")
		sha1 := fs.String("sha1", "", "SHA-1 of the content")
		md5 := fs.String("md5", "", "MD5 of the content")
		run = func(c *client.Client) int {
			q := url.Values{}
			for k, v := range map[string]string{"sha256": *sha256, "sha1": *sha1, "md5": *md5} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if len(q) != 1 || fs.NArg() != 0 {
				fmt.Fprintln(stderr, "intellidox get: give exactly one of --sha256, --sha1 or --md5")
				return ExitUsage
			}
			return get(ctx, c, q, *asJSON, stdout, stderr)
		}
	case "download":
		out := fs.String("o", "", "write to FILE (default: the file's name in the current directory; - for stdout)")
		run = func(c *client.Client) int {
			if fs.NArg() != 1 {
				fmt.Fprintln(stderr, "intellidox download: give one file id")
				return ExitUsage
			}
			return download(ctx, c, fs.Arg(0), *out, stdout, stderr)
		}
	case "passwords":
		run = func(c *client.Client) int {
			if fs.NArg() != 1 {
				fmt.Fprintln(stderr, "intellidox passwords: give show, set or clear")
				return ExitUsage
			}
			return passwords(ctx, c, fs.Arg(0), stdin, stdout, stderr)
		}
	case "sweep":
		var include, exclude []string
		fs.Func("include", "a glob of keys to scan (repeatable; * stops at /, ** does not)", func(v string) error {
			include = append(include, v)
			return nil
		})
		fs.Func("exclude", "a glob of keys to leave alone (repeatable)", func(v string) error {
			exclude = append(exclude, v)
			return nil
		})
		detach := fs.Bool("detach", false, "start the sweep and return without following it")
		status := fs.String("status", "", "show the progress of sweep ID instead of starting one")
		run = func(c *client.Client) int {
			if *status != "" {
				return sweepStatus(ctx, c, *status, *asJSON, stdout, stderr)
			}
			if fs.NArg() != 1 {
				fmt.Fprintln(stderr, "intellidox sweep: give one s3://bucket/prefix")
				return ExitUsage
			}
			return sweep(ctx, c, fs.Arg(0), include, exclude, *detach, *asJSON, time.Second, stdout, stderr)
		}
	default:
		fmt.Fprintf(stderr, "intellidox: unknown command %q\n\n%s", cmd, usage)
		return ExitUsage
	}
	if err := fs.Parse(rest); err != nil {
		return ExitUsage
	}
	c := client.New(*api)
	c.APIKey = *key
	return run(c)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

var thresholds = map[string]int{"malicious": 3, "suspicious": 2, "unscanned": 1}

func severity(v contract.Verdict) int {
	switch v {
	case contract.VerdictMalicious:
		return 3
	case contract.VerdictSuspicious:
		return 2
	case contract.VerdictUnscanned:
		return 1
	}
	return 0
}

// fail prints an error in plain words and returns ExitError.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "intellidox:", describe(err))
	return ExitError
}

func describe(err error) string {
	var p *client.Problem
	var se *client.StorageError
	switch {
	case errors.As(err, &p):
		return fmt.Sprintf("%s (%s, HTTP %d)", p.Detail, p.Code, p.Status)
	case errors.As(err, &se):
		return fmt.Sprintf("storage refused the bytes (HTTP %d): did the file change while uploading?", se.Status)
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out waiting for a verdict"
	}
	return err.Error()
}

func status(ctx context.Context, c *client.Client, id string, asJSON bool, stdout, stderr io.Writer) int {
	f, err := c.Get(ctx, id)
	if err != nil {
		return fail(stderr, err)
	}
	s, err := c.Scans(ctx, id)
	if err != nil {
		return fail(stderr, err)
	}
	r := report{File: f.Name, ID: f.ID, SHA256: f.SHA256, Status: string(f.Status), Verdict: f.Verdict, Engines: s.Engines}
	if asJSON {
		return writeJSON(stdout, r)
	}
	printTable(stdout, []report{r}, true)
	return ExitOK
}

func get(ctx context.Context, c *client.Client, q url.Values, asJSON bool, stdout, stderr io.Writer) int {
	page, err := c.List(ctx, q)
	if err != nil {
		return fail(stderr, err)
	}
	var out []report
	for _, f := range page.Items {
		out = append(out, report{File: f.Name, ID: f.ID, SHA256: f.SHA256, Status: string(f.Status), Verdict: f.Verdict})
	}
	if asJSON {
		if out == nil {
			out = []report{}
		}
		return writeJSON(stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(stderr, "intellidox: no file with that hash")
		return ExitError
	}
	printTable(stdout, out, false)
	return ExitOK
}

func writeJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return ExitError
	}
	return ExitOK
}
