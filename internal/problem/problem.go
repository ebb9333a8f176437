// Package problem carries errors with a stable code and a safe message from
// business code to clients, as RFC 9457 application/problem+json.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Kind classifies an error; the HTTP layer maps it to a status in one place.
type Kind int

// Error kinds.
const (
	Internal Kind = iota
	Invalid
	NotFound
	Conflict
	TooLarge
	Unsupported
	Unavailable
	Unauthorized
	Forbidden
	RateLimited
	MethodNotAllowed
	Gone
	Unprocessable
)

// Error is an error a client may see. Code is stable and documented; Detail
// is a safe human message; Err, if any, is for logs only.
type Error struct {
	Kind   Kind
	Code   string
	Detail string
	Field  string // the offending input field, if any
	// Extensions are extra members of the problem document (RFC 9457
	// section 3.2), such as the verdict that blocked a download.
	Extensions map[string]any
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Detail, e.Err)
	}
	return e.Code + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error of kind with a stable code and a safe detail.
func New(kind Kind, code, detail string) *Error {
	return &Error{Kind: kind, Code: code, Detail: detail}
}

// Field returns an Invalid error about one input field.
func Field(code, field, detail string) *Error {
	return &Error{Kind: Invalid, Code: code, Field: field, Detail: detail}
}

// Wrap returns an Error of kind that keeps err for the logs.
func Wrap(kind Kind, code, detail string, err error) *Error {
	return &Error{Kind: kind, Code: code, Detail: detail, Err: err}
}

// Status is the HTTP status for a kind.
func (k Kind) Status() int {
	switch k {
	case Invalid:
		return http.StatusBadRequest
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case Unsupported:
		return http.StatusUnsupportedMediaType
	case Unavailable:
		return http.StatusServiceUnavailable
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case RateLimited:
		return http.StatusTooManyRequests
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case Gone:
		return http.StatusGone
	case Unprocessable:
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// Body is the RFC 9457 document.
type Body struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code"`
	Field    string `json:"field,omitempty"`
	// Extensions are merged into the document by MarshalJSON.
	Extensions map[string]any `json:"-"`
}

// TypeBase prefixes every problem type URI; the page documents each code.
const TypeBase = "https://intellidox.dev/problems/"

// Write sends err as problem+json. Errors that are not *Error become a 500
// with code "internal" and are logged; their text never reaches the client.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var pe *Error
	if !errors.As(err, &pe) {
		pe = Wrap(Internal, "internal", "An internal error occurred. It has been logged.", err)
	}
	status := pe.Kind.Status()
	if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "code", pe.Code, "err", err)
	}
	if pe.Kind == Unavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Body{
		Type:       TypeBase + pe.Code,
		Title:      http.StatusText(status),
		Status:     status,
		Detail:     pe.Detail,
		Instance:   r.URL.Path,
		Code:       pe.Code,
		Field:      pe.Field,
		Extensions: pe.Extensions,
	})
}

// MarshalJSON writes the standard members, then the extensions that do not
// collide with them.
func (b Body) MarshalJSON() ([]byte, error) {
	type plain Body
	std, err := json.Marshal(plain(b))
	if err != nil || len(b.Extensions) == 0 {
		return std, err
	}
	var m map[string]any
	if err := json.Unmarshal(std, &m); err != nil {
		return nil, err
	}
	for k, v := range b.Extensions {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return json.Marshal(m)
}
