package protect

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/files"
)

// The ingest's decisions, on fakes: which outcome each state of the source
// and the files service leads to. The real queue, storage and pipeline are
// in pgstore's tests and e2e/protect_test.go.

type fakeSource struct {
	objects map[string]Object // key → current version
	data    map[string]string
	opened  []string
	copied  []string
	copyErr error
}

func (f *fakeSource) List(context.Context, string, string, string, int) ([]Object, string, error) {
	return nil, "", nil
}

func (f *fakeSource) Open(_ context.Context, bucket, key, etag string) (io.ReadCloser, error) {
	f.opened = append(f.opened, key)
	o, ok := f.objects[key]
	switch {
	case !ok:
		return nil, ErrGone
	case o.ETag != etag:
		return nil, ErrChanged
	}
	return io.NopCloser(strings.NewReader(f.data[key])), nil
}

func (f *fakeSource) Head(_ context.Context, bucket, key string) (Object, error) {
	o, ok := f.objects[key]
	if !ok {
		return Object{}, ErrGone
	}
	return o, nil
}

func (f *fakeSource) CopyIn(_ context.Context, o Object, key string) error {
	if f.copyErr != nil {
		return f.copyErr
	}
	f.copied = append(f.copied, o.Key)
	return nil
}

type fakeFiles struct {
	owned map[string]bool // sha256 the tenant owns
	got   []files.Discovered
	err   error
}

func (f *fakeFiles) Discover(ctx context.Context, d files.Discovered) (files.File, bool, error) {
	f.got = append(f.got, d)
	if f.err != nil {
		return files.File{}, false, f.err
	}
	if f.owned[d.SHA256] {
		return files.File{ID: d.UploadID, Status: files.Done}, false, nil
	}
	if err := d.CopyTo(ctx, "blobs/x"); err != nil {
		return files.File{}, false, err
	}
	return files.File{ID: d.UploadID, Status: files.Processing}, true, nil
}

type finished struct{ outcome, sha, reason string }

type fakeStore struct {
	SweepStore
	queued   []Object
	finished map[int64]finished
	retried  map[int64]string
	read     map[string][]Discovery // upload id → discoveries
}

func (f *fakeStore) Queue(_ context.Context, tenant, sweep string, objs []Object) (int, error) {
	f.queued = append(f.queued, objs...)
	return len(objs), nil
}
func (f *fakeStore) Claim(context.Context, int, time.Duration) ([]Discovery, error) { return nil, nil }
func (f *fakeStore) Extend(context.Context, int64, time.Duration) error             { return nil }
func (f *fakeStore) Finish(_ context.Context, id int64, outcome, sha, reason string) error {
	f.finished[id] = finished{outcome, sha, reason}
	return nil
}
func (f *fakeStore) ReadFor(_ context.Context, uploadID string) ([]Discovery, error) {
	return f.read[uploadID], nil
}
func (f *fakeStore) Retry(_ context.Context, id int64, reason string, _ time.Duration) error {
	f.retried[id] = reason
	return nil
}

const helloSHA = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // "hello"

func setup(t *testing.T) (*Service, *fakeStore, *fakeSource, *fakeFiles) {
	st := &fakeStore{finished: map[int64]finished{}, retried: map[int64]string{}}
	src := &fakeSource{
		objects: map[string]Object{"in/a.txt": {Bucket: "inbox", Key: "in/a.txt", Size: 5, ETag: "v1"}},
		data:    map[string]string{"in/a.txt": "hello"},
	}
	ff := &fakeFiles{owned: map[string]bool{}}
	rules := Rules{{Bucket: "inbox", Prefix: "in/", Tenant: "acme"}}
	s := New(st, src, ff, Config{Rules: rules, MaxSize: 1 << 20, MaxAttempts: 3}, slog.New(slog.DiscardHandler))
	return s, st, src, ff
}

