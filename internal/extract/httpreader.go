package extract

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// HTTP reader geometry: reads are served from 64 KiB blocks, of which the
// most recently used 4 MiB are kept. Parsers such as debug/pe make many
// small reads close together; the cache turns them into a few requests.
// Sequential reads double a read-ahead window, up to maxRun blocks a
// request.
const (
	httpBlockSize = 64 << 10
	httpMaxBlocks = 64
	httpMaxRun    = 32
)

// HTTPReaderAt reads an object of known size over HTTP Range requests, for
// instance from a presigned GET URL. It is safe for concurrent use.
type HTTPReaderAt struct {
	client *http.Client
	url    string
	size   int64

	mu     sync.Mutex
	blocks map[int64]*list.Element // block index → element of lru holding *httpBlock
	lru    *list.List              // front is most recently used
	next   int64                   // the block after the last one fetched
	window int64                   // read-ahead, in blocks

	requests atomic.Int64
}

type httpBlock struct {
	idx  int64
	data []byte
}

// NewHTTPReaderAt returns a reader of the size bytes at url. The server must
// honour Range requests (S3 and http.ServeContent do). A nil client means
// http.DefaultClient.
func NewHTTPReaderAt(client *http.Client, url string, size int64) *HTTPReaderAt {
	if client == nil {
		client = http.DefaultClient
	}
	return &HTTPReaderAt{client: client, url: url, size: size,
		blocks: map[int64]*list.Element{}, lru: list.New(), window: 1}
}

// Requests returns the number of HTTP requests made so far.
func (r *HTTPReaderAt) Requests() int64 { return r.requests.Load() }

// Size returns the size of the object.
func (r *HTTPReaderAt) Size() int64 { return r.size }

// ReadAt implements io.ReaderAt.
func (r *HTTPReaderAt) ReadAt(p []byte, off int64) (int, error) {
	return r.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt with a context for the requests it makes.
func (r *HTTPReaderAt) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("httpreader: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size)
	n := 0
	for pos := off; pos < end; {
		idx := pos / httpBlockSize
		data, err := r.block(ctx, idx, (end-1)/httpBlockSize)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], data[pos-idx*httpBlockSize:])
		n += k
		pos += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// block returns block idx, fetching it, and the missing blocks after it up
// to last (or the read-ahead window), in one request if it is not cached.
func (r *HTTPReaderAt) block(ctx context.Context, idx, last int64) ([]byte, error) {
	r.mu.Lock()
	if e, ok := r.blocks[idx]; ok {
		r.lru.MoveToFront(e)
		data := e.Value.(*httpBlock).data
		r.mu.Unlock()
		return data, nil
	}
	if idx == r.next {
		r.window = min(r.window*2, httpMaxRun)
	} else {
		r.window = 1
	}
	run := max(last-idx+1, r.window)
	run = min(run, httpMaxRun)
	for i := int64(1); i < run; i++ {
		if _, ok := r.blocks[idx+i]; ok {
			run = i
			break
		}
	}
	r.mu.Unlock()

	from := idx * httpBlockSize
	to := min((idx+run)*httpBlockSize, r.size)
	buf, err := r.fetch(ctx, from, to)
	if err != nil {
		return nil, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = idx + run
	for i := int64(0); i < run; i++ {
		lo := i * httpBlockSize
		if lo >= int64(len(buf)) {
			break
		}
		data := buf[lo:min(lo+httpBlockSize, int64(len(buf)))]
		if e, ok := r.blocks[idx+i]; ok {
			r.lru.MoveToFront(e)
			continue
		}
		r.blocks[idx+i] = r.lru.PushFront(&httpBlock{idx: idx + i, data: data})
	}
	for r.lru.Len() > httpMaxBlocks {
		e := r.lru.Back()
		delete(r.blocks, e.Value.(*httpBlock).idx)
		r.lru.Remove(e)
	}
	return buf[:min(httpBlockSize, len(buf))], nil
}

// fetch reads bytes [from, to) with one Range request.
func (r *HTTPReaderAt) fetch(ctx context.Context, from, to int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("httpreader: %w", err)
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to-1))
	r.requests.Add(1)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("httpreader: GET bytes %d-%d: %w", from, to-1, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		start, err := contentRangeStart(resp.Header.Get("Content-Range"))
		if err != nil || start != from {
			return nil, fmt.Errorf("httpreader: GET bytes %d-%d: unexpected Content-Range %q", from, to-1, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK && from == 0:
		// The server ignored the range; its body starts at 0 all the same.
	default:
		return nil, fmt.Errorf("httpreader: GET bytes %d-%d: status %s", from, to-1, resp.Status)
	}
	buf := make([]byte, to-from)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		return nil, fmt.Errorf("httpreader: GET bytes %d-%d: %w", from, to-1, err)
	}
	return buf, nil
}

// contentRangeStart parses the first byte position of "bytes a-b/n".
func contentRangeStart(v string) (int64, error) {
	v, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, errors.New("not a byte range")
	}
	a, _, ok := strings.Cut(v, "-")
	if !ok {
		return 0, errors.New("no range")
	}
	return strconv.ParseInt(a, 10, 64)
}
