package extract

import (
	"context"
	"fmt"
	"sync"

	"github.com/intellidox/intellidox/internal/contract"
)

// result collects what the format analyzers find. Analyzers run on their
// own goroutines and may outlive Inspect when they overrun their time, so
// every method locks, and writes after close are dropped.
type result struct {
	mu       sync.Mutex
	closed   bool
	meta     map[string]any
	findings []contract.Finding
	late     bool   // an analyzer was cut short by the time limit
	desc     string // a refined description, if an analyzer knows better
	mime     string // a refined MIME type (e.g. macro-enabled OOXML)
	ext      string
}

func (r *result) set(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.meta[key] = v
	}
}

func (r *result) add(fs ...contract.Finding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.findings = append(r.findings, fs...)
	}
}

func (r *result) finding(code string, effect contract.Verdict, msg string) {
	r.add(contract.Finding{Code: code, Message: msg, Effect: effect})
}

func (r *result) describe(desc string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.desc = desc
	}
}

// refine replaces the detected MIME type and extension with a more precise
// one found by deep analysis.
func (r *result) refine(mime, ext string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.mime, r.ext = mime, ext
	}
}

// timeout records that an analyzer did not finish in time.
func (r *result) timeout() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.late = true
}

func (r *result) timedOut() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.late
}

func (r *result) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
}

// run calls fn, turning a panic into a finding: a parser bug or a hostile
// file must not take the extractor down.
func (r *result) run(ctx context.Context, name string, fn func()) {
	defer func() {
		if v := recover(); v != nil {
			r.finding("parser_error", "", fmt.Sprintf("the %s parser failed on this file (%v); its metadata may be incomplete", name, v))
		}
	}()
	if ctx.Err() != nil {
		r.timeout()
		return
	}
	fn()
	if ctx.Err() != nil {
		r.timeout()
	}
}