func discovery(key, etag string, size int64) Discovery {
	return Discovery{ID: 1, Tenant: "acme", Object: Object{Bucket: "inbox", Key: key, Size: size, ETag: etag},
		UploadID: "u1", Attempts: 1}
}

func TestIngestOutcomes(t *testing.T) {
	ctx := context.Background()
	t.Run("new content is hashed, copied and handed over", func(t *testing.T) {
		s, st, src, ff := setup(t)
		s.handle(ctx, discovery("in/a.txt", "v1", 5))
		assert.Equal(t, finished{OutcomeUploaded, helloSHA, ""}, st.finished[1])
		assert.Equal(t, []string{"in/a.txt"}, src.copied)
		require.Len(t, ff.got, 1)
		assert.Equal(t, files.Discovered{Tenant: "acme", UploadID: "u1", Key: "in/a.txt", Size: 5, SHA256: helloSHA},
			files.Discovered{Tenant: ff.got[0].Tenant, UploadID: ff.got[0].UploadID, Key: ff.got[0].Key, Size: ff.got[0].Size, SHA256: ff.got[0].SHA256})
	})
	t.Run("content the tenant owns needs no copy", func(t *testing.T) {
		s, st, src, ff := setup(t)
		ff.owned[helloSHA] = true
		s.handle(ctx, discovery("in/a.txt", "v1", 5))
		assert.Equal(t, OutcomeKnown, st.finished[1].outcome)
		assert.Empty(t, src.copied)
	})
	t.Run("replaced before it was read: the new version is queued", func(t *testing.T) {
		s, st, _, ff := setup(t)
		s.handle(ctx, discovery("in/a.txt", "v0", 5))
		assert.Equal(t, OutcomeChanged, st.finished[1].outcome)
		assert.Equal(t, []Object{{Bucket: "inbox", Key: "in/a.txt", Size: 5, ETag: "v1"}}, st.queued)
		assert.Empty(t, ff.got, "nothing of the old version is judged")
	})
	t.Run("replaced between read and copy: discarded and queued again", func(t *testing.T) {
		s, st, _, _ := setup(t)
		setupCopyErr := ErrChanged
		s.src.(*fakeSource).copyErr = setupCopyErr
		s.handle(ctx, discovery("in/a.txt", "v1", 5))
		assert.Equal(t, OutcomeChanged, st.finished[1].outcome)
		assert.Len(t, st.queued, 1)
	})
	t.Run("announced with another size: a newer version", func(t *testing.T) {
		s, st, _, ff := setup(t)
		s.handle(ctx, discovery("in/a.txt", "v1", 4))
		assert.Equal(t, OutcomeChanged, st.finished[1].outcome)
		assert.Empty(t, ff.got)
	})
	t.Run("deleted before it was read", func(t *testing.T) {
		s, st, _, _ := setup(t)
		s.handle(ctx, discovery("in/b.txt", "v1", 5))
		assert.Equal(t, OutcomeGone, st.finished[1].outcome)
	})
	t.Run("skipped without reading", func(t *testing.T) {
		for name, d := range map[string]Discovery{
			"no longer protected": discovery("out/a.txt", "v1", 5),
			"a folder marker":     discovery("in/dir/", "v1", 0),
			"too large":           discovery("in/a.txt", "v1", 2<<20),
		} {
			s, st, src, _ := setup(t)
			s.handle(ctx, d)
			assert.Equal(t, OutcomeSkipped, st.finished[1].outcome, name)
			assert.NotEmpty(t, st.finished[1].reason, name)
			assert.Empty(t, src.opened, name)
		}
	})
	t.Run("errors are retried, then the discovery fails", func(t *testing.T) {
		s, st, _, ff := setup(t)
		ff.err = errors.New("database unavailable")
		s.handle(ctx, discovery("in/a.txt", "v1", 5))
		assert.Equal(t, "database unavailable", st.retried[1])
		assert.Empty(t, st.finished)
		d := discovery("in/a.txt", "v1", 5)
		d.Attempts = 3
		s.handle(ctx, d)
		assert.Equal(t, finished{OutcomeFailed, helloSHA, "database unavailable"}, st.finished[1])
	})
}

