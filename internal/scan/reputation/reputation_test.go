package reputation_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/scan/reputation"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/testenv"
)

func fileOf(b []byte) scan.File {
	s2, s1, m5 := sha256.Sum256(b), sha1.Sum(b), md5.Sum(b)
	return scan.File{SHA256: hex.EncodeToString(s2[:]), SHA1: hex.EncodeToString(s1[:]),
		MD5: hex.EncodeToString(m5[:]), Size: int64(len(b))}
}

func projectList() string {
	return filepath.Join(testenv.Root(), "rules", "reputation", "known-bad.csv")
}

func TestProjectList(t *testing.T) {
	e, err := reputation.New(reputation.Config{Paths: []string{projectList()}})
	require.NoError(t, err)
	assert.True(t, e.ContentFree())
	cases := []struct {
		name    string
		file    scan.File
		outcome contract.Outcome
		threats []string
	}{
		{"eicar", fileOf([]byte(samples.EICAR)), contract.Malicious, []string{"IntelliDox:EICAR-Test-File"}},
		{"hash-listed", fileOf([]byte(samples.HashListed)), contract.Malicious, []string{"IntelliDox:HashListed-Test-File"}},
		{"hash-listed by md5 only", scan.File{MD5: fileOf([]byte(samples.HashListed)).MD5}, contract.Malicious, []string{"IntelliDox:HashListed-Test-File"}},
		{"hash-listed by sha1 only", scan.File{SHA1: fileOf([]byte(samples.HashListed)).SHA1}, contract.Malicious, []string{"IntelliDox:HashListed-Test-File"}},
		{"clean", fileOf([]byte(samples.Clean)), contract.Clean, []string{}},
		{"eicar in a zip is another file", fileOf(samples.EICARZip()), contract.Clean, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := e.Scan(context.Background(), nil, c.file)
			require.NoError(t, err)
			assert.Equal(t, c.outcome, f.Outcome, f.Detail)
			assert.Equal(t, c.threats, f.Threats)
			assert.NotEmpty(t, f.Detail)
		})
	}
	f, _ := e.Scan(context.Background(), nil, scan.File{SHA256: fileOf([]byte(samples.Clean)).SHA256})
	assert.Contains(t, f.Detail, "not checked: sha1, md5")
}

// A MalwareBazaar export as the site serves it: a comment banner, the
// column names in the last comment line, quoted fields separated by ", ".
const bazaar = `################################################################
# MalwareBazaar full data dump (CSV)                           #
# Last updated: 2026-01-01 00:00:00 UTC                        #
#                                                              #
# Terms Of Use: https://bazaar.abuse.ch/faq/#tos               #
# For questions please contact bazaar [at] abuse.ch            #
################################################################
#
# "first_seen_utc","sha256_hash","md5_hash","sha1_hash","reporter","file_name","file_type_guess","mime_type","signature","clamav","vtpercent","imphash","ssdeep","tlsh"
"2026-01-01 10:00:00", "%s", "%s", "%s", "abuse_ch", "invoice.doc", "doc", "application/msword", "Emotet", "n/a", "12.5", "n/a", "384:abc", "T1ABC"
"2026-01-01 11:00:00", "%s", "n/a", "n/a", "abuse_ch", "a, b.exe", "exe", "application/x-dosexec", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"
`

func TestMalwareBazaarExport(t *testing.T) {
	emotet, other := fileOf([]byte("emotet stand-in")), fileOf([]byte("unsigned stand-in"))
	dir := t.TempDir()
	path := filepath.Join(dir, "full.csv")
	write(t, path, fmt.Sprintf(bazaar, emotet.SHA256, emotet.MD5, emotet.SHA1, other.SHA256))
	e, err := reputation.New(reputation.Config{Paths: []string{path}})
	require.NoError(t, err)
	assert.Equal(t, 4, e.Entries())
	f, _ := e.Scan(context.Background(), nil, emotet)
	assert.Equal(t, []string{"MalwareBazaar:Emotet"}, f.Threats)
	assert.Contains(t, f.Detail, "sha256, sha1, md5")
	f, _ = e.Scan(context.Background(), nil, scan.File{SHA256: other.SHA256})
	assert.Equal(t, []string{"MalwareBazaar:known-bad"}, f.Threats)
}

func TestPlainList(t *testing.T) {
	a, b := fileOf([]byte("a")), fileOf([]byte("b"))
	path := filepath.Join(t.TempDir(), "blocklist.txt")
	write(t, path, "# one hash per line\n"+strings.ToUpper(a.SHA256)+"\n\n"+b.MD5+"\tTrojan.Test\n")
	e, err := reputation.New(reputation.Config{Paths: []string{path}})
	require.NoError(t, err)
	f, _ := e.Scan(context.Background(), nil, a)
	assert.Equal(t, []string{"blocklist:known-bad"}, f.Threats)
	f, _ = e.Scan(context.Background(), nil, b)
	assert.Equal(t, []string{"blocklist:Trojan.Test"}, f.Threats)
}

