package files

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Discovered is an object found in a protected bucket (package protect),
// read once to learn its hash, that becomes an upload of Tenant.
type Discovered struct {
	Tenant string
	// UploadID is chosen when the object was queued: an ingest retried
	// after a crash finds the upload it created instead of adding one.
	UploadID string
	Key      string // the object's key; the upload is named after it
	Size     int64
	SHA256   string
	// CopyTo copies the object, as read, to key in the upload bucket. It
	// fails if the object changed since it was read.
	CopyTo func(ctx context.Context, key string) error
}

// Discover records an object found in storage as an upload of d.Tenant and
// hands its bytes to the pipeline like a confirmed upload: the same
// deduplication (content the tenant owns needs no bytes; content being
// scanned is scanned once), the same events, tags and webhooks. It returns
// the file and whether bytes were copied for it.
func (s *Service) Discover(ctx context.Context, d Discovered) (File, bool, error) {
	f, err := s.store.Get(ctx, d.Tenant, d.UploadID)
	if errors.Is(err, ErrNotFound) {
		f, err = s.store.CreateUpload(ctx, NewUpload{
			ID: d.UploadID, Tenant: d.Tenant, Name: NameForKey(d.Key), Size: d.Size,
			SHA256: strings.ToLower(d.SHA256), ObjectKey: "blobs/" + uuid.NewString(),
			ExpiresAt: time.Now().Add(s.cfg.PresignTTL),
		})
	}
	if err != nil {
		return File{}, false, err
	}
	if f.Status != AwaitingUpload {
		return f, false, nil
	}
	if err := d.CopyTo(ctx, f.ObjectKey); err != nil {
		return File{}, false, err
	}
	// Confirm without Confirm's HEAD: the copy just succeeded, of the
	// version that was read, of the size that was read.
	f, err = s.confirmStored(ctx, f)
	if err != nil {
		return File{}, false, err
	}
	return f, true, nil
}

// NameForKey names an upload after an object key: its last segment, with
// control characters replaced and cut to MaxNameBytes, so that validName
// holds.
func NameForKey(key string) string {
	name := key[strings.LastIndexByte(key, '/')+1:]
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r == '\\' || unicode.IsControl(r) || r == '\uFEFF' || unicode.Is(unicode.Bidi_Control, r) {
			return '_'
		}
		return r
	}, name)
	for len(name) > MaxNameBytes {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	if strings.TrimSpace(name) == "" || name == "." || name == ".." {
		return "object"
	}
	return name
}
