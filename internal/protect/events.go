package protect

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// Object is one version of an object in a protected bucket.
type Object struct {
	Bucket string
	Key    string
	Size   int64
	ETag   string // without quotes
}

// BadEvent is a message that is not an S3 event notification: retrying
// it cannot help.
type BadEvent struct{ Err error }

func (e *BadEvent) Error() string { return "not an S3 event notification: " + e.Err.Error() }
func (e *BadEvent) Unwrap() error { return e.Err }

// s3Event is an S3 event notification as S3 (through SNS) and versitygw
// (through NATS) send it. Only what a scan needs is read.
type s3Event struct {
	Records []struct {
		EventName string `json:"eventName"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
				ETag string `json:"eTag"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	Event string `json:"Event"` // "s3:TestEvent" when a notification is configured
}

// ParseEvent returns the objects an S3 event notification announces as
// created. Other events (removals, tagging, S3's test event) announce none.
//
// S3 sends keys form-encoded (a space as +); versitygw sends them as they
// are. Keys are returned as sent: Service.OnEvent resolves them.
func ParseEvent(data []byte) ([]Object, error) {
	var ev s3Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, &BadEvent{err}
	}
	var out []Object
	for _, r := range ev.Records {
		if !strings.HasPrefix(r.EventName, "s3:ObjectCreated:") && !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		o := r.S3.Object
		if r.S3.Bucket.Name == "" || o.Key == "" {
			return nil, &BadEvent{fmt.Errorf("%s without bucket or key", r.EventName)}
		}
		out = append(out, Object{Bucket: r.S3.Bucket.Name, Key: o.Key, Size: o.Size, ETag: CleanETag(o.ETag)})
	}
	return out, nil
}

// DecodedKey decodes a key as S3 notifications encode it (form encoding),
// or returns "" if it decodes to itself or not at all.
func DecodedKey(key string) string {
	d, err := url.QueryUnescape(key)
	if err != nil || d == key {
		return ""
	}
	return d
}

// CleanETag removes the quotes S3 puts around ETags in headers.
func CleanETag(e string) string { return strings.Trim(e, `"`) }
