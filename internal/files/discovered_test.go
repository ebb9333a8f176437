package files

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNameForKey(t *testing.T) {
	for key, want := range map[string]string{
		"in/2026/report.pdf":  "report.pdf",
		"report.pdf":          "report.pdf",
		"in/a\x00b\tc.txt":    "a_b_c.txt",
		"in/back\\slash":      "back_slash",
		"in/\xff\xfe.bin":     "__.bin",
		"in/rtl\u202egpj.exe": "rtl_gpj.exe",
		"in/..":               "object",
		"in/   ":              "object",
		"in/":                 "object",
	} {
		got := NameForKey(key)
		assert.Equal(t, want, got, key)
		assert.NoError(t, validName(got), key)
	}
	long := NameForKey("in/" + strings.Repeat("é", 200)) // 400 bytes
	assert.LessOrEqual(t, len(long), MaxNameBytes)
	assert.NoError(t, validName(long))
}
