package files

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/problem"
)

func ptr[T any](v T) *T { return &v }

const goodSHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// TestValidate covers every rule of a create request. Validation is pure
// logic, so it runs without a store.
func TestValidate(t *testing.T) {
	s := &Service{cfg: Config{MaxSize: 1000}}
	valid := CreateRequest{Name: ptr("a.pdf"), Size: ptr(int64(10)), SHA256: ptr(goodSHA)}
	with := func(f func(*CreateRequest)) CreateRequest { r := valid; f(&r); return r }
	tests := []struct {
		name  string
		req   CreateRequest
		code  string
		field string
		kind  problem.Kind
	}{
		{"missing name", with(func(r *CreateRequest) { r.Name = nil }), "missing_field", "name", problem.Invalid},
		{"missing size", with(func(r *CreateRequest) { r.Size = nil }), "missing_field", "size", problem.Invalid},
		{"missing sha256", with(func(r *CreateRequest) { r.SHA256 = nil }), "missing_field", "sha256", problem.Invalid},
		{"empty name", with(func(r *CreateRequest) { r.Name = ptr("  ") }), "invalid_name", "name", problem.Invalid},
		{"long name", with(func(r *CreateRequest) { r.Name = ptr(strings.Repeat("a", 256)) }), "invalid_name", "name", problem.Invalid},
		{"slash in name", with(func(r *CreateRequest) { r.Name = ptr("../etc/passwd") }), "invalid_name", "name", problem.Invalid},
		{"backslash in name", with(func(r *CreateRequest) { r.Name = ptr(`C:\x.exe`) }), "invalid_name", "name", problem.Invalid},
		{"dot dot", with(func(r *CreateRequest) { r.Name = ptr("..") }), "invalid_name", "name", problem.Invalid},
		{"control character", with(func(r *CreateRequest) { r.Name = ptr("a\x00b") }), "invalid_name", "name", problem.Invalid},
		{"bidi override", with(func(r *CreateRequest) { r.Name = ptr("invoice\u202Efdp.exe") }), "invalid_name", "name", problem.Invalid},
		{"invalid utf-8", with(func(r *CreateRequest) { r.Name = ptr("a\xff") }), "invalid_name", "name", problem.Invalid},
		{"negative size", with(func(r *CreateRequest) { r.Size = ptr(int64(-1)) }), "invalid_size", "size", problem.Invalid},
		{"too large", with(func(r *CreateRequest) { r.Size = ptr(int64(1001)) }), "file_too_large", "size", problem.TooLarge},
		{"short sha", with(func(r *CreateRequest) { r.SHA256 = ptr(goodSHA[:63]) }), "invalid_sha256", "sha256", problem.Invalid},
		{"non-hex sha", with(func(r *CreateRequest) { r.SHA256 = ptr("z" + goodSHA[1:]) }), "invalid_sha256", "sha256", problem.Invalid},
		{"bad content type", with(func(r *CreateRequest) { r.ContentType = ptr("not a type") }), "invalid_content_type", "contentType", problem.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.validate(tt.req)
			var pe *problem.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.code, pe.Code)
			assert.Equal(t, tt.field, pe.Field)
			assert.Equal(t, tt.kind, pe.Kind)
		})
	}
	t.Run("an empty file is a file", func(t *testing.T) {
		u, err := s.validate(with(func(r *CreateRequest) { r.Size = ptr(int64(0)) }))
		require.NoError(t, err)
		assert.Equal(t, int64(0), u.Size)
	})
	t.Run("valid request is normalized", func(t *testing.T) {
		r := with(func(r *CreateRequest) {
			r.SHA256 = ptr(strings.ToUpper(goodSHA))
			r.ContentType = ptr("Application/PDF; Charset=UTF-8")
			r.Name = ptr("résumé final (2).pdf")
		})
		u, err := s.validate(r)
		require.NoError(t, err)
		assert.Equal(t, goodSHA, u.SHA256)
		assert.Equal(t, "application/pdf; charset=UTF-8", u.ContentType)
		assert.Len(t, u.ID, 36)
		assert.True(t, strings.HasPrefix(u.ObjectKey, "blobs/"))
		assert.NotContains(t, u.ObjectKey, goodSHA, "object keys must not be derived from user input")
		u2, _ := s.validate(r)
		assert.NotEqual(t, u.ObjectKey, u2.ObjectKey)
	})
}

