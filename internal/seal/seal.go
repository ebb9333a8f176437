// Package seal keeps archive password lists sealed wherever they rest or
// travel: AES-256-GCM under one key that lives in the Dapr secret store
// (contract.SecretStore). The api seals a tenant's or an upload's list; it
// stays sealed in PostgreSQL and in every event; the extractor and the
// scanners open it only to try it on encrypted content.
package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
)

// prefix versions the sealed format: "v1." then the base64url (no padding)
// of the 12-byte nonce and the ciphertext.
const prefix = "v1."

// Limits of one list.
const (
	MaxPasswords     = 16
	MaxPasswordBytes = 128
)

// ErrOpen is returned for a sealed list that does not open: another key, or
// altered bytes.
var ErrOpen = errors.New("the sealed password list does not open with this key")

// Box seals and opens password lists with one key.
type Box struct{ aead cipher.AEAD }

// NewBox returns a Box for a 32-byte key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("the archive password key must be 32 bytes, not %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal seals passwords as the list named source. The source is bound as
// additional data: a list sealed as a tenant's does not open as another.
func (b *Box) Seal(source string, passwords []string) (contract.SealedPasswords, error) {
	plain, err := json.Marshal(passwords)
	if err != nil {
		return contract.SealedPasswords{}, err
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return contract.SealedPasswords{}, err
	}
	out := b.aead.Seal(nonce, nonce, plain, []byte(source))
	return contract.SealedPasswords{Source: source, Sealed: prefix + base64.RawURLEncoding.EncodeToString(out)}, nil
}

// Open returns the passwords of a sealed list.
func (b *Box) Open(s contract.SealedPasswords) ([]string, error) {
	if len(s.Sealed) < len(prefix) || s.Sealed[:len(prefix)] != prefix {
		return nil, fmt.Errorf("%w: unknown format", ErrOpen)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s.Sealed[len(prefix):])
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return nil, fmt.Errorf("%w: malformed", ErrOpen)
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(s.Source))
	if err != nil {
		return nil, ErrOpen
	}
	var pw []string
	if err := json.Unmarshal(plain, &pw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	return pw, nil
}

// Secrets reads a secret from the Dapr secret store; *sidecar.Client is one.
type Secrets interface {
	GetSecret(ctx context.Context, store, name string) (map[string]string, error)
}

// Keyring loads the key from the secret store on first use and keeps it.
// A failed load is tried again on the next use, at most once a second.
type Keyring struct {
	secrets Secrets
	name    string

	mu       sync.Mutex
	box      *Box
	err      error
	failedAt time.Time
}

// NewKeyring reads the key named name (contract.ArchivePasswordsKey if
// empty) from contract.SecretStore through secrets.
func NewKeyring(secrets Secrets, name string) *Keyring {
	if name == "" {
		name = contract.ArchivePasswordsKey
	}
	return &Keyring{secrets: secrets, name: name}
}

// Box returns the Box, loading the key if needed.
func (k *Keyring) Box(ctx context.Context) (*Box, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.box != nil {
		return k.box, nil
	}
	if k.err != nil && time.Since(k.failedAt) < time.Second {
		return nil, k.err
	}
	k.box, k.err = k.load(ctx)
	if k.err != nil {
		k.failedAt = time.Now()
	}
	return k.box, k.err
}

func (k *Keyring) load(ctx context.Context) (*Box, error) {
	m, err := k.secrets.GetSecret(ctx, contract.SecretStore, k.name)
	if err != nil {
		return nil, fmt.Errorf("read secret %q from secret store %q: %w", k.name, contract.SecretStore, err)
	}
	// Stores answer {name: value} (AWS Secrets Manager, a local file) or
	// the keys of one object (a Kubernetes Secret): take the value named
	// like the secret, else the only one.
	v, ok := m[k.name]
	if !ok && len(m) == 1 {
		for _, only := range m {
			v, ok = only, true
		}
	}
	if !ok {
		return nil, fmt.Errorf("secret %q in secret store %q holds no single value", k.name, contract.SecretStore)
	}
	key, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("secret %q is not base64: %w", k.name, err)
	}
	return NewBox(key)
}

// NewKey returns a fresh key, base64-encoded as the secret store holds it.
func NewKey() string {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.StdEncoding.EncodeToString(key)
}

// List is an opened password list.
type List struct {
	Source    string
	Passwords []string
}

// OpenAll opens every sealed list. Without lists it reads no key.
func (k *Keyring) OpenAll(ctx context.Context, sealed []contract.SealedPasswords) ([]List, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	box, err := k.Box(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]List, 0, len(sealed))
	for _, s := range sealed {
		pw, err := box.Open(s)
		if err != nil {
			return nil, fmt.Errorf("the %s password list: %w", s.Source, err)
		}
		out = append(out, List{Source: s.Source, Passwords: pw})
	}
	return out, nil
}

// Seal seals passwords as the list named source with the keyring's key
// (files.Sealer).
func (k *Keyring) Seal(ctx context.Context, source string, passwords []string) (contract.SealedPasswords, error) {
	box, err := k.Box(ctx)
	if err != nil {
		return contract.SealedPasswords{}, err
	}
	return box.Seal(source, passwords)
}

// Opener opens the sealed password lists an event carries; *Keyring is one.
type Opener interface {
	OpenAll(ctx context.Context, sealed []contract.SealedPasswords) ([]List, error)
}

// Passwords returns the password lists to try on encrypted content: the
// built-in list, then the lists an event carries. Lists that cannot be
// opened (no key in the secret store, another key) are left out and
// logged: the content is still inspected, and what stays locked says so.
func Passwords(ctx context.Context, log *slog.Logger, keys Opener, sealed []contract.SealedPasswords) []archive.Passwords {
	lists := []archive.Passwords{archive.Builtin()}
	if len(sealed) == 0 || keys == nil {
		return lists
	}
	opened, err := keys.OpenAll(ctx, sealed)
	if err != nil {
		log.ErrorContext(ctx, "password lists not tried", "err", err)
		return lists
	}
	for _, l := range opened {
		lists = append(lists, archive.Passwords{Source: l.Source, List: l.Passwords})
	}
	return lists
}
