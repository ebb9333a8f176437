package extract

import (
	"bytes"
	"crypto/md5"  //nolint:gosec
	"crypto/sha1" //nolint:gosec
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAnalyze(t *testing.T) {
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), 1<<20)...)
	tests := []struct {
		name string
		data []byte
		mime string
	}{
		{"pdf larger than one buffer", pdf, "application/pdf"},
		{"plain text", []byte("hello, world\n"), "text/plain; charset=utf-8"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "image/png"},
		{"empty", nil, "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Analyze(bytes.NewReader(tt.data))
			require.NoError(t, err)
			s256, s1, m5 := sha256.Sum256(tt.data), sha1.Sum(tt.data), md5.Sum(tt.data) //nolint:gosec
			assert.Equal(t, hex.EncodeToString(s256[:]), s.SHA256)
			assert.Equal(t, hex.EncodeToString(s1[:]), s.SHA1)
			assert.Equal(t, hex.EncodeToString(m5[:]), s.MD5)
			assert.Equal(t, int64(len(tt.data)), s.Size)
			assert.Equal(t, tt.mime, s.MIMEType)
		})
	}
}

func BenchmarkAnalyze(b *testing.B) {
	data := bytes.Repeat([]byte{0x5a, 0x17, 0x99, 0x03}, 4<<20) // 16 MiB
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Analyze(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
