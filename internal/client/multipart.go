package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"sync"

	"github.com/intellidox/intellidox/internal/rest"
)

// UploadState is what storage holds of an awaiting upload, with URLs for
// the rest.
type UploadState = rest.UploadState

// UploadState returns what storage holds of the awaiting upload id.
func (c *Client) UploadState(ctx context.Context, id string) (UploadState, error) {
	var st UploadState
	err := c.do(ctx, http.MethodGet, "/v1/files/"+id+"/upload", nil, &st)
	return st, err
}

// Resume finishes the upload id of the file at path after an interruption:
// it sends what storage does not hold yet (the missing parts, or the whole
// file) and confirms.
func (c *Client) Resume(ctx context.Context, id, path string) (Created, error) {
	st, err := c.UploadState(ctx, id)
	if err != nil {
		return Created{ID: id}, err
	}
	cr := Created{ID: id, Status: st.Status, Upload: st.Upload}
	f, err := os.Open(path)
	if err != nil {
		return cr, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return cr, err
	}
	if err := c.SendRest(ctx, f, fi.Size(), st, nil); err != nil {
		return cr, err
	}
	return cr, c.Confirm(ctx, id)
}

// SendRest sends what storage lacks of an upload in state st of the file f
// (size bytes): the parts not received, or the whole file if it is not
// there. progress, when set, is called with the bytes of each piece sent.
func (c *Client) SendRest(ctx context.Context, f *os.File, size int64, st UploadState, progress func(int64)) error {
	if len(st.Upload.Parts) > 0 {
		var todo []rest.Part
		for _, p := range st.Upload.Parts {
			if !p.Received {
				todo = append(todo, p)
			}
		}
		return c.PutParts(ctx, f, st.Upload.PartSize, todo, progress)
	}
	if st.ReceivedBytes == size {
		return nil
	}
	var body io.Reader = f
	if progress != nil {
		body = progressReader{f, progress}
	}
	return c.Put(ctx, &Created{ID: st.ID, Status: st.Status, Upload: st.Upload}, body, size)
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r  io.Reader
	fn func(int64)
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.fn(int64(n))
	return n, err
}

// PartSizeFor returns the part size to upload a file of size bytes in: 0
// (one PUT) up to MultipartThreshold, else PartSize or
// rest.PartSizeFor.
func (c *Client) PartSizeFor(size int64) int64 {
	threshold := c.MultipartThreshold
	if threshold <= 0 {
		threshold = rest.DefaultMultipartThreshold
	}
	switch {
	case size <= threshold:
		return 0
	case c.PartSize > 0:
		return c.PartSize
	}
	return rest.PartSizeFor(size)
}

// PartsRequired reports whether err is the api's answer that the file must
// come in parts: its multipart threshold is below the client's.
func PartsRequired(err error) bool {
	var p *Problem
	return errors.As(err, &p) && p.Code == "parts_required"
}

// HashFile reads f once and returns its size, its SHA-256 and, when
// partSize is set, the SHA-256 of each part of partSize bytes.
func HashFile(f io.Reader, partSize int64) (int64, string, []string, error) {
	whole := sha256.New()
	if partSize <= 0 {
		n, err := io.Copy(whole, f)
		return n, hex.EncodeToString(whole.Sum(nil)), nil, err
	}
	var parts []string
	var size int64
	for {
		part := sha256.New()
		n, err := io.Copy(io.MultiWriter(whole, part), io.LimitReader(f, partSize))
		if err != nil {
			return 0, "", nil, err
		}
		size += n
		if n > 0 || len(parts) == 0 {
			parts = append(parts, sumHex(part))
		}
		if n < partSize {
			return size, sumHex(whole), parts, nil
		}
	}
}

func sumHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// PutParts sends parts of the file f (in parts of partSize bytes but the
// last) to their URLs, Parallel at a time, and calls
// progress, when set, with the bytes of each part sent. The first failure
// stops the rest and is returned.
func (c *Client) PutParts(ctx context.Context, f io.ReaderAt, partSize int64, parts []rest.Part, progress func(int64)) error {
	if len(parts) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var first error
	todo := make(chan rest.Part)
	var wg sync.WaitGroup
	for range max(1, min(c.parallel(), len(parts))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range todo {
				off := int64(p.Number-1) * partSize
				err := c.putPart(ctx, p, io.NewSectionReader(f, off, p.Size))
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("part %d: %w", p.Number, err)
					cancel()
				}
				if err == nil && progress != nil {
					progress(p.Size)
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range parts {
		select {
		case todo <- p:
		case <-ctx.Done():
		}
	}
	close(todo)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

func (c *Client) parallel() int {
	if c.Parallel > 0 {
		return c.Parallel
	}
	return 4
}

// putPart sends one part. Parts are large: the request has no overall
// time limit beyond ctx (c.HTTP's would cut a slow part short).
func (c *Client) putPart(ctx context.Context, p rest.Part, body io.Reader) error {
	if p.URL == "" {
		return errors.New("no URL for the part")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.URL, body)
	if err != nil {
		return err
	}
	req.ContentLength = p.Size
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: c.HTTP.Transport}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return &StorageError{Status: resp.StatusCode, Body: string(b)}
	}
	return nil
}
