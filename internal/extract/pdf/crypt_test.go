package pdf_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/extract/archive"
	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
	"github.com/intellidox/intellidox/internal/extract/pdf"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/testenv"
)

// qpdfEncrypt has qpdf encrypt the PDF b with a user and an owner password
// and key length bits, plus the extra options.
func qpdfEncrypt(t testing.TB, b []byte, user, owner string, bits string, extra ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("qpdf"); err != nil {
		testenv.SkipRequired(t, "qpdf is needed to write encrypted PDFs (scripts/infra.sh installs it)")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	require.NoError(t, os.WriteFile(in, b, 0o600))
	args := append([]string{"--allow-weak-crypto", "--encrypt", user, owner, bits}, extra...)
	args = append(args, "--", in, out)
	msg, err := exec.Command("qpdf", args...).CombinedOutput()
	require.NoError(t, err, "%s", msg)
	enc, err := os.ReadFile(out)
	require.NoError(t, err)
	return enc
}

// ciphers are the standard security handler's variants, as qpdf writes
// them: revisions 2, 3, 4 and 6.
var ciphers = []struct {
	method string
	bits   string
	extra  []string
}{
	{"RC4 40-bit", "40", nil},
	{"RC4 128-bit", "128", []string{"--use-aes=n"}},
	{"AES-128", "128", []string{"--use-aes=y"}},
	{"AES-256", "256", nil},
}

// TestUnlockQpdf: every cipher qpdf writes opens with the user password
// and with the owner password, from whichever list holds it, and not with
// others; opened, the JavaScript action hidden in the object stream and
// the document information are read.
func TestUnlockQpdf(t *testing.T) {
	ctx := context.Background()
	for _, c := range ciphers {
		t.Run(c.method, func(t *testing.T) {
			b := qpdfEncrypt(t, samples.PDFObjStmJavaScript(), "user-pw", "owner-pw", c.bits, c.extra...)
			sec, err := pdf.Encryption(ctx, bytes.NewReader(b), int64(len(b)))
			require.NoError(t, err)
			require.NotNil(t, sec)
			assert.Equal(t, c.method, sec.Method())

			_, _, ok := sec.Unlock(nil)
			assert.False(t, ok, "not the empty password")
			_, _, ok = sec.Unlock([]archive.Passwords{archive.Builtin(), {Source: "tenant", List: []string{"User-pw", "owner", "user-pw "}}})
			assert.False(t, ok, "not a near miss")
			lists := []archive.Passwords{archive.Builtin(), {Source: "tenant", List: []string{"nope", "user-pw"}}}
			dec, source, ok := sec.Unlock(lists)
			require.True(t, ok, "the user password")
			assert.Equal(t, "tenant", source)
			_, source, ok = sec.Unlock([]archive.Passwords{{Source: "upload", List: []string{"owner-pw"}}})
			require.True(t, ok, "the owner password")
			assert.Equal(t, "upload", source)

			locked, _ := pdf.Scan(ctx, bytes.NewReader(b), 1<<20)
			assert.True(t, locked.Encrypted)
			assert.Equal(t, c.method, locked.Encryption)
			assert.False(t, locked.HasJavaScript, "ciphertext hides the object stream")
			opened, fs := pdf.ScanDecrypted(ctx, bytes.NewReader(b), 1<<20, dec)
			assert.Empty(t, fs)
			assert.True(t, opened.HasJavaScript)
			assert.True(t, opened.HasAutoAction)

			got, err := streams(t, b, pdf.StreamLimits{MaxStreams: 100, MaxStreamBytes: 1 << 20, MaxTotalBytes: 1 << 20, Decrypter: dec})
			require.NoError(t, err)
			require.NotEmpty(t, got)
			assert.True(t, got[0].ObjStm)
			assert.Contains(t, string(got[0].Data), "/JavaScript")
			none, err := streams(t, b, wide)
			require.NoError(t, err)
			assert.Empty(t, none, "without the decrypter nothing inflates")
		})
	}
}

// TestUnlockEmptyUserPassword: a PDF that only restricts what a reader may
// do (an owner password, no user password) opens with no password.
func TestUnlockEmptyUserPassword(t *testing.T) {
	ctx := context.Background()
	for _, c := range ciphers {
		t.Run(c.method, func(t *testing.T) {
			b := qpdfEncrypt(t, tc.PDF(tc.PDFOptions{Title: "Quarterly report", Author: "Ops"}), "", "owner-pw", c.bits, c.extra...)
			sec, err := pdf.Encryption(ctx, bytes.NewReader(b), int64(len(b)))
			require.NoError(t, err)
			dec, source, ok := sec.Unlock(nil)
			require.True(t, ok)
			assert.Empty(t, source)
			locked, _ := pdf.Scan(ctx, bytes.NewReader(b), 1<<20)
			assert.Empty(t, locked.Title, "strings stay ciphertext unread")
			info, _ := pdf.ScanDecrypted(ctx, bytes.NewReader(b), 1<<20, dec)
			assert.Equal(t, "Quarterly report", info.Title)
			assert.Equal(t, "Ops", info.Author)
		})
	}
}

// TestEncryptionUnsupported: another security handler, or an /Encrypt
// dictionary that cannot be read, is an error that says why; a PDF
// without /Encrypt is not encrypted.
func TestEncryptionUnsupported(t *testing.T) {
	ctx := context.Background()
	plain := samples.PDFObjStmJavaScript()
	sec, err := pdf.Encryption(ctx, bytes.NewReader(plain), int64(len(plain)))
	assert.NoError(t, err)
	assert.Nil(t, sec)

	b := qpdfEncrypt(t, plain, "u", "o", "256")
	for name, tt := range map[string]struct{ from, to, want string }{
		"public-key handler": {"/Filter /Standard", "/Filter /Adobe.PubSec", `"Adobe.PubSec" security handler`},
		"unknown revision":   {"/R 6", "/R 9", "revision 9"},
		"short /U":           {"/U <", "/U <00", "too short"},
	} {
		t.Run(name, func(t *testing.T) {
			bad := bytes.Replace(b, []byte(tt.from), []byte(tt.to), 1)
			require.NotEqual(t, b, bad, "the sample holds %q", tt.from)
			if name == "short /U" {
				// Cut the hex string to 20 bytes, keeping the file's length.
				i := bytes.Index(bad, []byte("/U <00")) + 4
				j := bytes.IndexByte(bad[i:], '>') + i
				cut := append([]byte{}, bad[:i+40]...)
				cut = append(cut, bytes.Repeat([]byte(" "), j-i-40)...)
				bad = append(cut, bad[j:]...)
			}
			sec, err := pdf.Encryption(ctx, bytes.NewReader(bad), int64(len(bad)))
			assert.Nil(t, sec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestUnlockTries: the tries per file are bounded, whatever the lists.
func TestUnlockTries(t *testing.T) {
	b := qpdfEncrypt(t, samples.PDFObjStmJavaScript(), "late", "owner-pw", "256")
	sec, err := pdf.Encryption(context.Background(), bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	many := make([]string, pdf.MaxPasswordTries)
	for i := range many {
		many[i] = "wrong-" + strings.Repeat("x", i)
	}
	_, _, ok := sec.Unlock([]archive.Passwords{{Source: "a", List: many}, {Source: "b", List: []string{"late"}}})
	assert.False(t, ok, "the right password after the limit is not tried")
	_, source, ok := sec.Unlock([]archive.Passwords{{Source: "a", List: many[1:]}, {Source: "b", List: []string{"late"}}})
	assert.True(t, ok, "within the limit it is")
	assert.Equal(t, "b", source)
}

// BenchmarkUnlock measures one wrong password against each cipher: the
// cost a listed password adds to every encrypted PDF it does not open.
func BenchmarkUnlock(b *testing.B) {
	for _, c := range ciphers {
		file := qpdfEncrypt(b, samples.PDFObjStmJavaScript(), "user-pw", "owner-pw", c.bits, c.extra...)
		sec, err := pdf.Encryption(context.Background(), bytes.NewReader(file), int64(len(file)))
		if err != nil || sec == nil {
			b.Fatal(err)
		}
		lists := []archive.Passwords{{Source: "x", List: []string{"wrong"}}}
		b.Run(c.method, func(b *testing.B) {
			for b.Loop() {
				sec.Unlock(lists)
			}
		})
	}
}

// TestSampleAgreesWithQpdf: the AES-256 sample the end-to-end tests use,
// which samples writes itself, is read by qpdf with its password and
// holds the JavaScript action; this package opens it with the same one.
func TestSampleAgreesWithQpdf(t *testing.T) {
	if _, err := exec.LookPath("qpdf"); err != nil {
		testenv.SkipRequired(t, "qpdf is needed for the cross-check (scripts/infra.sh installs it)")
	}
	b := samples.PDFObjStmJavaScriptEncrypted("infected")
	path := filepath.Join(t.TempDir(), "sample.pdf")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	out, err := exec.Command("qpdf", "--check", path).CombinedOutput()
	assert.Error(t, err, "qpdf needs the password: %s", out)
	for _, pw := range []string{"infected", "owner-infected"} {
		out, err = exec.Command("qpdf", "--password="+pw, "--check", path).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "R = 6")
		assert.Contains(t, string(out), "No syntax or stream encoding errors found")
		out, err = exec.Command("qpdf", "--password="+pw, "--qdf", "--object-streams=disable", path, "-").Output()
		require.NoError(t, err)
		assert.Contains(t, string(out), "/S /JavaScript")
	}

	sec, err := pdf.Encryption(context.Background(), bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	require.NotNil(t, sec)
	dec, source, ok := sec.Unlock([]archive.Passwords{archive.Builtin()})
	require.True(t, ok)
	assert.Equal(t, archive.SourceBuiltin, source)
	info, _ := pdf.ScanDecrypted(context.Background(), bytes.NewReader(b), 1<<20, dec)
	assert.True(t, info.HasJavaScript)
}

// TestEncryptionEscapedName: a trailer that writes /Encrypt with #xx
// escapes (readers decode them) is still found, and the file opened.
func TestEncryptionEscapedName(t *testing.T) {
	b := samples.PDFObjStmJavaScriptEncrypted("infected")
	escaped := bytes.ReplaceAll(b, []byte("/Encrypt "), []byte("/Encr#79pt "))
	require.NotEqual(t, b, escaped)
	require.NotContains(t, string(escaped), "/Encrypt ")
	sec, err := pdf.Encryption(context.Background(), bytes.NewReader(escaped), int64(len(escaped)))
	require.NoError(t, err)
	require.NotNil(t, sec, "the escaped name is the same name")
	dec, _, ok := sec.Unlock([]archive.Passwords{archive.Builtin()})
	require.True(t, ok)
	got, err := streams(t, escaped, pdf.StreamLimits{MaxStreams: 10, MaxStreamBytes: 1 << 20, MaxTotalBytes: 1 << 20, Decrypter: dec})
	require.NoError(t, err)
	require.NotEmpty(t, got)
	assert.Contains(t, string(got[0].Data), "/JavaScript")

	for name, doc := range map[string]string{
		"another name that starts the same": "%PDF-1.7\n<< /EncryptMetadata false >>",
		"no encryption":                     "%PDF-1.7\n<< /Root 1 0 R >>",
		"the word in a string":              "%PDF-1.7\n(Encrypt) 1 0 obj",
	} {
		sec, err := pdf.Encryption(context.Background(), strings.NewReader(doc), int64(len(doc)))
		assert.NoError(t, err, name)
		assert.Nil(t, sec, name)
	}
	// Far into a large file, across the reader's chunks.
	big := append(bytes.Repeat([]byte("x"), 200_000), escaped...)
	sec, err = pdf.Encryption(context.Background(), bytes.NewReader(big), int64(len(big)))
	require.NoError(t, err)
	assert.NotNil(t, sec)
}
