package natsjs_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/natsjs"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestEnsureStream against a real nats-server: created, then again as it
// is (no change), then with another configuration (updated); and a server
// without JetStream says so.
func TestEnsureStream(t *testing.T) {
	ctx := context.Background()
	addr := testenv.StartNATS(t, true)
	s := natsjs.Stream{Name: "T", Subjects: []string{"t-events"}, MaxAge: time.Hour}
	require.NoError(t, natsjs.EnsureStream(ctx, addr, s))
	require.NoError(t, natsjs.EnsureStream(ctx, addr, s), "again: already there")
	s.MaxAge = 2 * time.Hour
	require.NoError(t, natsjs.EnsureStream(ctx, addr, s), "another configuration: updated")

	plain := testenv.StartNATS(t, false)
	err := natsjs.EnsureStream(ctx, plain, s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "JetStream is not enabled")

	port := testenv.FreePort(t)
	err = natsjs.EnsureStream(ctx, "127.0.0.1:"+strconv.Itoa(port), s)
	require.Error(t, err, "nothing listening")
}
