package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/intellidox/intellidox/internal/client"
)

// download saves a file's bytes if the api's download gate lets it. The
// exit code says why it did not: ExitDetected for a verdict the policy
// blocks, ExitPending for no verdict yet, ExitError otherwise.
func download(ctx context.Context, c *client.Client, id, out string, stdout, stderr io.Writer) int {
	d, err := c.Download(ctx, id)
	var p *client.Problem
	switch {
	case errors.As(err, &p) && p.Code == "verdict_blocks_download":
		fmt.Fprintf(stderr, "intellidox: refused: the file is %s\n", p.Verdict)
		for _, r := range p.Reasons {
			fmt.Fprintln(stderr, "  "+r)
		}
		return ExitDetected
	case errors.As(err, &p) && p.Code == "verdict_pending":
		fmt.Fprintln(stderr, "intellidox: refused: the file has no verdict yet; try again once it is scanned")
		return ExitPending
	case err != nil:
		return fail(stderr, err)
	}
	if out == "-" {
		if _, err := c.Fetch(ctx, d, stdout); err != nil {
			return fail(stderr, err)
		}
		return ExitOK
	}
	if out == "" {
		out = localName(d.Name)
	}
	// Write beside the target and rename, so a failed download leaves no
	// partial file under the name.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".intellidox-download-*")
	if err != nil {
		return fail(stderr, err)
	}
	defer os.Remove(tmp.Name())
	n, err := c.Fetch(ctx, d, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stderr, "saved %s (%d bytes, verdict %s)\n", out, n, d.Verdict)
	return ExitOK
}

// localName is a file name from the api that is safe to create in the
// current directory.
func localName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == ".." || name == "/" || strings.HasPrefix(name, ".") {
		name = "download" + strings.TrimLeft(name, ".")
	}
	return name
}
