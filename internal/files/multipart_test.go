package files

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/problem"
)

// fakeParts is a storage of multipart uploads for the service's logic.
type fakeParts struct {
	stored    []StoredPart
	unknown   bool
	completed []StoredPart
	aborted   []string
}

func (f *fakeParts) StartMultipart(context.Context, string) (string, error) { return "mp-1", nil }
func (f *fakeParts) PresignPart(_ context.Context, _, _ string, n int32, size int64, sum string, _ time.Duration) (Part, error) {
	return Part{Number: n, Size: size, URL: fmt.Sprintf("https://s3/part%d?sum=%s", n, sum)}, nil
}
func (f *fakeParts) Parts(context.Context, string, string) ([]StoredPart, bool, error) {
	return f.stored, !f.unknown, nil
}
func (f *fakeParts) CompleteMultipart(_ context.Context, _, _ string, parts []StoredPart) error {
	f.completed = parts
	return nil
}
func (f *fakeParts) AbortMultipart(_ context.Context, key, _ string) error {
	f.aborted = append(f.aborted, key)
	return nil
}

func sums(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Repeat(fmt.Sprintf("%x", i%16), 64)
	}
	return out
}

// TestMultipartRequest: parts are required over the threshold and must
// describe the file exactly.
func TestMultipartRequest(t *testing.T) {
	s := NewService(nil, nil, nil, nil, nil, Config{MaxSize: 100 << 30, Multipart: &fakeParts{}, MultipartThreshold: 64 << 20})
	const size = 130 << 20 // three parts of 64 MiB
	tests := []struct {
		name string
		r    CreateRequest
		code string
		want int
	}{
		{"small, one PUT", CreateRequest{}, "", 0},
		{"large without parts", CreateRequest{}, "parts_required", 0},
		{"three parts", CreateRequest{PartSize: ptr(int64(64 << 20)), PartSHA256: sums(3)}, "", 3},
		{"one part (the whole file is smaller than the part size)", CreateRequest{PartSize: ptr(int64(1 << 30)), PartSHA256: sums(1)}, "", 1},
		{"a sum missing", CreateRequest{PartSize: ptr(int64(64 << 20)), PartSHA256: sums(2)}, "invalid_parts", 0},
		{"a sum too many", CreateRequest{PartSize: ptr(int64(64 << 20)), PartSHA256: sums(4)}, "invalid_parts", 0},
		{"a bad sum", CreateRequest{PartSize: ptr(int64(64 << 20)), PartSHA256: append(sums(2), "xyz")}, "invalid_parts", 0},
		{"parts under 5 MiB", CreateRequest{PartSize: ptr(int64(1 << 20)), PartSHA256: sums(130)}, "invalid_part_size", 0},
		{"sums without a size", CreateRequest{PartSHA256: sums(3)}, "missing_field", 0},
		{"more than 10 000 parts", CreateRequest{PartSize: ptr(int64(5 << 20)), PartSHA256: sums(PartsFor(60<<30, 5<<20))}, "invalid_part_size", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sz := int64(size)
			switch tt.name {
			case "small, one PUT":
				sz = 1 << 20
			case "more than 10 000 parts":
				sz = 60 << 30
			}
			m, err := s.multipart(tt.r, sz)
			if tt.code != "" {
				var pe *problem.Error
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tt.code, pe.Code, pe.Detail)
				return
			}
			require.NoError(t, err)
			if tt.want == 0 {
				assert.Nil(t, m)
				return
			}
			require.NotNil(t, m)
			assert.Len(t, m.PartSHA256, tt.want)
		})
	}
	t.Run("the part size suggested fits the limits", func(t *testing.T) {
		for _, sz := range []int64{65 << 20, 1 << 30, 100 << 30, 5 << 40} {
			ps := PartSizeFor(sz)
			assert.GreaterOrEqual(t, ps, int64(MinPartSize))
			assert.LessOrEqual(t, PartsFor(sz, ps), MaxParts, "size %d", sz)
		}
	})
}

// TestConfirmParts: confirm joins the parts only when storage holds every
// declared one, and says which are missing otherwise.
func TestConfirmParts(t *testing.T) {
	m := &Multipart{ID: "mp-1", PartSize: 5 << 20, PartSHA256: sums(3)}
	file := File{ID: "id", Size: 12 << 20, Status: AwaitingUpload, ObjectKey: "blobs/k", Multipart: m,
		ExpiresAt: time.Now().Add(time.Hour)}
	part := func(n int32, size int64) StoredPart {
		return StoredPart{Number: n, Size: size, SHA256: m.PartSHA256[n-1], ETag: fmt.Sprint(n)}
	}
	all := []StoredPart{part(3, 2<<20), part(1, 5<<20), part(2, 5<<20)}
	tests := []struct {
		name     string
		parts    fakeParts
		objects  fakeObjects
		code     string
		complete int
	}{
		{"every part: joined in order", fakeParts{stored: all}, fakeObjects{size: 12 << 20, found: true}, "", 3},
		{"part 2 missing", fakeParts{stored: []StoredPart{part(1, 5<<20), part(3, 2<<20)}}, fakeObjects{}, "upload_incomplete", 0},
		{"a part of the wrong size does not count", fakeParts{stored: []StoredPart{part(1, 5<<20), part(2, 4<<20), part(3, 2<<20)}}, fakeObjects{}, "upload_incomplete", 0},
		{"a part with another sum does not count", fakeParts{stored: []StoredPart{part(1, 5<<20), {Number: 2, Size: 5 << 20, SHA256: m.PartSHA256[0]}, part(3, 2<<20)}}, fakeObjects{}, "upload_incomplete", 0},
		{"joined by an earlier confirm", fakeParts{unknown: true}, fakeObjects{size: 12 << 20, found: true}, "", 0},
		{"aborted, nothing stored", fakeParts{unknown: true}, fakeObjects{}, "upload_missing", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, relay := &memStore{file: file}, &fakeRelay{}
			parts := tt.parts
			s := NewService(st, fakePresign{}, tt.objects, relay, nil, Config{MaxSize: 1 << 30, Multipart: &parts})
			_, err := s.Confirm(context.Background(), "t", "id")
			assert.Len(t, parts.completed, tt.complete)
			for i, p := range parts.completed {
				assert.Equal(t, int32(i+1), p.Number)
			}
			if tt.code != "" {
				var pe *problem.Error
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tt.code, pe.Code)
				if tt.code == "upload_incomplete" {
					assert.Contains(t, pe.Detail, "(2)")
				}
				assert.False(t, st.confirmed)
				return
			}
			require.NoError(t, err)
			assert.True(t, st.confirmed)
		})
	}
}
