package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/rest"
)

type scanOptions struct {
	json     bool
	failOn   int
	parallel int
	out, err io.Writer
	tty      bool
	// passwords are sent with every upload, for its encrypted archives.
	passwords []string
	// resume, when set, is the id of an interrupted upload of the one
	// file named: only what storage lacks is sent.
	resume string
}

// report is one file's outcome, as printed and as --json.
type report struct {
	File    string            `json:"file"`
	ID      string            `json:"id,omitempty"`
	SHA256  string            `json:"sha256,omitempty"`
	Status  string            `json:"status,omitempty"`
	Verdict contract.Verdict  `json:"verdict,omitempty"`
	Engines []contract.Result `json:"engines,omitempty"`
	Known   bool              `json:"alreadyKnown,omitempty"`
	Error   string            `json:"error,omitempty"`
}

// progress is one file's live state for the display.
type progress struct {
	name    string
	mu      sync.Mutex
	phase   string
	bytes   atomic.Int64
	total   int64
	started time.Time
	engines int
}

func (p *progress) set(phase string, total int64) {
	p.mu.Lock()
	p.phase, p.total, p.started = phase, total, time.Now()
	p.mu.Unlock()
	p.bytes.Store(0)
}

func (p *progress) line() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.phase {
	case "hashing", "uploading":
		n := p.bytes.Load()
		rate := float64(n) / max(time.Since(p.started).Seconds(), 1e-3) / 1e6
		pct := 100.0
		if p.total > 0 {
			pct = float64(n) * 100 / float64(p.total)
		}
		return fmt.Sprintf("%-30s %-10s %5.1f%%  %s / %s  %.1f MB/s", trim(p.name, 30), p.phase, pct, size(n), size(p.total), rate)
	case "scanning":
		return fmt.Sprintf("%-30s scanning   %d engine(s) reported", trim(p.name, 30), p.engines)
	}
	return fmt.Sprintf("%-30s %s", trim(p.name, 30), p.phase)
}

type counter struct {
	r io.Reader
	n *atomic.Int64
}

func (c counter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func scan(ctx context.Context, c *client.Client, paths []string, o scanOptions) int {
	reports := make([]report, len(paths))
	prog := make([]*progress, len(paths))
	for i, p := range paths {
		prog[i] = &progress{name: filepath.Base(p), phase: "waiting"}
	}
	stop := startDisplay(prog, o)
	sem := make(chan struct{}, o.parallel)
	var wg sync.WaitGroup
	for i, path := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			reports[i] = scanOne(ctx, c, path, prog[i], o.passwords, o.resume)
			prog[i].set(phaseOf(reports[i]), 0)
		}()
	}
	wg.Wait()
	stop()

	code := ExitOK
	for _, r := range reports {
		switch {
		case r.Error != "":
			code = max(code, ExitError)
		case severity(r.Verdict) >= o.failOn && code == ExitOK:
			code = ExitDetected
		}
	}
	if o.json {
		writeJSON(o.out, reports)
		return code
	}
	printTable(o.out, reports, true)
	return code
}

func phaseOf(r report) string {
	if r.Error != "" {
		return "error: " + r.Error
	}
	return string(r.Verdict)
}

