package text

import (
	"testing"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func tcWrite(t *testing.T) {
	tc.WriteSeeds(t, "FuzzScan", []byte("ascii\nlines\n"), []byte("héllo\r\nwörld"), []byte("caf\xe9\n"),
		utf16Bytes("Grüße\n", true), utf16Bytes("日本\n", false), []byte("\xef\xbb\xbfbom"), []byte("a\rb\rc"),
		[]byte("ok\x1b[31m\u202e\x00"))
}
