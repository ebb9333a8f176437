// Package client is a Go client for the IntelliDox REST API. The command-line
// client and the end-to-end tests use it.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/rest"
)

// Client calls one IntelliDox api.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	APIKey  string // sent as a bearer token when set
	HTTP    *http.Client
	// Header is added to every API request, e.g. dapr-api-token when
	// calling through a sidecar.
	Header http.Header
	// Files over MultipartThreshold bytes (default 64 MiB, the api's
	// default) are uploaded in parts of PartSize bytes (default
	// rest.PartSizeFor), Parallel at a time (default 4).
	MultipartThreshold int64
	PartSize           int64
	Parallel           int
}

// New returns a client for baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: time.Minute}}
}

func (c *Client) authorize(req *http.Request) {
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
}

// Problem is an API error as the server described it.
type Problem struct {
	problem.Body
	// Verdict and Reasons explain a verdict_blocks_download refusal.
	Verdict contract.Verdict `json:"verdict,omitempty"`
	Reasons []string         `json:"reasons,omitempty"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail)
}

// Created mirrors the create response.
type Created = rest.Created

// File mirrors GET /v1/files/{id}.
type File = rest.File

// Scans mirrors GET /v1/files/{id}/scans.
type Scans = rest.Scans

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.authorize(req)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		p := &Problem{}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, p) != nil || p.Code == "" {
			p.Status, p.Code, p.Detail = resp.StatusCode, "http_error", strings.TrimSpace(string(b))
		}
		return p
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// CreateRequest is the body of POST /v1/files.
type CreateRequest struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"contentType,omitempty"`
	// ArchivePasswords are tried on this upload's encrypted archives and
	// PDFs, after the tenant's list and the built-in one.
	ArchivePasswords []string `json:"archivePasswords,omitempty"`
	// PartSize and PartSHA256 send the file in parts (UploadFile fills
	// them in for large files).
	PartSize   int64    `json:"partSize,omitempty"`
	PartSHA256 []string `json:"partSha256,omitempty"`
}

// Create asks for an upload.
func (c *Client) Create(ctx context.Context, r CreateRequest) (Created, error) {
	var out Created
	err := c.do(ctx, http.MethodPost, "/v1/files", r, &out)
	return out, err
}

// Confirm tells the api the bytes are uploaded.
//
// A confirm of an upload in parts joins them in storage, which S3 may take
// minutes to do for a large object: it is bounded by ctx, not by the
// client's per-request timeout.
func (c *Client) Confirm(ctx context.Context, id string) error {
	unbounded := *c
	hc := *c.HTTP
	hc.Timeout = 0
	unbounded.HTTP = &hc
	return unbounded.do(ctx, http.MethodPost, "/v1/files/"+id+"/confirm", nil, nil)
}

// Get returns a file.
func (c *Client) Get(ctx context.Context, id string) (File, error) {
	var f File
	err := c.do(ctx, http.MethodGet, "/v1/files/"+id, nil, &f)
	return f, err
}

// Scans returns a file's per-engine results.
func (c *Client) Scans(ctx context.Context, id string) (Scans, error) {
	var s Scans
	err := c.do(ctx, http.MethodGet, "/v1/files/"+id+"/scans", nil, &s)
	return s, err
}

// StorageError is a refusal by object storage of an upload.
type StorageError struct {
	Status int
	Body   string
}

func (e *StorageError) Error() string {
	return fmt.Sprintf("storage refused the upload: %d %s", e.Status, e.Body)
}

