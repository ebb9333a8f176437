// Package rest holds the types of the REST contract (docs/openapi.yaml)
// that the api writes and the client reads: a leaf package, so that a
// client needs nothing of the server to speak to it. TestMatchesOpenAPI
// checks every type against its schema in docs/openapi.yaml.
package rest

import (
	"encoding/json"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
)

// Status is an upload's lifecycle state.
type Status string

// Upload statuses.
const (
	AwaitingUpload Status = "awaiting_upload"
	Processing     Status = "processing"
	Done           Status = "done"
	Rejected       Status = "rejected"
)

// File is an upload joined with what is known of its content, as the api
// shows it to the tenant that uploaded it.
type File struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Size        int64            `json:"size"`
	SHA256      string           `json:"sha256"`
	MD5         string           `json:"md5,omitempty"`
	SHA1        string           `json:"sha1,omitempty"`
	ContentType string           `json:"contentType"`
	MIMEType    string           `json:"mimeType,omitempty"`
	Status      Status           `json:"status"`
	Verdict     contract.Verdict `json:"verdict"`
	Reason      string           `json:"reason,omitempty"`
	Metadata    json.RawMessage  `json:"metadata"`
	CreatedAt   time.Time        `json:"createdAt"`
	UpdatedAt   time.Time        `json:"updatedAt"`
}

// Created is the answer to POST /v1/files.
type Created struct {
	ID     string  `json:"id"`
	Status Status  `json:"status"`
	SHA256 string  `json:"sha256"`
	Upload *Upload `json:"upload"`
}

// Upload is a presigned PUT: the client sends the bytes to URL with
// Headers; or, for a file sent in parts, each part to its own URL (Parts,
// each PartSize bytes but the last).
type Upload struct {
	URL       string            `json:"url,omitempty"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers,omitempty"`
	PartSize  int64             `json:"partSize,omitempty"`
	Parts     []Part            `json:"parts,omitempty"`
	ExpiresAt time.Time         `json:"expiresAt"`
}

// Part is one presigned part of a multipart upload: the client sends
// exactly Size bytes to URL with Headers.
type Part struct {
	Number int32 `json:"number"`
	Size   int64 `json:"size"`
	// Received: storage holds the part (in GET /v1/files/{id}/upload);
	// it has no URL then.
	Received bool              `json:"received"`
	URL      string            `json:"url,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
}

// UploadState is what storage holds of an upload awaiting its bytes, and
// how to send the rest (GET /v1/files/{id}/upload).
type UploadState struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// ReceivedBytes counts the bytes storage holds: whole parts, or the
	// whole object.
	ReceivedBytes int64   `json:"receivedBytes"`
	Upload        *Upload `json:"upload"`
}

// Scans is the per-engine view of a file.
type Scans struct {
	Verdict  contract.Verdict  `json:"verdict"`
	Complete bool              `json:"complete"`
	Engines  []contract.Result `json:"engines"`
	Pending  []string          `json:"pending"`
}

// Page is one page of files.
type Page struct {
	Items      []File  `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

// RescanRequest is the body of POST /v1/files/{id}/rescan.
type RescanRequest struct {
	Engines []string `json:"engines,omitempty"` // absent, not null, when all
}

// VerdictChange is one entry of a content's verdict history.
type VerdictChange struct {
	Verdict   contract.Verdict `json:"verdict"`
	DecidedAt time.Time        `json:"decidedAt"`
}

// Download is a short-lived URL to a file's bytes.
type Download struct {
	URL       string           `json:"url"`
	ExpiresAt time.Time        `json:"expiresAt"`
	Name      string           `json:"name"`
	Verdict   contract.Verdict `json:"verdict"`
}

// PasswordList is what may be known of a tenant's archive password list:
// how many, and who set them; never the passwords.
type PasswordList struct {
	Count     int        `json:"count"`
	UpdatedBy string     `json:"updatedBy,omitempty"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
}

// Limits of uploads in parts (S3's).
const (
	MinPartSize = 5 << 20 // every part but the last
	MaxPartSize = 5 << 30
	MaxParts    = 10_000
	// DefaultMultipartThreshold is the api's default size over which a
	// file must come in parts, and the part size clients choose.
	DefaultMultipartThreshold = 64 << 20
)

// PartsFor returns how many parts of partSize bytes a file of size bytes
// has.
func PartsFor(size, partSize int64) int {
	if size == 0 {
		return 1
	}
	return int((size + partSize - 1) / partSize)
}

// PartSizeFor returns the part size clients choose for a file of size
// bytes: 64 MiB, or more when the file needs more than MaxParts parts of
// that size, rounded up to whole MiB.
func PartSizeFor(size int64) int64 {
	p := int64(DefaultMultipartThreshold)
	if need := (size + MaxParts - 1) / MaxParts; need > p {
		p = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return p
}

// SweepRequest is the body of POST /v1/admin/sweeps: scan the objects
// already in a protected bucket under prefix, selected by include and
// exclude glob patterns.
type SweepRequest struct {
	Bucket  string   `json:"bucket"`
	Prefix  string   `json:"prefix,omitempty"`
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// Sweep is a sweep and its progress.
type Sweep struct {
	ID      string   `json:"id"`
	Bucket  string   `json:"bucket"`
	Prefix  string   `json:"prefix"`
	Include []string `json:"include"`
	Exclude []string `json:"exclude"`
	// Status: listing (pages remain), listed (objects remain), done,
	// failed.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Listed objects were seen; Matched were selected (the sweep's and
	// the protection rules' patterns); Queued of those were new versions
	// (the others had been queued before, by a notification or a sweep).
	Listed  int64 `json:"listed"`
	Matched int64 `json:"matched"`
	Queued  int64 `json:"queued"`
	// Pending of the queued objects await reading; Outcomes counts the
	// others by how they ended (uploaded, known, changed, gone, skipped,
	// failed); Reads counts the times objects were read, retries included.
	Pending    int64            `json:"pending"`
	Outcomes   map[string]int64 `json:"outcomes"`
	Reads      int64            `json:"reads"`
	CreatedAt  time.Time        `json:"createdAt"`
	UpdatedAt  time.Time        `json:"updatedAt"`
	FinishedAt *time.Time       `json:"finishedAt,omitempty"`
}
