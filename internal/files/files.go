// Package files is the api's business logic: uploads, confirmation, and the
// verdict a file earns from its engines' results. It knows no HTTP and no SQL;
// it declares the store, presigner and object-checker it needs.
package files

import (
	"context"
	"encoding/json"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/rest"
)

// Status is an upload's lifecycle state.
type Status = rest.Status

// Upload statuses.
const (
	AwaitingUpload = rest.AwaitingUpload
	Processing     = rest.Processing
	Done           = rest.Done
	Rejected       = rest.Rejected
)

// File is an upload joined with what is known about its content.
type File struct {
	ID          string           `json:"id"`
	Tenant      string           `json:"-"`
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
	ObjectKey   string           `json:"-"` // where this upload's bytes go (or the content's, if it needed none)
	BlobState   string           `json:"-"`
	// Owned reports whether the tenant proved it holds the content: see
	// possession.go. Until then the file shows nothing derived from it.
	Owned     bool      `json:"-"`
	ExpiresAt time.Time `json:"-"` // when the upload URL expires
	// Multipart is the multipart upload of an upload sent in parts, while
	// it awaits them; nil otherwise.
	Multipart *Multipart `json:"-"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
}

// Wire returns the file as the api shows it (rest.File): without what
// only the server needs.
func (f File) Wire() rest.File {
	return rest.File{ID: f.ID, Name: f.Name, Size: f.Size, SHA256: f.SHA256, MD5: f.MD5, SHA1: f.SHA1,
		ContentType: f.ContentType, MIMEType: f.MIMEType, Status: f.Status, Verdict: f.Verdict, Reason: f.Reason,
		Metadata: f.Metadata, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt}
}

// Blob states, as stored.
const (
	BlobNew        = "new"
	BlobProcessing = "processing"
	BlobVerified   = "verified"
	BlobRejected   = "rejected"
)

// NewUpload is a validated request to upload.
type NewUpload struct {
	ID          string
	Tenant      string
	Name        string
	Size        int64
	SHA256      string
	ContentType string
	ObjectKey   string // used only if the content is new
	ExpiresAt   time.Time
	// Passwords is the upload's own password list, sealed; nil if none.
	Passwords *string
	// Multipart, for an upload sent in parts, is its multipart upload.
	Multipart *Multipart
}

// Created is rest.Created.
type Created = rest.Created

// Scans is rest.Scans.
type Scans = rest.Scans

// Decider computes a verdict from results; see package verdict.
type Decider interface {
	// Decide returns the verdict and whether every required engine reported.
	Decide(results []contract.Result, findings []contract.Finding) (contract.Verdict, bool)
	// Missing lists the required engines that have not reported.
	Missing(results []contract.Result) []string
}

// Store persists files. Implementations run each method in one transaction
// and write the events it causes to an outbox in that same transaction.
type Store interface {
	// CreateUpload records u, creating the blob row if the content is new,
	// and returns the file as stored. The upload needs its bytes unless its
	// tenant owns the verified content (CreateOutcome).
	CreateUpload(ctx context.Context, u NewUpload) (File, error)
	// Get returns the tenant's file, or ErrNotFound.
	Get(ctx context.Context, tenant, id string) (File, error)
	// Results returns every stored engine result for the content.
	Results(ctx context.Context, sha256 string) ([]contract.Result, error)
	// Update runs fn on the content key names, loaded and locked, then
	// saves what fn changed and writes the events it caused to the outbox,
	// all in one transaction (lifecycle.go). It returns the ids of the
	// outbox rows to relay. An error from fn rolls everything back.
	Update(ctx context.Context, key Key, fn func(*Content) error) ([]int64, error)
	// Stuck returns up to limit contents with an upload in processing
	// untouched for longer than after, oldest first.
	Stuck(ctx context.Context, after time.Duration, limit int) ([]string, error)
	// List pages through the tenant's files, newest first. It returns the
	// cursor of the next page, or "" on the last one.
	List(ctx context.Context, tenant string, q Query) ([]File, string, error)
	// RescanStale queues, for engine, a rescan of up to limit verified
	// contents scanned since `since` with another signature version. It
	// returns the outbox ids; fewer than limit means none are left.
	RescanStale(ctx context.Context, engine, signatureVersion string, since time.Time, limit int) ([]int64, error)
	// History returns every verdict the content has had, oldest first.
	History(ctx context.Context, sha256 string) ([]VerdictChange, error)
	// ExtendUpload moves the expiry of the tenant's awaiting upload id.
	ExtendUpload(ctx context.Context, tenant, id string, expiresAt time.Time) error
	// ExpiredMultiparts returns up to limit awaiting uploads whose
	// multipart upload expired before now.
	ExpiredMultiparts(ctx context.Context, now time.Time, limit int) ([]File, error)
	// ClearMultipart forgets the multipart upload of upload id, once
	// aborted.
	ClearMultipart(ctx context.Context, id string) error
}

// VerdictChange is rest.VerdictChange.
type VerdictChange = rest.VerdictChange

// Query selects files for List.
type Query struct {
	Text              string // a name substring or any hash
	SHA256, SHA1, MD5 string // exact hash filters, lower case
	Limit             int
	Cursor            string
}

// Upload is rest.Upload.
type Upload = rest.Upload

// Part is rest.Part.
type Part = rest.Part

// StoredPart is a part storage holds: its number, size, SHA-256 (hex)
// and ETag.
type StoredPart struct {
	Number int32  `json:"number"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	ETag   string `json:"-"`
}

// PresignedGet is a presigned GET.
type PresignedGet struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// DeadLetter is a message a subscriber dropped.
type DeadLetter struct {
	ID         int64           `json:"id"`
	Topic      string          `json:"topic"`
	EventID    string          `json:"eventId"`
	Data       json.RawMessage `json:"data"`
	ReceivedAt time.Time       `json:"receivedAt"`
	RedrivenAt *time.Time      `json:"redrivenAt,omitempty"`
}
