package scan

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/sidecar"
)

type versionedEngine struct {
	Engine
	mu  sync.Mutex
	sig string
}

func (e *versionedEngine) Name() string { return "fake" }
func (e *versionedEngine) Versions(context.Context) (string, string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return "1.0", e.sig, nil
}
func (e *versionedEngine) set(sig string) { e.mu.Lock(); e.sig = sig; e.mu.Unlock() }

type memSidecar struct {
	sidecarAPI
	mu        sync.Mutex
	state     map[string][]byte
	published []contract.EngineUpdated
	down      int // GetState fails this many more times, as before the sidecar is up
}

func (m *memSidecar) GetState(_ context.Context, key string, v any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down > 0 {
		m.down--
		return errors.New("connection refused")
	}
	b, ok := m.state[key]
	if !ok {
		return sidecar.ErrNotFound
	}
	return json.Unmarshal(b, v)
}

func (m *memSidecar) SaveState(_ context.Context, key string, v any) error {
	b, _ := json.Marshal(v)
	m.mu.Lock()
	m.state[key] = b
	m.mu.Unlock()
	return nil
}

func (m *memSidecar) Publish(_ context.Context, topic string, v any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if topic == contract.TopicEngineUpdated {
		m.published = append(m.published, v.(contract.EngineUpdated))
	}
	return nil
}

func (m *memSidecar) updates() []contract.EngineUpdated {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]contract.EngineUpdated(nil), m.published...)
}

func TestWatchSignatures(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := &versionedEngine{sig: "v1"}
	sc := &memSidecar{state: map[string][]byte{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { WatchSignatures(ctx, eng, sc, log, 5*time.Millisecond); close(done) }()

	require.Eventually(t, func() bool {
		var v versionState
		return sc.GetState(ctx, VersionKey("fake"), &v) == nil && v.SignatureVersion == "v1"
	}, 5*time.Second, 5*time.Millisecond)
	assert.Empty(t, sc.updates(), "the first version seen is remembered, not announced")

	eng.set("v2")
	require.Eventually(t, func() bool { return len(sc.updates()) == 1 }, 5*time.Second, 5*time.Millisecond)
	u := sc.updates()[0]
	assert.Equal(t, "fake", u.Engine)
	assert.Equal(t, "v2", u.SignatureVersion)
	assert.Equal(t, "v1", u.Previous)
	cancel()
	<-done

	// A change while the scanner was down is announced at start, even when
	// the sidecar is not up yet when the scanner starts.
	eng.set("v3")
	sc.mu.Lock()
	sc.down = 3
	sc.mu.Unlock()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go WatchSignatures(ctx, eng, sc, log, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(sc.updates()) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, "v2", sc.updates()[1].Previous)
}
