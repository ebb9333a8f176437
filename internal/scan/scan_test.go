package scan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/seal"
	"github.com/intellidox/intellidox/internal/sidecar"
)

// fakeSidecar keeps state in memory and records publications.
type fakeSidecar struct {
	mu        sync.Mutex
	state     map[string][]byte
	published []contract.ScanCompleted
	objects   map[string]string
	openErr   error
	readErr   error
	gets      atomic.Int32 // GetState calls
}

func newFake() *fakeSidecar {
	return &fakeSidecar{state: map[string][]byte{}, objects: map[string]string{"obj": "content"}}
}

func (f *fakeSidecar) Publish(_ context.Context, topic string, v any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if topic == contract.TopicScanCompleted {
		f.published = append(f.published, v.(contract.ScanCompleted))
	}
	return nil
}

func (f *fakeSidecar) GetState(_ context.Context, key string, v any) error {
	f.gets.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.state[key]
	if !ok {
		return sidecar.ErrNotFound
	}
	return json.Unmarshal(b, v)
}

func (f *fakeSidecar) SaveState(_ context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state[key] = b
	return err
}

func (f *fakeSidecar) OpenObject(_ context.Context, key string) (io.ReadCloser, error) {
	if f.openErr != nil {
		return nil, f.openErr
	}
	s, ok := f.objects[key]
	if !ok {
		return nil, sidecar.ErrNotFound
	}
	if f.readErr != nil {
		return io.NopCloser(io.MultiReader(strings.NewReader(s), errReader{f.readErr})), nil
	}
	return io.NopCloser(strings.NewReader(s)), nil
}

func (f *fakeSidecar) last() contract.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.published[len(f.published)-1].Result
}

// fakeEngine answers with scanFn.
type fakeEngine struct {
	sigs   string
	scans  atomic.Int32
	scanFn func(ctx context.Context, r io.Reader) (scan.Finding, error)
	mu     sync.Mutex
	last   scan.File // the file of the latest scan
}

