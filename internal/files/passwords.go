package files

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/rest"
)

// Limits of a password list, the tenant's or an upload's.
const (
	MaxArchivePasswords     = 16
	MaxArchivePasswordBytes = 128
)

// Sealer seals a password list under the key in the Dapr secret store
// (internal/seal).
type Sealer interface {
	Seal(ctx context.Context, source string, passwords []string) (contract.SealedPasswords, error)
}

// PasswordList is what anyone may know of a tenant's archive passwords
// (rest.PasswordList): never the passwords.
type PasswordList = rest.PasswordList

// PasswordStore keeps tenants' sealed lists.
type PasswordStore interface {
	ArchivePasswords(ctx context.Context, tenant string) (PasswordList, error)
	SetArchivePasswords(ctx context.Context, tenant, sealed string, count int, by string) (PasswordList, error)
	DeleteArchivePasswords(ctx context.Context, tenant string) error
}

// PasswordsRequest is the body of PUT /v1/settings/archive-passwords.
type PasswordsRequest struct {
	Passwords *[]string `json:"passwords"`
}

// Passwords serves a tenant's archive password list.
type Passwords struct {
	store  PasswordStore
	sealer Sealer
}

// NewPasswords wires Passwords.
func NewPasswords(store PasswordStore, sealer Sealer) *Passwords {
	return &Passwords{store: store, sealer: sealer}
}

// Get returns what may be known of the tenant's list.
func (p *Passwords) Get(ctx context.Context, tenant string) (PasswordList, error) {
	return p.store.ArchivePasswords(ctx, tenant)
}

// Set replaces the tenant's list; an empty list removes it.
func (p *Passwords) Set(ctx context.Context, tenant, by string, r PasswordsRequest) (PasswordList, error) {
	if r.Passwords == nil {
		return PasswordList{}, problem.Field("missing_field", "passwords", "passwords is required: a list of strings, [] to remove them all.")
	}
	pw := *r.Passwords
	if err := ValidatePasswords("passwords", pw); err != nil {
		return PasswordList{}, err
	}
	if len(pw) == 0 {
		return PasswordList{}, p.store.DeleteArchivePasswords(ctx, tenant)
	}
	sealed, err := seal(ctx, p.sealer, contract.PasswordsTenant, pw)
	if err != nil {
		return PasswordList{}, err
	}
	return p.store.SetArchivePasswords(ctx, tenant, sealed.Sealed, len(pw), by)
}

// Delete removes the tenant's list.
func (p *Passwords) Delete(ctx context.Context, tenant string) error {
	return p.store.DeleteArchivePasswords(ctx, tenant)
}

// ValidatePasswords checks a password list given in field.
func ValidatePasswords(field string, pw []string) error {
	if len(pw) > MaxArchivePasswords {
		return problem.Field("too_many_passwords", field,
			fmt.Sprintf("%s holds at most %d passwords.", field, MaxArchivePasswords))
	}
	seen := map[string]bool{}
	for i, s := range pw {
		switch {
		case s == "":
			return problem.Field("invalid_password", field, fmt.Sprintf("%s[%d] is empty.", field, i))
		case len(s) > MaxArchivePasswordBytes:
			return problem.Field("invalid_password", field,
				fmt.Sprintf("%s[%d] is longer than %d bytes.", field, i, MaxArchivePasswordBytes))
		case !utf8.ValidString(s):
			return problem.Field("invalid_password", field, fmt.Sprintf("%s[%d] is not valid UTF-8.", field, i))
		case seen[s]:
			return problem.Field("invalid_password", field, fmt.Sprintf("%s[%d] repeats an earlier password.", field, i))
		}
		seen[s] = true
	}
	return nil
}

// seal seals a list, or explains that passwords cannot be kept now.
func seal(ctx context.Context, s Sealer, source string, pw []string) (contract.SealedPasswords, error) {
	if s == nil {
		return contract.SealedPasswords{}, problem.New(problem.Unavailable, "passwords_unavailable",
			"Archive passwords are not enabled on this server: it has no key to seal them with.")
	}
	out, err := s.Seal(ctx, source, pw)
	if err != nil {
		return out, problem.Wrap(problem.Unavailable, "passwords_unavailable",
			"Archive passwords cannot be sealed now: the key in the secret store is unavailable; try again shortly.", err)
	}
	return out, nil
}
