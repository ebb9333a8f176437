package webhooks

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCheckAddrMutation proves the table is what refuses: with the
// blocked list emptied, the hostile addresses pass, so the test above
// would fail.
func TestCheckAddrMutation(t *testing.T) {
	saved := blocked
	t.Cleanup(func() { blocked = saved })
	blocked = nil
	g := &Guard{}
	for _, s := range []string{"127.0.0.1", "::1", "169.254.169.254", "10.1.2.3"} {
		assert.NoError(t, g.CheckAddr(netip.MustParseAddr(s)), "mutated filter lets %s through", s)
	}
}
