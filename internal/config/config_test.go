package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnv(t *testing.T) {
	t.Setenv("X_SIZE", "10MiB")
	t.Setenv("X_DUR", "1m30s")
	t.Setenv("X_LIST", " a, b,,c ")
	t.Setenv("X_BAD", "many")
	var e Env
	assert.Equal(t, int64(10<<20), e.Int64("X_SIZE", 1))
	assert.Equal(t, 90*time.Second, e.Duration("X_DUR", 0))
	assert.Equal(t, []string{"a", "b", "c"}, e.List("X_LIST", nil))
	assert.Equal(t, "def", e.String("X_UNSET", "def"))
	require.NoError(t, e.Err())
	assert.Equal(t, int64(7), e.Int64("X_BAD", 7))
	assert.ErrorContains(t, e.Err(), "X_BAD")
}
