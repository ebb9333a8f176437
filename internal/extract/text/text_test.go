package text

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func utf16Bytes(s string, le bool) []byte {
	var b []byte
	if le {
		b = []byte{0xff, 0xfe}
	} else {
		b = []byte{0xfe, 0xff}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if le {
			b = binary.LittleEndian.AppendUint16(b, u)
		} else {
			b = binary.BigEndian.AppendUint16(b, u)
		}
	}
	return b
}

func TestScan(t *testing.T) {
	long := strings.Repeat("0123456789", 30)
	tests := []struct {
		name string
		data []byte
		want Info
	}{
		{"ascii", []byte("one\ntwo\nthree\n"), Info{Encoding: "ascii", LineCount: 3, Preview: "one\ntwo\nthree\n"}},
		{"last line without newline", []byte("a\nb"), Info{Encoding: "ascii", LineCount: 2, Preview: "a\nb"}},
		{"empty", nil, Info{Encoding: "ascii"}},
		{"utf-8", []byte("héllo wörld ☃\r\nsecond\r\n"), Info{Encoding: "utf-8", LineCount: 2, Preview: "héllo wörld ☃\nsecond\n"}},
		{"utf-8 with bom", []byte("\xef\xbb\xbfbom\n"), Info{Encoding: "utf-8", BOM: true, LineCount: 1, Preview: "bom\n"}},
		{"latin-1", []byte("caf\xe9 cr\xe8me\n"), Info{Encoding: "latin-1", LineCount: 1, Preview: "café crème\n"}},
		{"utf-16le", utf16Bytes("Grüße\nzweite Zeile\n", true), Info{Encoding: "utf-16le", BOM: true, LineCount: 2, Preview: "Grüße\nzweite Zeile\n"}},
		{"utf-16be", utf16Bytes("日本語\nテキスト", false), Info{Encoding: "utf-16be", BOM: true, LineCount: 2, Preview: "日本語\nテキスト"}},
		{"classic mac line ends", []byte("a\rb\rc"), Info{Encoding: "ascii", LineCount: 3, Preview: "abc"}},
		{"controls and bidi overrides escaped", []byte("ok\x1b[31m\u202egnp.exe\x00"), Info{Encoding: "utf-8", LineCount: 1,
			Preview: `ok\u001b[31m\u202egnp.exe\u0000`}},
		{"long", []byte(long + "\n"), Info{Encoding: "ascii", LineCount: 1, Preview: long[:PreviewLength]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []func() *bytes.Reader{func() *bytes.Reader { return bytes.NewReader(tt.data) }} {
				got, err := Scan(context.Background(), r())
				require.NoError(t, err)
				assert.Equal(t, tt.want, *got)
				// Chunk boundaries in the middle of characters change nothing.
				got, err = Scan(context.Background(), iotest.OneByteReader(r()))
				require.NoError(t, err)
				assert.Equal(t, tt.want, *got, "one byte at a time")
			}
		})
	}
}

func TestScanLarge(t *testing.T) {
	line := "ünïcödé line of text that repeats\n"
	data := strings.Repeat(line, 100000) // several read buffers
	got, err := Scan(context.Background(), strings.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, "utf-8", got.Encoding)
	assert.Equal(t, int64(100000), got.LineCount)
	// A stray invalid byte late in the file turns the guess to latin-1.
	got, err = Scan(context.Background(), strings.NewReader(data+"\xff"))
	require.NoError(t, err)
	assert.Equal(t, "latin-1", got.Encoding)
}
