// Package protect scans objects that arrive in storage without the API:
// objects written straight into protected buckets (announced by the
// buckets' event notifications) and objects already there (sweeps). Each
// object is queued once per version, read once to learn its SHA-256, copied
// into the upload bucket unless its content needs no bytes, and handed to
// the files service as an upload of the rule's tenant, after which it is
// processed, deduplicated and reported like any other upload.
package protect

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
)

// Rule protects the objects of one bucket under a prefix, for one tenant.
// Include and Exclude are glob patterns (Match); an object is covered if it
// is under Prefix, matches an Include pattern (or there is none) and no
// Exclude pattern.
type Rule struct {
	Bucket  string   `json:"bucket"`
	Prefix  string   `json:"prefix,omitempty"`
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
	Tenant  string   `json:"tenant"`
}

// Rules is the operator's list (PROTECTED_BUCKETS).
type Rules []Rule

// ParseRules reads PROTECTED_BUCKETS: a JSON array of rules. uploadBucket,
// where IntelliDox keeps uploads, cannot be protected: its own writes would
// come back as events.
func ParseRules(s, uploadBucket string) (Rules, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var rs Rules
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return nil, fmt.Errorf(`want a JSON array such as [{"bucket":"inbox","prefix":"in/","include":["*.pdf"],"tenant":"acme"}]: %w`, err)
	}
	for i, r := range rs {
		switch {
		case r.Bucket == "":
			return nil, fmt.Errorf("rule %d: bucket is required", i)
		case r.Tenant == "":
			return nil, fmt.Errorf("rule %d (%s): tenant is required: protected objects become uploads of this tenant", i, r.Bucket)
		case r.Bucket == uploadBucket:
			return nil, fmt.Errorf("rule %d: %s is the upload bucket (S3_BUCKET); protect another bucket", i, r.Bucket)
		}
		if err := ValidPatterns(append(append([]string{}, r.Include...), r.Exclude...)); err != nil {
			return nil, fmt.Errorf("rule %d (%s): %w", i, r.Bucket, err)
		}
	}
	return rs, nil
}

// Covers reports whether the rule protects key in bucket.
func (r Rule) Covers(bucket, key string) bool {
	return bucket == r.Bucket && strings.HasPrefix(key, r.Prefix) && Selected(key, r.Include, r.Exclude)
}

// For returns the rules that protect key in bucket: one upload per tenant.
func (rs Rules) For(bucket, key string) []Rule {
	var out []Rule
	for _, r := range rs {
		if r.Covers(bucket, key) {
			out = append(out, r)
		}
	}
	return out
}

// Allows reports whether tenant may sweep bucket: some rule of the tenant
// protects part of it. What a sweep queues is still limited to what the
// tenant's rules cover.
func (rs Rules) Allows(tenant, bucket string) bool {
	for _, r := range rs {
		if r.Tenant == tenant && r.Bucket == bucket {
			return true
		}
	}
	return false
}

// CoversFor reports whether one of tenant's rules protects key in bucket.
func (rs Rules) CoversFor(tenant, bucket, key string) bool {
	for _, r := range rs {
		if r.Tenant == tenant && r.Covers(bucket, key) {
			return true
		}
	}
	return false
}

// Selected reports whether key matches one of include (or include is
// empty) and none of exclude.
func Selected(key string, include, exclude []string) bool {
	for _, p := range exclude {
		if Match(p, key) {
			return false
		}
	}
	if len(include) == 0 {
		return true
	}
	for _, p := range include {
		if Match(p, key) {
			return true
		}
	}
	return false
}

// MaxPatterns and MaxPatternBytes bound a rule's or a sweep's patterns.
const (
	MaxPatterns     = 64
	MaxPatternBytes = 512
)

// ValidPatterns checks patterns are usable globs.
func ValidPatterns(ps []string) error {
	if len(ps) > MaxPatterns {
		return fmt.Errorf("at most %d patterns", MaxPatterns)
	}
	for _, p := range ps {
		if p == "" || len(p) > MaxPatternBytes {
			return fmt.Errorf("pattern %q: 1 to %d bytes", p, MaxPatternBytes)
		}
		if _, err := compile(p); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	return nil
}

// Match reports whether key matches the glob pattern. `*` matches any run
// of characters but /, `**` any run including /, `?` one character but /,
// and `[...]` a class as in path.Match. A pattern without / is matched
// against the key's last segment (so `*.pdf` selects PDFs at any depth);
// one with / against the whole key.
func Match(pattern, key string) bool {
	re, err := compile(pattern)
	if err != nil {
		return false
	}
	if !strings.Contains(pattern, "/") {
		key = path.Base(key)
	}
	return re.MatchString(key)
}

// compiled caches patterns: a sweep matches every key it lists.
var compiled sync.Map // pattern → *regexp.Regexp

func compile(p string) (*regexp.Regexp, error) {
	if re, ok := compiled.Load(p); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := translate(p)
	if err == nil {
		compiled.Store(p, re)
	}
	return re, err
}

func translate(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			if i+1 < len(p) && p[i+1] == '*' {
				i++
				if i+1 < len(p) && p[i+1] == '/' { // "**/" also matches no directory
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [")
			}
			class := p[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			if class == "" || class == "^" {
				return nil, fmt.Errorf("empty class")
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
