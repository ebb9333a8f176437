package protect

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, key string
		want         bool
	}{
		{"*.pdf", "a.pdf", true},
		{"*.pdf", "in/2026/a.pdf", true}, // no slash: the last segment
		{"*.pdf", "a.pdf.exe", false},
		{"*.pdf", "in/a.pdfx", false},
		{"in/*.pdf", "in/a.pdf", true},
		{"in/*.pdf", "in/sub/a.pdf", false}, // * stops at /
		{"in/**.pdf", "in/sub/a.pdf", true},
		{"in/**/a.pdf", "in/a.pdf", true}, // **/ matches no directory too
		{"in/**/a.pdf", "in/x/y/a.pdf", true},
		{"tmp/**", "tmp/x", true},
		{"tmp/**", "tmpx/x", false},
		{"?.txt", "a.txt", true},
		{"?.txt", "ab.txt", false},
		{"[ab].txt", "b.txt", true},
		{"[!ab].txt", "b.txt", false},
		{"[!ab].txt", "c.txt", true},
		{"a+b(1).txt", "a+b(1).txt", true}, // regexp metacharacters are literal
		{"a.txt", "abtxt", false},
		{"[.txt", "[.txt", false}, // invalid: matches nothing
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Match(c.pattern, c.key), "Match(%q, %q)", c.pattern, c.key)
	}
}

func TestSelected(t *testing.T) {
	assert.True(t, Selected("a/b.bin", nil, nil), "no patterns: everything")
	assert.True(t, Selected("a/b.pdf", []string{"*.pdf", "*.doc"}, nil))
	assert.False(t, Selected("a/b.bin", []string{"*.pdf"}, nil))
	assert.False(t, Selected("tmp/b.pdf", []string{"*.pdf"}, []string{"tmp/**"}), "exclude wins")
	assert.False(t, Selected("a/b.part", nil, []string{"*.part"}))
}

func TestParseRules(t *testing.T) {
	rs, err := ParseRules(` [{"bucket":"inbox","prefix":"in/","include":["*.pdf"],"exclude":["in/tmp/**"],"tenant":"acme"},
		{"bucket":"inbox","tenant":"beta"}] `, "intellidox")
	require.NoError(t, err)
	require.Len(t, rs, 2)
	assert.Len(t, rs.For("inbox", "in/a.pdf"), 2)
	assert.Len(t, rs.For("inbox", "in/tmp/a.pdf"), 1, "excluded for acme, covered for beta")
	assert.Len(t, rs.For("inbox", "out/a.pdf"), 1)
	assert.Empty(t, rs.For("other", "in/a.pdf"))
	assert.True(t, rs.CoversFor("acme", "inbox", "in/x/y.pdf"))
	assert.False(t, rs.CoversFor("acme", "inbox", "out/y.pdf"))
	assert.True(t, rs.Allows("acme", "inbox"))
	assert.False(t, rs.Allows("acme", "other"))
	assert.False(t, rs.Allows("gamma", "inbox"))

	none, err := ParseRules("  ", "intellidox")
	require.NoError(t, err)
	assert.Empty(t, none)

	for in, want := range map[string]string{
		`{"bucket":"a"}`:                                 "JSON array",
		`[{"tenant":"t"}]`:                               "bucket is required",
		`[{"bucket":"a"}]`:                               "tenant is required",
		`[{"bucket":"intellidox","tenant":"t"}]`:         "upload bucket",
		`[{"bucket":"a","tenant":"t","include":["[x"]}]`: "unclosed",
		`[{"bucket":"a","tenant":"t","prefx":"in/"}]`:    "unknown field",
	} {
		_, err := ParseRules(in, "intellidox")
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
	}
}

func TestParseEvent(t *testing.T) {
	// As versitygw sends it (keys as they are).
	objs, err := ParseEvent([]byte(`{"Records":[
		{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"inbox"},"object":{"key":"in/a b.pdf","size":12,"eTag":"\"abc\""}}},
		{"eventName":"s3:ObjectRemoved:Delete","s3":{"bucket":{"name":"inbox"},"object":{"key":"in/gone.pdf"}}},
		{"eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"inbox"},"object":{"key":"in/big","size":99,"eTag":"d-2"}}}]}`))
	require.NoError(t, err)
	assert.Equal(t, []Object{
		{Bucket: "inbox", Key: "in/a b.pdf", Size: 12, ETag: "abc"},
		{Bucket: "inbox", Key: "in/big", Size: 99, ETag: "d-2"},
	}, objs)

	// S3's test event when a notification is configured: nothing.
	objs, err = ParseEvent([]byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"inbox"}`))
	require.NoError(t, err)
	assert.Empty(t, objs)

	var bad *BadEvent
	_, err = ParseEvent([]byte(`not json`))
	assert.ErrorAs(t, err, &bad)
	_, err = ParseEvent([]byte(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":""},"object":{"key":"k"}}}]}`))
	assert.ErrorAs(t, err, &bad)

	assert.Equal(t, "in/a b+c.pdf", DecodedKey("in/a+b%2Bc.pdf"), "S3 form-encodes keys in notifications")
	assert.Equal(t, "", DecodedKey("in/plain.pdf"))
	assert.Equal(t, "", DecodedKey("in/bad%zz"))
}
