package extract

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInspectEmpty: an empty file is a file: it gets hashes, a type and no
// error.
func TestInspectEmpty(t *testing.T) {
	s, err := Inspect(context.Background(), bytes.NewReader(nil), bytes.NewReader(nil), 0, Options{Name: "empty.txt"})
	require.NoError(t, err)
	assert.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", s.SHA256)
	assert.Equal(t, "d41d8cd98f00b204e9800998ecf8427e", s.MD5)
	assert.Equal(t, int64(0), s.Size)
	assert.NotEmpty(t, s.MIMEType)
	t.Logf("mime %s, metadata %v, findings %v", s.MIMEType, s.Metadata, s.Findings)
}