func scanOne(ctx context.Context, c *client.Client, path string, p *progress, passwords []string, resume string) report {
	r := report{File: path}
	failed := func(err error) report {
		r.Error = describe(err)
		if r.ID != "" && (r.Status == "" || r.Status == string(rest.AwaitingUpload)) {
			r.Error += fmt.Sprintf(" (resume with: intellidox scan --resume %s %s)", r.ID, path)
		}
		return r
	}
	f, err := os.Open(path)
	if err != nil {
		return failed(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return failed(err)
	}
	if !st.Mode().IsRegular() {
		return failed(fmt.Errorf("%s is not a regular file", path))
	}
	var cr client.Created
	if resume != "" {
		r.ID, r.Status = resume, string(rest.AwaitingUpload)
		if cr, err = resumeUpload(ctx, c, f, st.Size(), resume, p); err != nil {
			return failed(err)
		}
	} else {
		p.set("hashing", st.Size())
		req := client.CreateRequest{Name: filepath.Base(path), ArchivePasswords: passwords, PartSize: c.PartSizeFor(st.Size())}
		if req.Size, req.SHA256, req.PartSHA256, err = client.HashFile(counter{f, &p.bytes}, req.PartSize); err != nil {
			return failed(err)
		}
		r.SHA256 = req.SHA256
		cr, err = c.Create(ctx, req)
		if client.PartsRequired(err) && req.PartSize == 0 {
			// The api takes smaller files in parts than this client
			// thought: hash the parts too and ask again.
			req.PartSize = rest.PartSizeFor(req.Size)
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return failed(err)
			}
			p.set("hashing", st.Size())
			if _, _, req.PartSHA256, err = client.HashFile(counter{f, &p.bytes}, req.PartSize); err != nil {
				return failed(err)
			}
			cr, err = c.Create(ctx, req)
		}
		if err != nil {
			return failed(err)
		}
		r.ID, r.Status = cr.ID, string(cr.Status)
		switch {
		case cr.Upload != nil && len(cr.Upload.Parts) > 0:
			p.set("uploading", st.Size())
			if err := c.PutParts(ctx, f, cr.Upload.PartSize, cr.Upload.Parts, func(n int64) { p.bytes.Add(n) }); err != nil {
				return failed(err)
			}
		case cr.Upload != nil:
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return failed(err)
			}
			p.set("uploading", st.Size())
			if err := c.Put(ctx, &cr, counter{f, &p.bytes}, st.Size()); err != nil {
				return failed(err)
			}
		default:
			r.Known = true
		}
	}
	p.set("scanning", 0)
	if err := c.Confirm(ctx, cr.ID); err != nil {
		return failed(err)
	}
	r.Status = string(rest.Processing)
	final := waitVerdict(ctx, c, cr.ID, p)
	if final != nil {
		return failed(final)
	}
	file, err := c.Get(ctx, cr.ID)
	if err != nil {
		return failed(err)
	}
	scans, err := c.Scans(ctx, cr.ID)
	if err != nil {
		return failed(err)
	}
	r.Status, r.Verdict, r.Engines = string(file.Status), file.Verdict, scans.Engines
	if file.Status == rest.Rejected {
		r.Error = "rejected: " + file.Reason
	}
	return r
}

// resumeUpload sends what storage lacks of the awaiting upload id of the
// file f (size bytes): its missing parts, or the whole file.
func resumeUpload(ctx context.Context, c *client.Client, f *os.File, size int64, id string, p *progress) (client.Created, error) {
	st, err := c.UploadState(ctx, id)
	if err != nil {
		return client.Created{}, err
	}
	cr := client.Created{ID: id, Status: st.Status, Upload: st.Upload}
	p.set("uploading", size)
	p.bytes.Store(st.ReceivedBytes)
	return cr, c.SendRest(ctx, f, size, st, func(n int64) { p.bytes.Add(n) })
}

// waitVerdict follows the live event stream, and falls back to polling if
// the stream cannot be opened.
func waitVerdict(ctx context.Context, c *client.Client, id string, p *progress) error {
	done := false
	err := c.Events(ctx, id, func(ev client.Event) bool {
		switch ev.Name {
		case "scan":
			p.mu.Lock()
			p.engines++
			p.mu.Unlock()
		case "done":
			done = true
			return false
		}
		return true
	})
	if done {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_ = err // the stream failed: poll instead
	_, err = c.Wait(ctx, id)
	return err
}

// startDisplay redraws progress lines on a terminal, or prints phase changes
// otherwise (to stderr, so stdout stays a clean table or JSON).
func startDisplay(prog []*progress, o scanOptions) (stop func()) {
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		last := make([]string, len(prog))
		drawn := 0
		draw := func() {
			if o.tty {
				if drawn > 0 {
					fmt.Fprintf(o.err, "\x1b[%dA", drawn)
				}
				for _, p := range prog {
					fmt.Fprintf(o.err, "\x1b[2K%s\n", p.line())
				}
				drawn = len(prog)
				return
			}
			for i, p := range prog {
				p.mu.Lock()
				phase := p.phase
				p.mu.Unlock()
				if phase != last[i] && phase != "waiting" {
					fmt.Fprintf(o.err, "%s: %s\n", p.name, phase)
					last[i] = phase
				}
			}
		}
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				draw()
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() { close(quit); <-finished }
}

func printTable(w io.Writer, rs []report, withEngines bool) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tVERDICT\tENGINES\tID")
	for _, r := range rs {
		verdict := strings.ToUpper(string(r.Verdict))
		if r.Error != "" {
			verdict = "ERROR"
		}
		var eng []string
		for _, e := range r.Engines {
			s := e.Engine + ":" + string(e.Result)
			if len(e.Threats) > 0 {
				s += "(" + strings.Join(e.Threats, ",") + ")"
			}
			eng = append(eng, s)
		}
		detail := strings.Join(eng, " ")
		if r.Error != "" {
			detail = r.Error
		}
		if !withEngines && detail == "" {
			detail = r.Status
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.File, verdict, detail, r.ID)
	}
	tw.Flush()
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