type fakeObjects struct {
	size  int64
	found bool
	err   error
}

func (f fakeObjects) ObjectSize(context.Context, string) (int64, bool, error) {
	return f.size, f.found, f.err
}

type fakePresign struct{}

func (fakePresign) PresignPut(context.Context, string, int64, string, time.Duration) (Upload, error) {
	return Upload{URL: "http://s3/x", Method: "PUT"}, nil
}

type fakeRelay struct{ ids []int64 }

func (r *fakeRelay) Relay(_ context.Context, ids []int64) { r.ids = append(r.ids, ids...) }

// memStore is the smallest Store the confirm logic needs.
type memStore struct {
	Store
	file      File
	confirmed bool
}

func (m *memStore) Get(context.Context, string, string) (File, error) { return m.file, nil }
func (m *memStore) Update(_ context.Context, key Key, fn func(*Content) error) ([]int64, error) {
	m.confirmed = true
	f := m.file
	c := &Content{SHA256: key.SHA256, State: BlobNew, Uploads: []*LiveUpload{{ID: f.ID, Tenant: f.Tenant,
		Size: f.Size, Status: f.Status, ObjectKey: f.ObjectKey}}}
	if err := fn(c); err != nil {
		return nil, err
	}
	return []int64{7}, nil
}

func TestConfirmChecksStorage(t *testing.T) {
	awaiting := File{ID: "id", Size: 10, Status: AwaitingUpload, BlobState: BlobNew, ObjectKey: "blobs/k",
		ExpiresAt: time.Now().Add(time.Hour)}
	expired := awaiting
	expired.ExpiresAt = time.Now().Add(-time.Minute)
	tests := []struct {
		name    string
		file    File
		objects fakeObjects
		code    string
		relayed bool
	}{
		{"bytes not uploaded", awaiting, fakeObjects{}, "upload_missing", false},
		{"url expired, bytes never came", expired, fakeObjects{}, "upload_expired", false},
		{"url expired, bytes came in time", expired, fakeObjects{size: 10, found: true}, "", true},
		{"storage down", awaiting, fakeObjects{err: errors.New("refused")}, "storage_unavailable", false},
		{"wrong size stored", awaiting, fakeObjects{size: 9, found: true}, "size_mismatch", false},
		{"uploaded", awaiting, fakeObjects{size: 10, found: true}, "", true},
		{"already processing: idempotent", File{ID: "id", Status: Processing}, fakeObjects{}, "", false},
		// Another upload of the same content (of any tenant) proves nothing
		// about this one's bytes.
		{"content being processed for another upload", File{ID: "id", Size: 10, Status: AwaitingUpload, BlobState: BlobProcessing,
			ExpiresAt: time.Now().Add(time.Hour)}, fakeObjects{}, "upload_missing", false},
		{"content verified for another upload", File{ID: "id", Size: 10, Status: AwaitingUpload, BlobState: BlobVerified,
			ExpiresAt: time.Now().Add(time.Hour)}, fakeObjects{}, "upload_missing", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, relay := &memStore{file: tt.file}, &fakeRelay{}
			s := NewService(st, fakePresign{}, tt.objects, relay, nil, Config{MaxSize: 100})
			_, err := s.Confirm(context.Background(), "t", "id")
			if tt.code != "" {
				var pe *problem.Error
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tt.code, pe.Code)
				assert.False(t, st.confirmed, "a failed confirm must change nothing")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.relayed, len(relay.ids) > 0)
		})
	}
}