func TestBadListsAreRefused(t *testing.T) {
	for name, content := range map[string]string{
		"short hash":    "abcdef\n",
		"not hex":       strings.Repeat("z", 64) + "\n",
		"row, no hash":  `"2026-01-01", "n/a", "n/a", "n/a", "x"` + "\n",
		"broken quotes": `"2026-01-01", "` + strings.Repeat("a", 64) + "\n\"\"\"x\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "l.csv")
			write(t, path, content)
			_, err := reputation.New(reputation.Config{Paths: []string{path}})
			assert.Error(t, err)
		})
	}
	_, err := reputation.New(reputation.Config{Paths: []string{filepath.Join(t.TempDir(), "missing.csv")}})
	assert.Error(t, err)
}

func TestReloadOnChange(t *testing.T) {
	a, b := fileOf([]byte("first")), fileOf([]byte("second"))
	path := filepath.Join(t.TempDir(), "list.txt")
	write(t, path, a.SHA256+"\n")
	e, err := reputation.New(reputation.Config{Paths: []string{path}, Poll: 10 * time.Millisecond})
	require.NoError(t, err)
	_, v1, _ := e.Versions(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { e.Watch(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	replace(t, path, a.SHA256+"\n"+b.SHA256+" Second\n")
	require.Eventually(t, func() bool {
		f, _ := e.Scan(context.Background(), nil, b)
		return f.Outcome == contract.Malicious
	}, 5*time.Second, 10*time.Millisecond, "the new entry is picked up without a restart")
	_, v2, _ := e.Versions(context.Background())
	assert.NotEqual(t, v1, v2, "a changed list changes the signature version")

	// A bad list keeps the previous one in force.
	replace(t, path, "garbage\n")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := e.Reload()
		if err != nil {
			break // the change was seen and refused
		}
		require.True(t, time.Now().Before(deadline), "the broken list was never noticed")
	}
	f, _ := e.Scan(context.Background(), nil, b)
	assert.Equal(t, contract.Malicious, f.Outcome)
	_, v3, _ := e.Versions(context.Background())
	assert.Equal(t, v2, v3)

	// Rewriting the same content does not change the version.
	replace(t, path, a.SHA256+"\n"+b.SHA256+" Second\n")
	require.Eventually(t, func() bool { _, err := e.Reload(); return err == nil }, 5*time.Second, 10*time.Millisecond)
	_, v4, _ := e.Versions(context.Background())
	assert.Equal(t, v2, v4)
}

func write(t *testing.T, path, s string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
}

// replace writes a new file and renames it over path, as the list's docs
// ask editors to.
func replace(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".new"
	write(t, tmp, s)
	require.NoError(t, os.Rename(tmp, path))
}

func TestArchiveMembers(t *testing.T) {
	e, err := reputation.New(reputation.Config{Paths: []string{projectList()}, TempDir: t.TempDir()})
	require.NoError(t, err)
	rar := samples.RAR("infected", "sample.txt", []byte(samples.HashListed))
	rar4 := samples.RAR4With(samples.RAR4Options{Password: "infected", EncryptHeaders: true}, samples.RAR4File{Name: "sample.txt", Body: []byte(samples.HashListed)})
	cases := []struct {
		name    string
		mime    string
		file    []byte
		outcome contract.Outcome
		detail  string
	}{
		{"hash-listed sample in a zip", "application/zip", samples.HashListedZip(), contract.Malicious,
			"known-bad sha256 of archive member sample.txt: IntelliDox:HashListed-Test-File"},
		{"eicar in a 7z", "application/x-7z-compressed", samples.EICAR7z(), contract.Malicious, "archive member eicar.com"},
		{"hash-listed sample in an encrypted rar", "application/vnd.rar", rar, contract.Malicious,
			"archive member sample.txt (opened with the builtin password list)"},
		{"hash-listed sample in a rar 4, names and data encrypted", "application/vnd.rar", rar4, contract.Malicious,
			"archive member sample.txt (opened with the builtin password list)"},
		{"clean zip", "application/zip", samples.Document(), contract.Clean, "3 archive members looked up"},
		{"unknown password", "application/zip", samples.EICARAESZip("not-listed"), contract.Clean, "members not looked up: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := fileOf(c.file)
			file.MIMEType = c.mime
			require.True(t, e.NeedsContent(file))
			f, err := e.Scan(context.Background(), bytes.NewReader(c.file), file)
			require.NoError(t, err)
			assert.Equal(t, c.outcome, f.Outcome, f.Detail)
			assert.Contains(t, f.Detail, c.detail)
		})
	}
	t.Run("other files are not read", func(t *testing.T) {
		file := fileOf([]byte(samples.Clean))
		file.MIMEType = "text/plain"
		assert.False(t, e.NeedsContent(file))
		f, err := e.Scan(context.Background(), nil, file)
		require.NoError(t, err)
		assert.Equal(t, contract.Clean, f.Outcome)
	})
}