// Put sends body to a presigned upload.
func (c *Client) Put(ctx context.Context, up *rest.Created, body io.Reader, size int64) error {
	if up.Upload == nil {
		return errors.New("no upload to put: the content is already known")
	}
	req, err := http.NewRequestWithContext(ctx, up.Upload.Method, up.Upload.URL, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	if size == 0 {
		// net/http sends a non-nil body of length 0 as chunked, which a
		// presigned PUT bound to Content-Length 0 refuses.
		req.Body = http.NoBody
	}
	for k, v := range up.Upload.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
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

// UploadBytes creates, uploads (unless the content is known) and confirms.
func (c *Client) UploadBytes(ctx context.Context, name string, data []byte) (Created, error) {
	return c.UploadBytesWith(ctx, CreateRequest{Name: name}, data)
}

// UploadBytesWith is UploadBytes for a request with more than a name: its
// size and hash are those of data.
func (c *Client) UploadBytesWith(ctx context.Context, r CreateRequest, data []byte) (Created, error) {
	sum := sha256.Sum256(data)
	r.Size, r.SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
	cr, err := c.Create(ctx, r)
	if err != nil {
		return cr, err
	}
	if cr.Upload != nil {
		if err := c.Put(ctx, &cr, bytes.NewReader(data), int64(len(data))); err != nil {
			return cr, err
		}
	}
	return cr, c.Confirm(ctx, cr.ID)
}

// UploadFile hashes the file at path, then uploads it as UploadBytes does,
// streaming it from disk.
func (c *Client) UploadFile(ctx context.Context, path, name string) (Created, error) {
	f, err := os.Open(path)
	if err != nil {
		return Created{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Created{}, err
	}
	req := CreateRequest{Name: name, PartSize: c.PartSizeFor(st.Size())}
	if req.Size, req.SHA256, req.PartSHA256, err = HashFile(f, req.PartSize); err != nil {
		return Created{}, err
	}
	cr, err := c.Create(ctx, req)
	if PartsRequired(err) && req.PartSize == 0 {
		req.PartSize = rest.PartSizeFor(req.Size)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return cr, err
		}
		if _, _, req.PartSHA256, err = HashFile(f, req.PartSize); err != nil {
			return cr, err
		}
		cr, err = c.Create(ctx, req)
	}
	if err != nil {
		return cr, err
	}
	if cr.Upload != nil && len(cr.Upload.Parts) > 0 {
		if err := c.PutParts(ctx, f, cr.Upload.PartSize, cr.Upload.Parts, nil); err != nil {
			return cr, err
		}
	} else if cr.Upload != nil {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return cr, err
		}
		if err := c.Put(ctx, &cr, f, req.Size); err != nil {
			return cr, err
		}
	}
	return cr, c.Confirm(ctx, cr.ID)
}

// Wait polls until the file reaches a terminal status or ctx ends.
func (c *Client) Wait(ctx context.Context, id string) (File, error) {
	delay := 20 * time.Millisecond
	for {
		f, err := c.Get(ctx, id)
		if err != nil {
			return f, err
		}
		if f.Status == rest.Done || f.Status == rest.Rejected {
			return f, nil
		}
		select {
		case <-ctx.Done():
			return f, fmt.Errorf("file %s still %s: %w", id, f.Status, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// List returns one page of files matching the query parameters.
func (c *Client) List(ctx context.Context, query url.Values) (rest.Page, error) {
	var p rest.Page
	err := c.do(ctx, http.MethodGet, "/v1/files?"+query.Encode(), nil, &p)
	return p, err
}

// Rescan asks for a rescan by the given engines (all when empty).
func (c *Client) Rescan(ctx context.Context, id string, engines []string) error {
	return c.do(ctx, http.MethodPost, "/v1/files/"+id+"/rescan", rest.RescanRequest{Engines: engines}, nil)
}

// Event is one Server-Sent Event from GET /v1/files/{id}/events.
type Event struct {
	ID, Name string
	Data     []byte
}

// Events streams a file's live events to fn until the server ends the
// stream (after the final verdict), fn returns false, or ctx ends.
func (c *Client) Events(ctx context.Context, id string, fn func(Event) bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/v1/files/"+id+"/events", nil)
	if err != nil {
		return err
	}
	c.authorize(req)
	hc := *c.HTTP
	hc.Timeout = 0 // a stream lasts as long as the scan
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p := &Problem{}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, p) != nil || p.Code == "" {
			p.Status, p.Code, p.Detail = resp.StatusCode, "http_error", strings.TrimSpace(string(b))
		}
		return p
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev Event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Name != "" && !fn(ev) {
				return nil
			}
			ev = Event{}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Name = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.Data = []byte(line[6:])
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return ctx.Err()
}

// History returns the verdicts a file's content has had, oldest first.
func (c *Client) History(ctx context.Context, id string) ([]rest.VerdictChange, error) {
	var out struct {
		Verdicts []rest.VerdictChange `json:"verdicts"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/files/"+id+"/history", nil, &out)
	return out.Verdicts, err
}

// Download asks for a URL to download a file; the api answers only if the
// file's verdict passes the tenant's policy.
func (c *Client) Download(ctx context.Context, id string) (rest.Download, error) {
	var d rest.Download
	err := c.do(ctx, http.MethodGet, "/v1/files/"+url.PathEscape(id)+"/download", nil, &d)
	return d, err
}

// Fetch copies the bytes behind a download URL to w.
func (c *Client) Fetch(ctx context.Context, d rest.Download, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, &StorageError{Status: resp.StatusCode}
	}
	return io.Copy(w, resp.Body)
}

// PasswordList is what the api says of a tenant's archive passwords: how
// many, and who set them; never the passwords.
type PasswordList = rest.PasswordList

// ArchivePasswords returns what may be known of the tenant's list.
func (c *Client) ArchivePasswords(ctx context.Context) (PasswordList, error) {
	var l PasswordList
	err := c.do(ctx, http.MethodGet, "/v1/settings/archive-passwords", nil, &l)
	return l, err
}

// SetArchivePasswords replaces the tenant's list (administrators only); an
// empty list removes it.
func (c *Client) SetArchivePasswords(ctx context.Context, passwords []string) (PasswordList, error) {
	if passwords == nil {
		passwords = []string{}
	}
	var l PasswordList
	err := c.do(ctx, http.MethodPut, "/v1/settings/archive-passwords", map[string][]string{"passwords": passwords}, &l)
	return l, err
}

// ClearArchivePasswords removes the tenant's list (administrators only); the
// built-in list is still tried.
func (c *Client) ClearArchivePasswords(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/v1/settings/archive-passwords", nil, nil)
}

// Sweep is a sweep of a protected bucket and its progress.
type Sweep = rest.Sweep

// SweepRequest asks for a sweep.
type SweepRequest = rest.SweepRequest

// StartSweep asks the api to scan the objects already in a protected bucket
// under a prefix (administrators only).
func (c *Client) StartSweep(ctx context.Context, r SweepRequest) (Sweep, error) {
	var sw Sweep
	err := c.do(ctx, http.MethodPost, "/v1/admin/sweeps", r, &sw)
	return sw, err
}

// Sweep returns a sweep's progress.
func (c *Client) Sweep(ctx context.Context, id string) (Sweep, error) {
	var sw Sweep
	err := c.do(ctx, http.MethodGet, "/v1/admin/sweeps/"+url.PathEscape(id), nil, &sw)
	return sw, err
}

// Sweeps lists the tenant's latest sweeps, newest first.
func (c *Client) Sweeps(ctx context.Context) ([]Sweep, error) {
	var out struct {
		Items []Sweep `json:"items"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/admin/sweeps", nil, &out)
	return out.Items, err
}
