// Package extract reads a file once, as a stream, and says what it is: its
// hashes, its type detected from content, and per-format metadata.
package extract

import (
	"crypto/md5"  //nolint:gosec // MD5 is reported for lookup by hash, not for security
	"crypto/sha1" //nolint:gosec // likewise
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"github.com/gabriel-vasile/mimetype"
)

// Summary is what one pass over the bytes yields.
type Summary struct {
	SHA256, MD5, SHA1 string
	Size              int64
	MIMEType          string
	Extension         string // the canonical extension of the detected type
	Metadata          map[string]any
}

// headSize is how much of the start of a file type detection looks at.
const headSize = 3072

// head keeps the first headSize bytes written to it.
type head struct{ b []byte }

func (h *head) Write(p []byte) (int, error) {
	if room := headSize - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Analyze reads r to the end, hashing and detecting in the same pass. Memory
// use is constant in the size of r.
func Analyze(r io.Reader) (Summary, error) {
	s256, s1, m5 := sha256.New(), sha1.New(), md5.New() //nolint:gosec
	h := &head{b: make([]byte, 0, headSize)}
	buf := make([]byte, 256<<10)
	n, err := io.CopyBuffer(io.MultiWriter(s256, s1, m5, h), r, buf)
	if err != nil {
		return Summary{}, fmt.Errorf("read after %d bytes: %w", n, err)
	}
	mt := mimetype.Detect(h.b)
	s := Summary{
		SHA256:    sum(s256),
		SHA1:      sum(s1),
		MD5:       sum(m5),
		Size:      n,
		MIMEType:  mt.String(),
		Extension: mt.Extension(),
	}
	s.Metadata = describe(mt, h.b)
	return s, nil
}

func sum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// describe builds the metadata object stored with the file. Per-format
// analyzers (documents, images, archives, executables) plug in here.
func describe(mt *mimetype.MIME, _ []byte) map[string]any {
	return map[string]any{
		"type": map[string]any{
			"mime":      mt.String(),
			"extension": mt.Extension(),
		},
	}
}