func (e *fakeEngine) lastFile() scan.File {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

func (e *fakeEngine) Name() string { return "fake" }
func (e *fakeEngine) Versions(context.Context) (string, string, error) {
	return "1.0", e.sigs, nil
}
func (e *fakeEngine) Scan(ctx context.Context, r io.Reader, f scan.File) (scan.Finding, error) {
	e.scans.Add(1)
	e.mu.Lock()
	e.last = f
	e.mu.Unlock()
	return e.scanFn(ctx, r)
}

const sha = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

func event(t *testing.T, key string) sidecar.Event {
	b, err := json.Marshal(contract.FileExtracted{Version: contract.SchemaVersion, FileID: "f1",
		SHA256: sha, Size: 7, ObjectKey: key})
	require.NoError(t, err)
	return sidecar.Event{ID: "e1", Data: b}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestOutcomes(t *testing.T) {
	cases := []struct {
		name    string
		key     string
		openErr error
		readErr error
		scanFn  func(ctx context.Context, r io.Reader) (scan.Finding, error)
		status  sidecar.Status
		result  contract.Outcome
		detail  string
	}{
		{name: "clean", key: "obj", status: sidecar.Success, result: contract.Clean,
			scanFn: func(_ context.Context, r io.Reader) (scan.Finding, error) {
				b, _ := io.ReadAll(r)
				return scan.Finding{Outcome: contract.Clean, Detail: "read " + string(b)}, nil
			}, detail: "read content"},
		{name: "skip with a reason", key: "obj", status: sidecar.Success, result: contract.Skipped,
			scanFn: func(context.Context, io.Reader) (scan.Finding, error) {
				return scan.Skip(scan.ReasonEncrypted, "password protected"), nil
			}, detail: "encrypted: password protected"},
		{name: "skip without a reason is an error", key: "obj", status: sidecar.Success, result: contract.Error,
			scanFn: func(context.Context, io.Reader) (scan.Finding, error) {
				return scan.Finding{Outcome: contract.Skipped, Detail: "dunno"}, nil
			}, detail: "engine skipped without a stated reason: dunno"},
		{name: "timeout", key: "obj", status: sidecar.Success, result: contract.Skipped,
			scanFn: func(ctx context.Context, _ io.Reader) (scan.Finding, error) {
				<-ctx.Done()
				return scan.Finding{}, ctx.Err()
			}, detail: "timeout: the scan took longer than 50ms"},
		{name: "engine unavailable", key: "obj", status: sidecar.Retry,
			scanFn: func(context.Context, io.Reader) (scan.Finding, error) {
				return scan.Finding{}, scan.ErrUnavailable
			}},
		{name: "object read fails", key: "obj", readErr: errors.New("connection reset"), status: sidecar.Retry,
			scanFn: func(_ context.Context, r io.Reader) (scan.Finding, error) {
				_, err := io.ReadAll(r)
				return scan.Finding{}, fmt.Errorf("engine wraps it: %w", err)
			}},
		{name: "storage unreachable", key: "obj", openErr: errors.New("connection refused"), status: sidecar.Retry},
		{name: "object missing", key: "gone", status: sidecar.Success, result: contract.Error,
			detail: `unreadable: object "gone" is not in storage`},
		{name: "engine error", key: "obj", status: sidecar.Success, result: contract.Error,
			scanFn: func(context.Context, io.Reader) (scan.Finding, error) {
				return scan.Finding{}, errors.New("rules crashed")
			}, detail: "rules crashed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dapr := newFake()
			dapr.openErr, dapr.readErr = c.openErr, c.readErr
			eng := &fakeEngine{sigs: "s1", scanFn: c.scanFn}
			svc := scan.NewService(eng, dapr, quiet(), scan.Config{Timeout: 50 * time.Millisecond})
			status := svc.OnExtracted(context.Background(), event(t, c.key))
			require.Equal(t, c.status, status)
			if c.status != sidecar.Success {
				assert.Empty(t, dapr.published, "nothing is published for a retried event")
				assert.Empty(t, dapr.state, "nothing is saved for a retried event")
				return
			}
			r := dapr.last()
			assert.Equal(t, c.result, r.Result)
			assert.Equal(t, c.detail, r.Detail)
			assert.Equal(t, "fake", r.Engine)
			assert.Equal(t, "s1", r.SignatureVersion)
			assert.NotNil(t, r.Threats)
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestIdempotence(t *testing.T) {
	dapr := newFake()
	eng := &fakeEngine{sigs: "s1", scanFn: func(context.Context, io.Reader) (scan.Finding, error) {
		return scan.Finding{Outcome: contract.Clean, Detail: "ok"}, nil
	}}
	svc := scan.NewService(eng, dapr, quiet(), scan.Config{})
	ev := event(t, "obj")
	require.Equal(t, sidecar.Success, svc.OnExtracted(context.Background(), ev))
	first := dapr.last()
	require.Equal(t, sidecar.Success, svc.OnExtracted(context.Background(), ev))
	assert.EqualValues(t, 1, eng.scans.Load(), "same content and signatures: scanned once")
	assert.Equal(t, first.ScannedAt, dapr.last().ScannedAt)
	assert.Len(t, dapr.published, 2, "a redelivery still announces the result")

	eng.sigs = "s2"
	require.Equal(t, sidecar.Success, svc.OnExtracted(context.Background(), ev))
	assert.EqualValues(t, 2, eng.scans.Load(), "new signatures: scanned again")
	assert.Equal(t, "s2", dapr.last().SignatureVersion)
}

func TestTimeoutsAndErrorsAreRetriedOnRedelivery(t *testing.T) {
	for name, f := range map[string]scan.Finding{
		"timeout": scan.Skip(scan.ReasonTimeout, "slow"),
		"error":   {Outcome: contract.Error, Detail: "boom"},
	} {
		t.Run(name, func(t *testing.T) {
			dapr := newFake()
			eng := &fakeEngine{sigs: "s1", scanFn: func(context.Context, io.Reader) (scan.Finding, error) { return f, nil }}
			svc := scan.NewService(eng, dapr, quiet(), scan.Config{})
			svc.OnExtracted(context.Background(), event(t, "obj"))
			svc.OnExtracted(context.Background(), event(t, "obj"))
			assert.EqualValues(t, 2, eng.scans.Load())
		})
	}
}

type secrets map[string]string

func (s secrets) GetSecret(context.Context, string, string) (map[string]string, error) { return s, nil }

// Content that stayed encrypted is scanned again when an event brings
// password lists, and only then; the engine gets the built-in list first.
func TestPasswordsReopenEncryptedSkips(t *testing.T) {
	keys := seal.NewKeyring(secrets{contract.ArchivePasswordsKey: seal.NewKey()}, "")
	tenant, err := keys.Seal(context.Background(), contract.PasswordsTenant, []string{"s3cret"})
	require.NoError(t, err)
	withPasswords := func() sidecar.Event {
		b, err := json.Marshal(contract.FileExtracted{Version: contract.SchemaVersion, FileID: "f2",
			SHA256: sha, Size: 7, ObjectKey: "obj", Passwords: []contract.SealedPasswords{tenant}})
		require.NoError(t, err)
		return sidecar.Event{ID: "e2", Data: b}
	}
	dapr := newFake()
	eng := &fakeEngine{sigs: "s1"}
	eng.scanFn = func(context.Context, io.Reader) (scan.Finding, error) {
		if len(eng.lastFile().Passwords) < 2 {
			return scan.Skip(scan.ReasonEncrypted, "a.zip/x is encrypted and no known password opens it"), nil
		}
		return scan.Finding{Outcome: contract.Clean}, nil
	}
	svc := scan.NewService(eng, dapr, quiet(), scan.Config{Keys: keys})
	ctx := context.Background()

	require.Equal(t, sidecar.Success, svc.OnExtracted(ctx, event(t, "obj")))
	require.Equal(t, sidecar.Success, svc.OnExtracted(ctx, event(t, "obj")))
	assert.EqualValues(t, 1, eng.scans.Load(), "no passwords: the encrypted skip stands")
	assert.Equal(t, []archive.Passwords{archive.Builtin()}, eng.lastFile().Passwords)

	require.Equal(t, sidecar.Success, svc.OnExtracted(ctx, withPasswords()))
	assert.EqualValues(t, 2, eng.scans.Load(), "passwords: tried again")
	assert.Equal(t, []archive.Passwords{archive.Builtin(), {Source: contract.PasswordsTenant, List: []string{"s3cret"}}},
		eng.lastFile().Passwords)
	assert.Equal(t, contract.Clean, dapr.last().Result)

	require.Equal(t, sidecar.Success, svc.OnExtracted(ctx, withPasswords()))
	assert.EqualValues(t, 2, eng.scans.Load(), "opened and judged: reused")
}

func TestConcurrencyIsBounded(t *testing.T) {
	dapr := newFake()
	var running, peak atomic.Int32
	release := make(chan struct{})
	eng := &fakeEngine{sigs: "s1", scanFn: func(context.Context, io.Reader) (scan.Finding, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return scan.Finding{Outcome: contract.Clean, Detail: "ok"}, nil
	}}
	svc := scan.NewService(eng, dapr, quiet(), scan.Config{Concurrency: 2})
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(contract.FileExtracted{Version: 1, SHA256: strings.Repeat(string(rune('a'+i)), 64), ObjectKey: "obj"})
			svc.OnExtracted(context.Background(), sidecar.Event{Data: b})
		}()
	}
	require.Eventually(t, func() bool { return running.Load() == 2 }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.EqualValues(t, 2, peak.Load())
	assert.EqualValues(t, 5, eng.scans.Load())

	// A waiting event whose delivery is abandoned is retried, not lost.
	block := make(chan struct{})
	eng.scanFn = func(context.Context, io.Reader) (scan.Finding, error) {
		<-block
		return scan.Finding{Outcome: contract.Clean, Detail: "ok"}, nil
	}
	svc = scan.NewService(eng, dapr, quiet(), scan.Config{Concurrency: 1})
	b, _ := json.Marshal(contract.FileExtracted{Version: 1, SHA256: strings.Repeat("f", 64), ObjectKey: "obj"})
	go svc.OnExtracted(context.Background(), sidecar.Event{Data: b})
	require.Eventually(t, func() bool { return eng.scans.Load() == 6 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	b2, _ := json.Marshal(contract.FileExtracted{Version: 1, SHA256: strings.Repeat("0", 64), ObjectKey: "obj"})
	assert.Equal(t, sidecar.Retry, svc.OnExtracted(ctx, sidecar.Event{Data: b2}))
	close(block)
}

func TestShutdownIsRetriedNotRecorded(t *testing.T) {
	dapr := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	eng := &fakeEngine{sigs: "s1", scanFn: func(c context.Context, _ io.Reader) (scan.Finding, error) {
		cancel()
		return scan.Finding{}, c.Err()
	}}
	svc := scan.NewService(eng, dapr, quiet(), scan.Config{})
	assert.Equal(t, sidecar.Retry, svc.OnExtracted(ctx, event(t, "obj")))
	assert.Empty(t, dapr.state)
}

func TestPoisonIsDropped(t *testing.T) {
	svc := scan.NewService(&fakeEngine{sigs: "s1"}, newFake(), quiet(), scan.Config{})
	for name, data := range map[string]string{
		"not json":        `{`,
		"unknown version": `{"version":99,"sha256":"` + sha + `","objectKey":"obj"}`,
		"no sha256":       `{"version":1,"objectKey":"obj"}`,
		"no object key":   `{"version":1,"sha256":"` + sha + `"}`,
	} {
		assert.Equal(t, sidecar.Drop, svc.OnExtracted(context.Background(), sidecar.Event{Data: []byte(data)}), name)
	}
}

// TestWaitingDeliveryUsesTheResultStoredMeanwhile: with one scan slot, a
// second delivery of the same content waits while the first scans; when
// the slot frees, the first has stored its result, and the second must
// answer from it instead of running the engine again.
func TestWaitingDeliveryUsesTheResultStoredMeanwhile(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	eng := &fakeEngine{sigs: "s1", scanFn: func(context.Context, io.Reader) (scan.Finding, error) {
		started <- struct{}{}
		<-release
		return scan.Finding{Outcome: contract.Clean}, nil
	}}
	fake := newFake()
	svc := scan.NewService(eng, fake, quiet(), scan.Config{Concurrency: 1})
	var wg sync.WaitGroup
	wg.Go(func() { assert.Equal(t, sidecar.Success, svc.OnExtracted(context.Background(), event(t, "obj"))) })
	<-started // the first holds the only slot
	second := make(chan sidecar.Status)
	go func() { second <- svc.OnExtracted(context.Background(), event(t, "obj")) }()
	// Release the first only once the second has read the cache (nothing
	// stored yet) and so waits for the slot.
	require.Eventually(t, func() bool { return fake.gets.Load() >= 2 }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	select {
	case st := <-second:
		assert.Equal(t, sidecar.Success, st)
	case <-started:
		t.Fatal("the waiting delivery ran the engine again although the result was stored meanwhile")
	case <-time.After(10 * time.Second):
		t.Fatal("the second delivery never finished")
	}
	assert.EqualValues(t, 1, eng.scans.Load(), "engine executions")
}

// TestFreeSlotReadsTheCacheOnce: a delivery that finds a slot free reads the
// state store once; only one that waited for a slot looks again (above).
// Every state-store read is a sidecar call and a Redis or DynamoDB request.
func TestFreeSlotReadsTheCacheOnce(t *testing.T) {
	fake := newFake()
	eng := &fakeEngine{sigs: "s1", scanFn: func(context.Context, io.Reader) (scan.Finding, error) {
		return scan.Finding{Outcome: contract.Clean}, nil
	}}
	svc := scan.NewService(eng, fake, quiet(), scan.Config{Concurrency: 1})
	require.Equal(t, sidecar.Success, svc.OnExtracted(context.Background(), event(t, "obj")))
	assert.EqualValues(t, 1, fake.gets.Load(), "state-store reads")
	assert.EqualValues(t, 1, eng.scans.Load())
	require.Equal(t, sidecar.Success, svc.OnExtracted(context.Background(), event(t, "obj")))
	assert.EqualValues(t, 2, fake.gets.Load(), "a redelivery is answered from one read")
	assert.EqualValues(t, 1, eng.scans.Load(), "and not scanned again")
}

func uploadedEvent(t *testing.T, sha256 string, size int64) sidecar.Event {
	b, err := json.Marshal(contract.FileUploaded{Version: contract.SchemaVersion, FileID: "f1",
		SHA256: sha256, Size: size, ObjectKey: "obj"})
	require.NoError(t, err)
	return sidecar.Event{ID: "u1", Data: b}
}

// contentSHA is the SHA-256 of the fake's object "obj" ("content").
const contentSHA = "ed7002b439e9ac845f22357d822bac1444730fbdb6016d3ec9432297b9ec9f73"

// TestOnUploaded: a scan that starts on file.uploaded keeps a result the
// cache would reuse only for the claimed bytes: "content", 7 bytes.
func TestOnUploaded(t *testing.T) {
	readAll := func(_ context.Context, r io.Reader) (scan.Finding, error) {
		_, err := io.ReadAll(r)
		return scan.Finding{Outcome: contract.Clean}, err
	}
	readNothing := func(context.Context, io.Reader) (scan.Finding, error) {
		return scan.Skip(scan.ReasonTooLarge, "above the limit"), nil
	}
	readTwo := func(_ context.Context, r io.Reader) (scan.Finding, error) {
		_, err := io.ReadFull(r, make([]byte, 2))
		return scan.Finding{Outcome: contract.Malicious, Threats: []string{"Early"}}, err
	}
	failing := func(context.Context, io.Reader) (scan.Finding, error) {
		return scan.Finding{}, errors.New("rules crashed")
	}
	other := strings.Repeat("0", 64)
	cases := []struct {
		name    string
		sha     string
		size    int64
		readErr error
		scanFn  func(ctx context.Context, r io.Reader) (scan.Finding, error)
		status  sidecar.Status
		result  contract.Outcome // "" when nothing may be kept
	}{
		{name: "the claimed bytes, read by the engine", sha: contentSHA, size: 7, scanFn: readAll, status: sidecar.Success, result: contract.Clean},
		{name: "the claimed bytes, left unread by the engine", sha: contentSHA, size: 7, scanFn: readNothing, status: sidecar.Success, result: contract.Skipped},
		{name: "the claimed bytes, partly read by the engine", sha: contentSHA, size: 7, scanFn: readTwo, status: sidecar.Success, result: contract.Malicious},
		{name: "another sha256", sha: other, size: 7, scanFn: readAll, status: sidecar.Success},
		{name: "another size", sha: contentSHA, size: 8, scanFn: readAll, status: sidecar.Success},
		{name: "another sha256, left unread", sha: other, size: 7, scanFn: readNothing, status: sidecar.Success},
		{name: "another sha256, partly read", sha: other, size: 7, scanFn: readTwo, status: sidecar.Success},
		// Errors are never reused from the cache: kept either way.
		{name: "another sha256, engine error", sha: other, size: 7, scanFn: failing, status: sidecar.Success, result: contract.Error},
		{name: "reading the rest fails", sha: contentSHA, size: 7, scanFn: readNothing, readErr: errors.New("connection reset"), status: sidecar.Retry},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dapr := newFake()
			dapr.readErr = c.readErr
			eng := &fakeEngine{sigs: "s1", scanFn: c.scanFn}
			svc := scan.NewService(eng, dapr, quiet(), scan.Config{Timeout: time.Minute, OnUpload: true})
			require.Equal(t, c.status, svc.OnUploaded(context.Background(), uploadedEvent(t, c.sha, c.size)))
			require.EqualValues(t, 1, eng.scans.Load())
			if c.result == "" {
				assert.Empty(t, dapr.published, "nothing is announced for bytes that are not the claimed ones")
				assert.Empty(t, dapr.state, "nothing is cached for bytes that are not the claimed ones")
				return
			}
			require.Len(t, dapr.published, 1)
			assert.Equal(t, c.result, dapr.last().Result)
			assert.Equal(t, c.sha, dapr.published[0].SHA256)
			assert.Contains(t, dapr.state, scan.StateKey(c.sha, "fake"))
		})
	}
}

// TestOnUploadTakesOnlyRescansFromTheExtractor: an engine that starts on
// file.uploaded does not scan the extractor's file.extracted again, but
// does scan the api's rescans and re-drives.
func TestOnUploadTakesOnlyRescansFromTheExtractor(t *testing.T) {
	extracted := func(rescan bool) sidecar.Event {
		b, err := json.Marshal(contract.FileExtracted{Version: contract.SchemaVersion, FileID: "f1",
			SHA256: sha, Size: 7, ObjectKey: "obj", Rescan: rescan})
		require.NoError(t, err)
		return sidecar.Event{ID: "e1", Data: b}
	}
	clean := func(context.Context, io.Reader) (scan.Finding, error) {
		return scan.Finding{Outcome: contract.Clean}, nil
	}
	for _, c := range []struct {
		onUpload, rescan bool
		scans            int32
	}{
		{onUpload: true, rescan: false, scans: 0},
		{onUpload: true, rescan: true, scans: 1},
		{onUpload: false, rescan: false, scans: 1},
		{onUpload: false, rescan: true, scans: 1},
	} {
		t.Run(fmt.Sprintf("on upload %v, rescan %v", c.onUpload, c.rescan), func(t *testing.T) {
			dapr := newFake()
			eng := &fakeEngine{sigs: "s1", scanFn: clean}
			svc := scan.NewService(eng, dapr, quiet(), scan.Config{Timeout: time.Minute, OnUpload: c.onUpload})
			require.Equal(t, sidecar.Success, svc.OnExtracted(context.Background(), extracted(c.rescan)))
			assert.Equal(t, c.scans, eng.scans.Load())
			assert.Len(t, dapr.published, int(c.scans))
		})
	}
}

func TestReadsBytes(t *testing.T) {
	assert.True(t, scan.ReadsBytes(&fakeEngine{}))
	assert.False(t, scan.ReadsBytes(contentFree{&fakeEngine{}}))
}

type contentFree struct{ *fakeEngine }

func (contentFree) ContentFree() bool { return true }
