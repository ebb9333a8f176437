package webhooks_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/intellidox/intellidox/internal/webhooks"
)

func TestCheckAddrClassifies(t *testing.T) {
	g := &webhooks.Guard{}
	refused := map[string]string{
		"127.0.0.1":        "loopback",
		"127.1.2.3":        "loopback",
		"::1":              "loopback",
		"169.254.169.254":  "metadata",
		"fd00:ec2::254":    "metadata",
		"169.254.1.1":      "link-local",
		"fe80::1":          "link-local",
		"fe80::1%eth0":     "link-local",
		"10.1.2.3":         "private",
		"172.16.0.1":       "private",
		"172.31.255.255":   "private",
		"192.168.1.1":      "private",
		"fc00::1":          "private",
		"fd12:3456::1":     "private",
		"100.64.0.1":       "shared",
		"100.127.255.254":  "shared",
		"0.0.0.0":          "unspecified",
		"::":               "unspecified",
		"224.0.0.1":        "multicast",
		"ff02::1":          "multicast",
		"255.255.255.255":  "reserved",
		"240.0.0.1":        "reserved",
		"198.18.0.1":       "benchmarking",
		"192.0.2.1":        "documentation",
		"::ffff:127.0.0.1": "loopback", // IPv4-mapped
		"::ffff:10.0.0.1":  "private",
		"64:ff9b::a00:1":   "private",  // NAT64 of 10.0.0.1
		"2002:7f00:1::1":   "loopback", // 6to4 of 127.0.0.1
	}
	for s, want := range refused {
		err := g.CheckAddr(netip.MustParseAddr(s))
		var fe *webhooks.ForbiddenError
		if assert.ErrorAs(t, err, &fe, s) {
			assert.Contains(t, fe.Reason, want, s)
		}
	}
	for _, s := range []string{"93.184.216.34", "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111",
		"::ffff:8.8.8.8", "64:ff9b::808:808"} {
		assert.NoError(t, g.CheckAddr(netip.MustParseAddr(s)), s)
	}

	allow := &webhooks.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.9.0.0/16")}}
	assert.NoError(t, allow.CheckAddr(netip.MustParseAddr("127.0.0.1")))
	assert.NoError(t, allow.CheckAddr(netip.MustParseAddr("::ffff:127.0.0.1")))
	assert.NoError(t, allow.CheckAddr(netip.MustParseAddr("10.9.8.7")))
	assert.Error(t, allow.CheckAddr(netip.MustParseAddr("127.0.0.2")), "the allow-list admits what it names, nothing more")
	assert.Error(t, allow.CheckAddr(netip.MustParseAddr("10.8.0.1")))
	assert.Error(t, allow.CheckAddr(netip.MustParseAddr("::1")))
}

// dnsServer answers A queries from a table on 127.0.0.1 (UDP), and counts
// them per name. answer may change over time (DNS rebinding).
type dnsServer struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr // name (with trailing dot) → successive answers
	queries map[string]int
	addr    string
}

func startDNS(t *testing.T, answers map[string][]netip.Addr) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	s := &dnsServer{answers: answers, queries: map[string]int{}, addr: pc.LocalAddr().String()}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := s.answer(buf[:n]); out != nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return s
}

func (s *dnsServer) answer(req []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionAvailable: true})
	b.EnableCompression()
	name := strings.ToLower(q.Name.String())
	s.mu.Lock()
	seq, known := s.answers[name]
	var a netip.Addr
	if known && q.Type == dnsmessage.TypeA {
		i := min(s.queries[name], len(seq)-1)
		s.queries[name]++
		a = seq[i]
	}
	s.mu.Unlock()
	if !known {
		b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeNameError})
	}
	_ = b.StartQuestions()
	_ = b.Question(q)
	if a.IsValid() {
		_ = b.StartAnswers()
		_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}, dnsmessage.AResource{A: a.As4()})
	}
	out, _ := b.Finish()
	return out
}

func (s *dnsServer) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[name]
}

// resolver sends every lookup to the test server.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.addr)
	}}
}

func TestCheckURL(t *testing.T) {
	dns := startDNS(t, map[string][]netip.Addr{
		"internal.example.test.": {netip.MustParseAddr("10.0.0.7")},
		"public.example.test.":   {netip.MustParseAddr("93.184.216.34")},
		"meta.example.test.":     {netip.MustParseAddr("169.254.169.254")},
	})
	g := &webhooks.Guard{Resolver: dns.resolver()}
	ctx := context.Background()
	for raw, want := range map[string]string{
		"http://127.0.0.1/hook":                   "loopback",
		"http://[::1]:8080/hook":                  "loopback",
		"http://169.254.169.254/latest/meta-data": "metadata",
		"https://internal.example.test/hook":      "private",
		"https://meta.example.test/":              "metadata",
		"ftp://public.example.test/":              "only http and https",
		"file:///etc/passwd":                      "not an absolute",
		"gopher://public.example.test/":           "only http and https",
		"http://user:pw@public.example.test/":     "credentials",
		"http://0x7f000001/":                      "",
	} {
		_, err := g.CheckURL(ctx, raw)
		require.Error(t, err, raw)
		var fe *webhooks.ForbiddenError
		var ue *webhooks.UnresolvableError
		if want == "" { // not an IP literal for Go; it must not resolve to anything either
			assert.True(t, errors.As(err, &ue) || errors.As(err, &fe), "%s: %v", raw, err)
			continue
		}
		if assert.ErrorAs(t, err, &fe, raw) {
			assert.Contains(t, fe.Reason, want, raw)
		}
	}
	u, err := g.CheckURL(ctx, "https://public.example.test/hook?x=1")
	require.NoError(t, err)
	assert.Equal(t, "public.example.test", u.Hostname())
	_, err = g.CheckURL(ctx, "https://nowhere.example.test/")
	var ue *webhooks.UnresolvableError
	assert.ErrorAs(t, err, &ue)
	assert.Equal(t, 1, dns.count("internal.example.test."), "the private answer came from the test DNS server")
}
