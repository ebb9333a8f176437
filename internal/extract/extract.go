// Package extract reads a file once, as a stream, and says what it is: its
// hashes, its type detected from content, and per-format metadata (documents,
// images, archives, executables, text), within safe limits.
//
// Inspect is the entry point. The per-format parsers live in sub-packages
// (archive, pdf, imagemeta, office, exe, text); docs/metadata.md documents
// the metadata schema they produce and the findings.
package extract

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/gabriel-vasile/mimetype"

	"github.com/intellidox/intellidox/internal/contract"
)

// Summary is what Inspect learns about one file.
type Summary struct {
	SHA256, SHA1, MD5 string // lower-case hex
	Size              int64  // bytes read from the body
	MIMEType          string // detected from content, e.g. "application/pdf"
	// Description is a human description of the type, e.g. "PDF document,
	// version 1.7" or "Windows PE32+ executable (x86-64)".
	Description string
	Extension   string // the canonical extension of the detected type, e.g. ".pdf"; may be empty
	// Metadata holds the per-format properties, keyed by "type", "pdf",
	// "image", "office", "archive", "executable" or "text". Every value
	// marshals to JSON; docs/metadata.md has the schema.
	Metadata map[string]any
	// Findings are what the analysis noticed (mismatches, limits that
	// tripped, zip bombs), in the order found.
	Findings []contract.Finding
}

// Options configure one analysis.
type Options struct {
	Name                string // the uploaded file name, for extension_mismatch; may be empty
	DeclaredContentType string // the content type the client declared; may be empty
	Limits              Limits // zero fields take their defaults
}

// headSize is how much of the start of a file type detection looks at.
const headSize = 3072

// smallFileSize is the size up to which the body is kept in memory during
// the hashing pass, so that the formats needing random access read it from
// there rather than through src (for the extractor, more HTTP requests).
const smallFileSize = 8 << 20

// Inspect reads body to the end exactly once, computing the SHA-256, SHA-1
// and MD5 of its bytes and detecting their type, in memory constant in the
// size of the body. It then adds per-format metadata and findings.
//
// src gives random access to the same bytes, size long, for the formats
// that need it (zip and OOXML, OLE, executables, images); NewHTTPReaderAt
// provides one over HTTP. src may be nil: files up to a few MiB are then
// still analyzed from the bytes read from body, larger ones of those
// formats get type detection only. Streaming formats (PDF, gzip, tar, text)
// are analyzed from body during the hashing pass.
//
// Inspect returns an error only when body cannot be read to its end, or ctx
// ends first. Anything else (malformed content, a parser panic, a limit,
// running out of time) becomes a finding, and the hashes are always
// complete.
func Inspect(ctx context.Context, body io.Reader, src io.ReaderAt, size int64, opts Options) (Summary, error) {
	lim := opts.Limits.WithDefaults()
	p := newPipeline()
	defer p.recycle()
	// actx is the analysis context: the watchdog ends it once analysis has
	// used MaxDuration.
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	go p.watchdog(actx, cancel, lim.MaxDuration)

	first, err := p.readChunk(ctx, body)
	if err != nil && err != io.EOF {
		return Summary{}, fmt.Errorf("read: %w", err)
	}
	head := first.b[:min(len(first.b), headSize)]
	mt := mimetype.Detect(head)
	f := formatOf(mt)
	res := &result{meta: map[string]any{}}
	deep := size <= lim.MaxFileSize
	if !deep {
		res.finding("too_large_for_analysis", contract.VerdictUnscanned,
			fmt.Sprintf("%d bytes is over the %d-byte limit for deep analysis; only hashes and type were computed", size, lim.MaxFileSize))
	}

	// The streaming analyzer, if any, reads the chunks as they are hashed.
	var feed *streamFeed
	streamDone := make(chan struct{})
	if deep && f.stream != nil {
		feed = newStreamFeed(actx, p)
		go func() {
			defer close(streamDone)
			defer feed.drain()
			res.run(actx, f.name, func() { f.stream(actx, feed, size, lim, res) })
		}()
	} else {
		close(streamDone)
	}

	var small []byte
	// Kept in memory for the random-access analyzer when that is all the
	// format has; one that also streams (PDF: its random pass runs only on
	// encrypted files) reads src again in the rare case it needs it, when
	// there is a src.
	if deep && size >= 0 && size <= smallFileSize && f.random != nil && (f.stream == nil || src == nil) {
		small = make([]byte, 0, size)
	}
	p.start()
	n := int64(0)
	c := first
	for {
		n += int64(len(c.b))
		if small != nil && len(small)+len(c.b) <= cap(small) {
			small = append(small, c.b...)
		}
		if len(c.b) > 0 {
			p.dispatch(c, feed)
		} else {
			p.free <- c
		}
		if err != nil {
			break
		}
		c, err = p.readChunk(ctx, body)
		if err != nil && err != io.EOF {
			if c != nil {
				p.free <- c
			}
			break
		}
	}
	if feed != nil {
		feed.close()
	}
	s256, s1, m5 := p.finish()
	if err != nil && err != io.EOF {
		return Summary{}, fmt.Errorf("read after %d bytes: %w", n, err)
	}
	select {
	case <-streamDone:
	case <-actx.Done():
		res.timeout() // the analyzer may still be running: abandon it
	}

	if deep && f.random != nil && n == size {
		ra := src
		if int64(len(small)) == n && small != nil {
			ra = bytes.NewReader(small)
		}
		if ra != nil {
			ra = ctxReaderAt{ctx: actx, r: ra}
			done := make(chan struct{})
			go func() {
				defer close(done)
				res.run(actx, f.name, func() { f.random(actx, ra, size, lim, res) })
			}()
			select {
			case <-done:
			case <-actx.Done():
				res.timeout()
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return Summary{}, err
	}
	if res.timedOut() {
		res.finding("analysis_timeout", contract.VerdictUnscanned,
			fmt.Sprintf("deep analysis did not finish within %s; metadata may be incomplete", lim.MaxDuration))
	}

	res.close()
	s := res.summary(mt, n, opts)
	s.SHA256, s.SHA1, s.MD5 = s256, s1, m5
	return s, nil
}

// ctxReaderAt fails reads once ctx is done, so that a parser still running
// past the deadline winds down instead of reading on.
type ctxReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

// readerAtContext is implemented by readers (HTTPReaderAt) whose reads can be
// cancelled.
type readerAtContext interface {
	ReadAtContext(ctx context.Context, p []byte, off int64) (int, error)
}

func (c ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if r, ok := c.r.(readerAtContext); ok {
		return r.ReadAtContext(c.ctx, p, off)
	}
	return c.r.ReadAt(p, off)
}
