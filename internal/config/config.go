// Package config reads typed settings from the environment. Every setting has
// a default that works for the local stack; docs/configuration.md lists them.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env reads variables and collects every parse error, so a misconfigured
// service reports all its mistakes at once.
type Env struct {
	errs []error
}

// String returns the variable or def.
func (e *Env) String(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// Int64 returns the variable as an integer, or def. Sizes accept KiB, MiB
// and GiB suffixes.
func (e *Env) Int64(key string, def int64) int64 {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	n, err := ParseSize(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", key, err))
		return def
	}
	return n
}

// Int returns the variable as an int, or def.
func (e *Env) Int(key string, def int) int { return int(e.Int64(key, int64(def))) }

// Duration returns the variable as a Go duration (e.g. "15m"), or def.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", key, err))
		return def
	}
	return d
}

// Bool returns the variable as a boolean, or def.
func (e *Env) Bool(key string, def bool) bool {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", key, err))
		return def
	}
	return b
}

// List returns a comma-separated variable, trimmed, or def.
func (e *Env) List(key string, def []string) []string {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Fail records a validation error found by the caller.
func (e *Env) Fail(err error) { e.errs = append(e.errs, err) }

// Err returns every error seen, or nil.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// ParseSize parses "1024", "64KiB", "10MiB" or "2GiB".
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	return n * mult, nil
}