func TestOnEvent(t *testing.T) {
	s, st, _, _ := setup(t)
	s.cfg.Rules = Rules{{Bucket: "inbox", Prefix: "in/", Tenant: "acme"}, {Bucket: "inbox", Tenant: "beta", Exclude: []string{"*.tmp"}}}
	err := s.OnEvent(context.Background(), []byte(`{"Records":[
		{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"inbox"},"object":{"key":"in/a.txt","size":5,"eTag":"v1"}}},
		{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"inbox"},"object":{"key":"in/b.tmp","size":5,"eTag":"v1"}}},
		{"eventName":"s3:ObjectCreated:Copy","s3":{"bucket":{"name":"intellidox"},"object":{"key":"blobs/x","size":5,"eTag":"v1"}}}]}`))
	require.NoError(t, err)
	// in/a.txt for both tenants, in/b.tmp for acme only, the upload
	// bucket's own copy for nobody.
	keys := []string{}
	for _, o := range st.queued {
		keys = append(keys, o.Key)
	}
	assert.ElementsMatch(t, []string{"in/a.txt", "in/a.txt", "in/b.tmp"}, keys)
}

// TestOnEventKeys: S3 form-encodes keys in its notifications, versitygw
// does not, and both call themselves aws:s3: the key is the decoded one if
// that object exists with the event's ETag, else the key as sent.
func TestOnEventKeys(t *testing.T) {
	s, st, src, _ := setup(t)
	s.cfg.Rules = Rules{{Bucket: "inbox", Prefix: "in/", Tenant: "acme"}}
	src.objects["in/a b+c.txt"] = Object{Bucket: "inbox", Key: "in/a b+c.txt", Size: 5, ETag: "v1"}
	src.objects["in/100%+x.txt"] = Object{Bucket: "inbox", Key: "in/100%+x.txt", Size: 5, ETag: "v1"}
	event := func(key string) []byte {
		return []byte(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"inbox"},"object":{"key":"` +
			key + `","size":5,"eTag":"v1"}}}]}`)
	}
	require.NoError(t, s.OnEvent(context.Background(), event("in%2Fa+b%2Bc.txt")), "as S3 sends it")
	require.NoError(t, s.OnEvent(context.Background(), event("in/100%+x.txt")), "as versitygw sends it (it does not decode)")
	require.NoError(t, s.OnEvent(context.Background(), event("in/a+b%2Bc.txt")), "S3 leaving / as it is")
	keys := []string{}
	for _, o := range st.queued {
		keys = append(keys, o.Key)
	}
	assert.Equal(t, []string{"in/a b+c.txt", "in/100%+x.txt", "in/a b+c.txt"}, keys)
}

// TestRecheck: once judged, an object replaced meanwhile has its new
// version queued; an unchanged or deleted one, or an upload that came
// through the api, queues nothing.
func TestRecheck(t *testing.T) {
	ctx := context.Background()
	s, st, src, _ := setup(t)
	st.read = map[string][]Discovery{
		"u1": {discovery("in/a.txt", "v1", 5)},
		"u2": {discovery("in/gone.txt", "v1", 5)},
	}
	require.NoError(t, s.Recheck(ctx, "u1"))
	require.NoError(t, s.Recheck(ctx, "u2"))
	require.NoError(t, s.Recheck(ctx, "not-from-a-bucket"))
	assert.Empty(t, st.queued)

	src.objects["in/a.txt"] = Object{Bucket: "inbox", Key: "in/a.txt", Size: 7, ETag: "v2"}
	require.NoError(t, s.Recheck(ctx, "u1"))
	assert.Equal(t, []Object{{Bucket: "inbox", Key: "in/a.txt", Size: 7, ETag: "v2"}}, st.queued)
}
