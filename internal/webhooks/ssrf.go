package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Guard keeps webhook deliveries away from the network the api lives in
// (SSRF): it refuses loopback, private, link-local (the cloud metadata
// service included), shared, multicast and reserved addresses unless an
// operator allow-list names them. It checks a URL when a subscription is
// created, after DNS resolution, and every connection a delivery makes, on
// the address actually dialled, so DNS rebinding and redirects are caught.
type Guard struct {
	// Allow admits these networks even when they are forbidden otherwise
	// (WEBHOOK_ALLOW_NETS): the local stack and tests allow 127.0.0.1.
	Allow []netip.Prefix
	// Resolver resolves host names, at creation and at dial time; nil is
	// net.DefaultResolver.
	Resolver *net.Resolver
}

// ForbiddenError says why a URL or address may not be called. Reason is
// safe to show to the subscription's owner.
type ForbiddenError struct {
	Reason string
}

func (e *ForbiddenError) Error() string { return "webhook destination forbidden: " + e.Reason }

// blocked lists the networks a webhook may never reach by default, most
// specific first where they nest, with the reason a caller is told.
var blocked = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("169.254.169.254/32"), "the address is the cloud metadata service"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the address is the cloud metadata service"},
	{netip.MustParsePrefix("0.0.0.0/8"), "the address is unspecified (\"this network\")"},
	{netip.MustParsePrefix("10.0.0.0/8"), "the address is private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "the address is in shared (carrier-grade NAT) space"},
	{netip.MustParsePrefix("127.0.0.0/8"), "the address is loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "the address is link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "the address is private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "the address is reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "the address is reserved for documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "the address is reserved"},
	{netip.MustParsePrefix("192.168.0.0/16"), "the address is private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "the address is reserved for benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "the address is reserved for documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "the address is reserved for documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "the address is multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "the address is reserved"}, // and 255.255.255.255
	{netip.MustParsePrefix("::/128"), "the address is unspecified"},
	{netip.MustParsePrefix("::1/128"), "the address is loopback"},
	{netip.MustParsePrefix("100::/64"), "the address is reserved (discard)"},
	{netip.MustParsePrefix("2001:db8::/32"), "the address is reserved for documentation"},
	{netip.MustParsePrefix("fc00::/7"), "the address is private (unique local)"},
	{netip.MustParsePrefix("fe80::/10"), "the address is link-local"},
	{netip.MustParsePrefix("fec0::/10"), "the address is private (site-local)"},
	{netip.MustParsePrefix("ff00::/8"), "the address is multicast"},
}

// embedded returns the IPv4 address inside IPv4-mapped, NAT64 and 6to4
// addresses, which reach IPv4 hosts through IPv6.
func embedded(a netip.Addr) (netip.Addr, bool) {
	if a.Is4In6() {
		return a.Unmap(), true
	}
	b := a.As16()
	switch {
	case netip.MustParsePrefix("64:ff9b::/96").Contains(a), netip.MustParsePrefix("64:ff9b:1::/48").Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case netip.MustParsePrefix("2002::/16").Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// CheckAddr returns a *ForbiddenError when a may not be called.
func (g *Guard) CheckAddr(a netip.Addr) error {
	a = a.WithZone("")
	for _, p := range g.Allow {
		if p.Contains(a) || a.Is4In6() && p.Contains(a.Unmap()) {
			return nil
		}
	}
	if !a.IsValid() {
		return &ForbiddenError{Reason: "the address is not valid"}
	}
	if v4, ok := embedded(a); ok {
		if err := g.CheckAddr(v4); err != nil {
			return err
		}
	}
	for _, b := range blocked {
		if b.prefix.Contains(a) {
			return &ForbiddenError{Reason: b.reason}
		}
	}
	return nil
}

// CheckURL parses a subscription's URL and checks its scheme and every
// address its host resolves to now. Resolution failures are reported as
// *UnresolvableError.
func (g *Guard) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, &ForbiddenError{Reason: "the URL is not an absolute http(s) URL"}
	}
	if err := checkScheme(u); err != nil {
		return nil, err
	}
	if u.User != nil {
		return nil, &ForbiddenError{Reason: "the URL must not carry credentials"}
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return u, g.CheckAddr(a)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := g.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, &UnresolvableError{Host: host, Err: err}
	}
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			return nil, &ForbiddenError{Reason: fmt.Sprintf("%s resolves to an address that is refused: %s",
				host, err.(*ForbiddenError).Reason)}
		}
	}
	return u, nil
}

// UnresolvableError is a host name that does not resolve.
type UnresolvableError struct {
	Host string
	Err  error
}

func (e *UnresolvableError) Error() string { return "webhook host " + e.Host + " does not resolve" }
func (e *UnresolvableError) Unwrap() error { return e.Err }

func checkScheme(u *url.URL) error {
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return &ForbiddenError{Reason: "only http and https URLs are allowed"}
	}
	return nil
}

func (g *Guard) resolver() *net.Resolver {
	if g.Resolver != nil {
		return g.Resolver
	}
	return net.DefaultResolver
}

// control runs on every connection a delivery makes, after resolution and
// before connecting: the one check DNS rebinding cannot dodge.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &ForbiddenError{Reason: "the address is not valid"}
	}
	return g.CheckAddr(ap.Addr())
}

// maxRedirects bounds the redirects one attempt follows.
const maxRedirects = 3

// Client returns the HTTP client deliveries use: every dial is checked,
// redirects keep to http(s) and are few, no proxy from the environment
// (a proxy would dial on our behalf, unchecked), and each attempt ends
// after timeout.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Resolver: g.resolver(), Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return errors.New("too many redirects")
			}
			return checkScheme(req.URL)
		},
	}
}
