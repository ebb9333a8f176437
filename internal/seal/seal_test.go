package seal

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
)

func testBox(t *testing.T) *Box {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(NewKey())
	require.NoError(t, err)
	b, err := NewBox(key)
	require.NoError(t, err)
	return b
}

func TestSealOpen(t *testing.T) {
	b := testBox(t)
	s, err := b.Seal(contract.PasswordsTenant, []string{"infected", "ünïcode pw"})
	require.NoError(t, err)
	assert.Equal(t, contract.PasswordsTenant, s.Source)
	assert.NotContains(t, s.Sealed, "infected")
	got, err := b.Open(s)
	require.NoError(t, err)
	assert.Equal(t, []string{"infected", "ünïcode pw"}, got)

	again, err := b.Seal(contract.PasswordsTenant, []string{"infected", "ünïcode pw"})
	require.NoError(t, err)
	assert.NotEqual(t, s.Sealed, again.Sealed, "a fresh nonce each time")
}

func TestOpenRefuses(t *testing.T) {
	b := testBox(t)
	s, err := b.Seal(contract.PasswordsTenant, []string{"pw"})
	require.NoError(t, err)
	cases := map[string]contract.SealedPasswords{
		"another source":  {Source: contract.PasswordsUpload, Sealed: s.Sealed},
		"another key":     func() contract.SealedPasswords { o, _ := testBox(t).Seal(s.Source, []string{"pw"}); return o }(),
		"a flipped byte":  {Source: s.Source, Sealed: s.Sealed[:len(s.Sealed)-2] + flip(s.Sealed[len(s.Sealed)-2:])},
		"no prefix":       {Source: s.Source, Sealed: strings.TrimPrefix(s.Sealed, "v1.")},
		"not base64":      {Source: s.Source, Sealed: "v1.%%%"},
		"too short":       {Source: s.Source, Sealed: "v1.AAAA"},
		"empty":           {Source: s.Source},
		"unknown version": {Source: s.Source, Sealed: "v2." + strings.TrimPrefix(s.Sealed, "v1.")},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := b.Open(c)
			assert.ErrorIs(t, err, ErrOpen)
		})
	}
}

func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestNewBoxKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		_, err := NewBox(make([]byte, n))
		assert.Error(t, err, "%d bytes", n)
	}
}

type fakeSecrets struct {
	m     map[string]string
	err   error
	calls int
}

func (f *fakeSecrets) GetSecret(_ context.Context, store, name string) (map[string]string, error) {
	f.calls++
	if store != contract.SecretStore {
		return nil, errors.New("unknown store " + store)
	}
	return f.m, f.err
}

func TestKeyring(t *testing.T) {
	key := NewKey()
	t.Run("value named like the secret", func(t *testing.T) {
		s := &fakeSecrets{m: map[string]string{contract.ArchivePasswordsKey: key, "other": "x"}}
		k := NewKeyring(s, "")
		_, err := k.Box(context.Background())
		require.NoError(t, err)
		_, err = k.Box(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 1, s.calls, "the key is read once")
	})
	t.Run("the only value of a Kubernetes Secret", func(t *testing.T) {
		_, err := NewKeyring(&fakeSecrets{m: map[string]string{"key": key}}, "k8s-secret").Box(context.Background())
		require.NoError(t, err)
	})
	t.Run("refused", func(t *testing.T) {
		for name, m := range map[string]map[string]string{
			"two other values": {"a": key, "b": key},
			"not base64":       {contract.ArchivePasswordsKey: "%%%"},
			"16 bytes":         {contract.ArchivePasswordsKey: base64.StdEncoding.EncodeToString(make([]byte, 16))},
		} {
			_, err := NewKeyring(&fakeSecrets{m: m}, "").Box(context.Background())
			assert.Error(t, err, name)
		}
	})
	t.Run("a failure is tried again later", func(t *testing.T) {
		s := &fakeSecrets{err: errors.New("sidecar away")}
		k := NewKeyring(s, "")
		_, err := k.Box(context.Background())
		require.ErrorContains(t, err, "sidecar away")
		_, err = k.Box(context.Background())
		require.Error(t, err)
		assert.Equal(t, 1, s.calls, "no second read within a second")
		k.failedAt = k.failedAt.Add(-2e9)
		s.err, s.m = nil, map[string]string{contract.ArchivePasswordsKey: key}
		_, err = k.Box(context.Background())
		require.NoError(t, err)
	})
	t.Run("OpenAll", func(t *testing.T) {
		k := NewKeyring(&fakeSecrets{m: map[string]string{contract.ArchivePasswordsKey: key}}, "")
		b, err := k.Box(context.Background())
		require.NoError(t, err)
		tl, _ := b.Seal(contract.PasswordsTenant, []string{"a"})
		ul, _ := b.Seal(contract.PasswordsUpload, []string{"b", "c"})
		got, err := k.OpenAll(context.Background(), []contract.SealedPasswords{tl, ul})
		require.NoError(t, err)
		assert.Equal(t, []List{{contract.PasswordsTenant, []string{"a"}}, {contract.PasswordsUpload, []string{"b", "c"}}}, got)
		none := NewKeyring(&fakeSecrets{err: errors.New("never read")}, "")
		got, err = none.OpenAll(context.Background(), nil)
		assert.NoError(t, err)
		assert.Nil(t, got)
	})
}
