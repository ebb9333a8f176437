package webhooks

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSignStandardWebhooksVector reproduces the published Standard Webhooks
// (Svix) vector, so that receivers' existing libraries verify what we send.
func TestSignStandardWebhooksVector(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
		[]byte(`{"test": 2432232314}`))
	require.NoError(t, err)
	assert.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", got)

	// Each input counts: a change to any of them changes the signature.
	for _, c := range []struct {
		id   string
		ts   int64
		body string
	}{
		{"msg_p5jXN8AQM9LWM0D4loKWxJeK", 1614265330, `{"test": 2432232314}`},
		{"msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, `{"test": 2432232314}`},
		{"msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, `{"test": 2432232315}`},
	} {
		other, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", c.id, c.ts, []byte(c.body))
		require.NoError(t, err)
		assert.NotEqual(t, got, other, "%+v", c)
	}
}

func TestNewSecret(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	assert.True(t, strings.HasPrefix(a, SecretPrefix))
	assert.NotEqual(t, a, b)
	k, err := secretKey(a)
	require.NoError(t, err)
	assert.Len(t, k, 32)
	_, err = Sign("whsec_not base64!", "id", 1, nil)
	assert.Error(t, err)
}
