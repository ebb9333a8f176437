package testenv

import "testing"

// AdminKey returns a new administrator key of tenant.
func (s *Stack) AdminKey(t testing.TB, tenant string) string {
	t.Helper()
	return s.createKey(t, tenant, true)
}
