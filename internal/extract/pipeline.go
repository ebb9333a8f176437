package extract

import (
	"context"
	"crypto/md5"  //nolint:gosec // MD5 is reported for lookup by hash, not for security
	"crypto/sha1" //nolint:gosec // likewise
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// The hashing pass reads the body into a fixed pool of chunks and hands each
// chunk to one goroutine per hash (and to the streaming analyzer, if any).
// The three hashes then run in parallel, pipelined by chunk, and memory is
// chunkSize*chunkCount whatever the size of the body.
const (
	chunkSize  = 256 << 10
	chunkCount = 8
	// streamQueue is how many chunks may wait for the streaming analyzer. It
	// is kept below chunkCount so that a slow analyzer leaves chunks for the
	// hashers.
	streamQueue = 2
)

// chunk is one buffer of the pool. refs counts the consumers that still
// read it; the last one returns it to the pool.
type chunk struct {
	b    []byte
	refs atomic.Int32
}

// pipeline hashes one stream.
type pipeline struct {
	free   chan *chunk
	hashes [3]hash.Hash // sha256, sha1, md5
	queues [3]chan *chunk
	wg     sync.WaitGroup
	began  time.Time
	ioWait atomic.Int64 // nanoseconds spent waiting for the body, in reads that returned
	inRead atomic.Int64 // when the read in progress started (UnixNano), or 0
}

// chunkPool keeps chunks between analyses. Allocating (and zeroing) the
// 2 MiB pool for every file was most of the extractor's CPU time for small
// files, and the garbage collector's work on top.
var chunkPool = sync.Pool{New: func() any { return &chunk{b: make([]byte, chunkSize)} }}

func newPipeline() *pipeline {
	p := &pipeline{free: make(chan *chunk, chunkCount), began: time.Now()}
	for range chunkCount {
		c := chunkPool.Get().(*chunk)
		c.b = c.b[:chunkSize]
		p.free <- c
	}
	p.hashes = [3]hash.Hash{sha256.New(), sha1.New(), md5.New()} //nolint:gosec
	for i := range p.queues {
		p.queues[i] = make(chan *chunk, chunkCount)
	}
	return p
}

// recycle returns the chunks no consumer holds any more to chunkPool. A
// chunk still held (by a streaming analyzer abandoned at its deadline) is
// left to the garbage collector: it may still be read.
func (p *pipeline) recycle() {
	for {
		select {
		case c := <-p.free:
			chunkPool.Put(c)
		default:
			return
		}
	}
}

func (p *pipeline) release(c *chunk) {
	if c.refs.Add(-1) == 0 {
		p.free <- c
	}
}

// readChunk takes a chunk from the pool and fills it from r. It returns a
// chunk with len(b) < chunkSize only at the end of r (err is then io.EOF) or
// on a read error.
func (p *pipeline) readChunk(ctx context.Context, r io.Reader) (*chunk, error) {
	var c *chunk
	select {
	case c = <-p.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.b = c.b[:chunkSize]
	t := time.Now()
	p.inRead.Store(t.UnixNano())
	n, err := io.ReadFull(r, c.b)
	p.ioWait.Add(int64(time.Since(t))) // before clearing inRead: counting twice for a moment only delays the watchdog
	p.inRead.Store(0)
	c.b = c.b[:n]
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return c, err
}

// watchdog calls cancel once the analysis has run for max, not counting the
// time spent waiting for the body: a slow download must not count against
// the parsers, but a parser must not run on forever. It returns when ctx
// ends.
func (p *pipeline) watchdog(ctx context.Context, cancel context.CancelFunc, max time.Duration) {
	tick := time.NewTicker(max/20 + time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			wait := time.Duration(p.ioWait.Load())
			if t := p.inRead.Load(); t != 0 {
				wait += time.Since(time.Unix(0, t))
			}
			if time.Since(p.began)-wait > max {
				cancel()
				return
			}
		}
	}
}

// start launches the hash goroutines.
func (p *pipeline) start() {
	for i, h := range p.hashes {
		p.wg.Go(func() {
			for c := range p.queues[i] {
				h.Write(c.b)
				p.release(c)
			}
		})
	}
}

// dispatch hands c to the hashers and, if stream is not nil, to the
// streaming analyzer.
func (p *pipeline) dispatch(c *chunk, stream *streamFeed) {
	refs := int32(len(p.queues))
	if stream != nil {
		refs++
	}
	c.refs.Store(refs)
	for _, q := range p.queues {
		q <- c
	}
	if stream != nil {
		stream.send(c)
	}
}

// finish waits for the hashers and returns sha256, sha1 and md5 in hex.
func (p *pipeline) finish() (string, string, string) {
	for _, q := range p.queues {
		close(q)
	}
	p.wg.Wait()
	return hex.EncodeToString(p.hashes[0].Sum(nil)),
		hex.EncodeToString(p.hashes[1].Sum(nil)),
		hex.EncodeToString(p.hashes[2].Sum(nil))
}

// streamFeed feeds chunks to a streaming analyzer, which reads them as an
// io.Reader on its own goroutine.
type streamFeed struct {
	p     *pipeline
	ctx   context.Context // the analysis context; once done, chunks are no longer sent
	queue chan *chunk
	cur   *chunk
	off   int
}

func newStreamFeed(ctx context.Context, p *pipeline) *streamFeed {
	return &streamFeed{p: p, ctx: ctx, queue: make(chan *chunk, streamQueue)}
}

// send queues c for the analyzer, unless the analysis is over: an analyzer
// that ran out of time must not hold up hashing.
func (f *streamFeed) send(c *chunk) {
	select {
	case f.queue <- c:
	case <-f.ctx.Done():
		f.p.release(c)
	}
}

// close marks the end of the stream.
func (f *streamFeed) close() { close(f.queue) }

// Read implements io.Reader for the analyzer.
func (f *streamFeed) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for f.cur == nil || f.off == len(f.cur.b) {
		if f.cur != nil {
			f.p.release(f.cur)
			f.cur = nil
		}
		select {
		case c, ok := <-f.queue:
			if !ok {
				return 0, io.EOF
			}
			f.cur, f.off = c, 0
		case <-f.ctx.Done():
			return 0, f.ctx.Err()
		}
	}
	n := copy(b, f.cur.b[f.off:])
	f.off += n
	return n, nil
}

// drain releases every chunk the analyzer did not read. The analyzer's
// goroutine calls it once the analyzer has returned.
func (f *streamFeed) drain() {
	if f.cur != nil {
		f.p.release(f.cur)
		f.cur = nil
	}
	for c := range f.queue {
		f.p.release(c)
	}
}
