package yara

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// helpers runs yara-helper (tools/yara-helper): libyara in long-lived
// processes, one per scan in progress, each loading the compiled rules once.
// A yara CLI run per file costs a process start and a rule load; a helper
// request costs a line of JSON each way. A helper that crashes (a rule or a
// file that trips libyara) takes no scan with it but its own: the request
// is tried once more on a fresh helper, and a second crash is reported.
type helpers struct {
	bin, rules string

	mu     sync.Mutex
	idle   []*helper
	closed bool
}

// helper is one yara-helper process.
type helper struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tailBuffer
	done   chan struct{} // closed when the process has exited
}

type helperRequest struct {
	Paths     []string `json:"paths"`
	View      string   `json:"view"`
	TimeoutMs int64    `json:"timeoutMs,omitempty"`
}

type helperMatch struct {
	Path     string `json:"path"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
}

type helperResponse struct {
	Matches []helperMatch `json:"matches"`
	Error   string        `json:"error"`
}

// errCrashed marks a helper that died during a request.
var errCrashed = errors.New("yara helper crashed")

// scan scans paths with the external variable intellidox_view set to view.
func (h *helpers) scan(ctx context.Context, view string, paths []string) ([]helperMatch, error) {
	req := helperRequest{Paths: paths, View: view}
	if d, ok := ctx.Deadline(); ok {
		req.TimeoutMs = max(1, time.Until(d).Milliseconds())
	}
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var crashes []string
	for range 2 {
		p, err := h.get()
		if err != nil {
			return nil, err
		}
		resp, err := p.do(ctx, append(line, '\n'))
		switch {
		case err == nil:
			h.put(p)
			if resp.Error != "" {
				return nil, fmt.Errorf("yara: %s", resp.Error)
			}
			return resp.Matches, nil
		case ctx.Err() != nil:
			p.kill()
			return nil, ctx.Err()
		case errors.Is(err, errCrashed):
			p.kill()
			crashes = append(crashes, err.Error())
		default:
			p.kill()
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w twice on this file, so it is not scanned: %s", errCrashed, strings.Join(crashes, "; "))
}

// get returns an idle helper or starts one.
func (h *helpers) get() (*helper, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errors.New("yara helpers closed")
	}
	for len(h.idle) > 0 {
		p := h.idle[len(h.idle)-1]
		h.idle = h.idle[:len(h.idle)-1]
		select {
		case <-p.done: // died while idle
			continue
		default:
			h.mu.Unlock()
			return p, nil
		}
	}
	h.mu.Unlock()
	return h.start()
}

func (h *helpers) put(p *helper) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		p.kill()
		return
	}
	h.idle = append(h.idle, p)
}

// close stops every idle helper; busy ones stop when returned.
func (h *helpers) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, p := range h.idle {
		p.kill()
	}
	h.idle = nil
}

func (h *helpers) start() (*helper, error) {
	cmd := exec.Command(h.bin, h.rules)
	// Its own process group, killed whole; and Wait does not wait for
	// pipes that a stray child still holds.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &helper{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 64<<10), stderr: &tailBuffer{max: 4 << 10},
		done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("yara: start %s: %w", h.bin, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// do sends one request and reads its answer, or gives up when ctx ends
// (the caller then kills the helper, which may be stuck in a scan).
func (p *helper) do(ctx context.Context, line []byte) (helperResponse, error) {
	type result struct {
		resp helperResponse
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		if _, err := p.in.Write(line); err != nil {
			r.err = p.crashed(err)
		} else if b, err := p.out.ReadBytes('\n'); err != nil {
			r.err = p.crashed(err)
		} else if err := json.Unmarshal(b, &r.resp); err != nil {
			r.err = fmt.Errorf("yara helper: bad answer %q: %w", b, err)
		}
		ch <- r
	}()
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		return helperResponse{}, ctx.Err()
	}
}

// crashed describes a helper whose pipe broke: how it ended and what it
// said last.
func (p *helper) crashed(err error) error {
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
	state := "still running"
	if p.cmd.ProcessState != nil {
		state = p.cmd.ProcessState.String()
	}
	msg := strings.TrimSpace(p.stderr.String())
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("%w (%s): %s", errCrashed, state, msg)
}

func (p *helper) kill() {
	_ = p.in.Close()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(b)
	if extra := t.buf.Len() - t.max; extra > 0 {
		t.buf.Next(extra)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
