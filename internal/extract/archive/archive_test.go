package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
	"github.com/intellidox/intellidox/internal/testenv"
)

func codes(fs []contract.Finding) []string {
	var c []string
	for _, f := range fs {
		c = append(c, f.Code)
	}
	return c
}

func finding(fs []contract.Finding, code string) *contract.Finding {
	for i := range fs {
		if fs[i].Code == code {
			return &fs[i]
		}
	}
	return nil
}

func paths(es []Entry) []string {
	var p []string
	for _, e := range es {
		p = append(p, e.Path)
	}
	return p
}

func entry(t *testing.T, info *Info, path string) Entry {
	t.Helper()
	for _, e := range info.Entries {
		if e.Path == path {
			return e
		}
	}
	t.Fatalf("no entry %q in %v", path, paths(info.Entries))
	return Entry{}
}

func inspect(t *testing.T, data []byte, lim Limits) (*Info, []contract.Finding) {
	t.Helper()
	return Inspect(context.Background(), bytes.NewReader(data), int64(len(data)), lim)
}

func TestInspectZip(t *testing.T) {
	a, b := []byte("hello, world\n"), bytes.Repeat([]byte("abc"), 1000)
	data := tc.Zip(tc.File{Name: "a.txt", Body: a}, tc.File{Name: "docs/", Mode: fs.ModeDir}, tc.File{Name: "docs/b.txt", Body: b})
	info, fs := inspect(t, data, Limits{})
	require.NotNil(t, info)
	assert.Empty(t, fs)
	assert.Equal(t, "zip", info.Format)
	assert.Equal(t, 3, info.EntryCount)
	assert.Equal(t, 0, info.NestedEntryCount)
	assert.Equal(t, int64(len(a)+len(b)), info.TotalUncompressedSize)
	assert.InDelta(t, float64(len(a)+len(b))/float64(len(data)), info.CompressionRatio, 0.01)
	assert.Equal(t, 1, info.NestingDepth)
	assert.False(t, info.PathTraversal)
	assert.Equal(t, []string{"a.txt", "docs/", "docs/b.txt"}, paths(info.Entries))
	assert.True(t, entry(t, info, "docs/").Dir)
	eb := entry(t, info, "docs/b.txt")
	assert.Equal(t, int64(len(b)), eb.Size)
	assert.Less(t, eb.CompressedSize, eb.Size)
}

func TestInspectNested(t *testing.T) {
	inner := tc.TarGz(tc.File{Name: "x/evil.js", Body: []byte("alert(1)")})
	data := tc.Zip(
		tc.File{Name: "readme.txt", Body: []byte("hi")},
		tc.File{Name: "inner/pack.tar.gz", Body: inner},
		tc.File{Name: "more.zip", Body: tc.Zip(tc.File{Name: "deeper.gz", Body: tc.Gzip("deeper.txt", []byte("deep"))})},
	)
	info, fs := inspect(t, data, Limits{})
	require.NotNil(t, info)
	assert.Empty(t, fs)
	assert.Equal(t, 3, info.EntryCount)
	assert.Equal(t, 3, info.NestedEntryCount) // x/evil.js, deeper.gz, deeper.txt
	assert.Equal(t, 3, info.NestingDepth)     // zip > zip > gzip
	assert.Equal(t, []string{"readme.txt", "inner/pack.tar.gz", "inner/pack.tar.gz/x/evil.js",
		"more.zip", "more.zip/deeper.gz", "more.zip/deeper.gz/deeper.txt"}, paths(info.Entries))
	assert.Contains(t, entry(t, info, "more.zip").Flags, "archive")
	assert.Equal(t, int64(4), entry(t, info, "more.zip/deeper.gz/deeper.txt").Size)
}

func TestInspectLimits(t *testing.T) {
	many := make([]tc.File, 50)
	for i := range many {
		many[i] = tc.File{Name: fmt.Sprintf("f%02d.txt", i), Body: []byte("x")}
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, compresses well
	tests := []struct {
		name     string
		data     []byte
		lim      Limits
		code     string
		effect   contract.Verdict
		check    func(t *testing.T, info *Info)
		maxDepth int
	}{
		{name: "deeply nested", data: tc.Nested(8), lim: Limits{MaxArchiveDepth: 5},
			code: CodeTooDeep, effect: contract.VerdictUnscanned,
			check: func(t *testing.T, info *Info) {
				assert.Equal(t, 5, info.NestingDepth)
				assert.Contains(t, entry(t, info, "level2.zip/level3.zip/level4.zip/level5.zip/level6.zip").Flags, "notInspected")
			}},
		{name: "too many entries", data: tc.Zip(many...), lim: Limits{MaxArchiveEntries: 10},
			code: CodeTooManyEntries, effect: contract.VerdictUnscanned,
			check: func(t *testing.T, info *Info) { assert.Equal(t, 10, info.EntryCount) }},
		{name: "path traversal", data: tc.Zip(tc.File{Name: "../../etc/cron.d/x", Body: []byte("x")},
			tc.File{Name: "/abs/path", Body: []byte("y")}, tc.File{Name: `C:\Windows\evil.dll`, Body: []byte("z")},
			tc.File{Name: "fine/..hidden", Body: []byte("ok")}),
			code: CodePathTraversal, effect: contract.VerdictSuspicious,
			check: func(t *testing.T, info *Info) {
				assert.True(t, info.PathTraversal)
				assert.Equal(t, []string{"dotdot"}, entry(t, info, "../../etc/cron.d/x").Flags)
				assert.Equal(t, []string{"absolute"}, entry(t, info, "/abs/path").Flags)
				assert.Equal(t, []string{"driveLetter"}, entry(t, info, `C:\Windows\evil.dll`).Flags)
				assert.Empty(t, entry(t, info, "fine/..hidden").Flags)
			}},
		{name: "tar written through an escaping symlink", data: tc.TarGz(tc.File{Name: "a/link", Link: "../../etc"},
			tc.File{Name: "a/ok", Link: "../b"}, tc.File{Name: "b", Body: []byte("b")},
			tc.File{Name: "a/link/cron.d/job", Body: []byte("* * * * * root sh")}),
			code: CodePathTraversal, effect: contract.VerdictSuspicious,
			check: func(t *testing.T, info *Info) {
				assert.Equal(t, "tar.gz", info.Format)
				assert.True(t, info.PathTraversal)
				assert.Equal(t, []string{"symlink", "linkEscapes"}, entry(t, info, "a/link").Flags)
				assert.Equal(t, []string{"symlink"}, entry(t, info, "a/ok").Flags)
				assert.Equal(t, []string{"throughLink"}, entry(t, info, "a/link/cron.d/job").Flags)
			}},
		{name: "encrypted entry", data: tc.Zip(tc.File{Name: "secret.docx", Body: []byte("\x8a\x1f garbage"), Encrypted: true},
			tc.File{Name: "plain.txt", Body: []byte("p")}),
			code: CodeEncrypted, effect: contract.VerdictUnscanned,
			check: func(t *testing.T, info *Info) {
				assert.Equal(t, 1, info.EncryptedEntries)
				assert.True(t, entry(t, info, "secret.docx").Encrypted)
				assert.False(t, entry(t, info, "plain.txt").Encrypted)
			}},
		{name: "42.zip-style bomb", data: tc.Bomb(4, 16, 1),
			code: CodeZipBomb, effect: contract.VerdictSuspicious,
			check: func(t *testing.T, info *Info) { assert.Equal(t, 16, info.EntryCount) }},
		{name: "bomb nested deeper than the depth limit", data: tc.Bomb(4, 16, 1), lim: Limits{MaxArchiveDepth: 3},
			code: CodeZipBomb, effect: contract.VerdictSuspicious},
		{name: "gzip bomb", data: tc.ZerosGzip(64),
			code: CodeZipBomb, effect: contract.VerdictSuspicious},
		{name: "uncompressed total over the limit", data: tc.Zip(tc.File{Name: "a", Body: big}, tc.File{Name: "b", Body: big}),
			lim: Limits{MaxUncompressedSize: 1 << 20}, code: CodeTooLarge, effect: contract.VerdictUnscanned},
		{name: "nested zip over the buffer limit", data: tc.Zip(tc.File{Name: "in.zip", Store: true, Body: tc.Zip(tc.File{Name: "r", Body: randomish(64 << 10), Store: true})}),
			lim: Limits{MaxNestedArchiveSize: 32 << 10}, code: CodeNestedTooLarge, effect: contract.VerdictUnscanned,
			check: func(t *testing.T, info *Info) { assert.Contains(t, entry(t, info, "in.zip").Flags, "notInspected") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			info, fs := inspect(t, tt.data, tt.lim)
			require.NotNil(t, info)
			f := finding(fs, tt.code)
			require.NotNil(t, f, "findings %v", codes(fs))
			assert.Equal(t, tt.effect, f.Effect)
			assert.NotEmpty(t, f.Message)
			if tt.check != nil {
				tt.check(t, info)
			}
			assert.Less(t, time.Since(start), 5*time.Second)
		})
	}
}

// randomish returns incompressible bytes.
func randomish(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestInspectStreamGzip(t *testing.T) {
	body := bytes.Repeat([]byte("line of text\n"), 1000)
	data := tc.Gzip("notes.txt", body)
	info, fs := InspectStream(context.Background(), bytes.NewReader(data), int64(len(data)), Limits{})
	require.NotNil(t, info)
	assert.Empty(t, fs)
	assert.Equal(t, "gzip", info.Format)
	assert.Equal(t, 1, info.EntryCount)
	assert.Equal(t, []string{"notes.txt"}, paths(info.Entries))
	assert.Equal(t, int64(len(body)), info.Entries[0].Size)
	assert.Equal(t, int64(len(body)), info.TotalUncompressedSize)

	info, _ = InspectStream(context.Background(), strings.NewReader("just text"), 9, Limits{})
	assert.Nil(t, info)
	z := tc.Zip(tc.File{Name: "a"})
	info, _ = InspectStream(context.Background(), bytes.NewReader(z), int64(len(z)), Limits{})
	assert.Nil(t, info, "zip needs random access")
}

func TestInspectNotArchive(t *testing.T) {
	info, fs := inspect(t, []byte("%PDF-1.7\n"), Limits{})
	assert.Nil(t, info)
	assert.Empty(t, fs)
}

func TestInspectDamaged(t *testing.T) {
	z := tc.Zip(tc.File{Name: "a.txt", Body: bytes.Repeat([]byte("a"), 5000)})
	for _, cut := range []int{10, len(z) / 2, len(z) - 5} {
		d := z[:cut]
		info, fs := inspect(t, d, Limits{})
		require.NotNil(t, info)
		assert.NotNil(t, finding(fs, CodeMalformed), "cut at %d: %v", cut, codes(fs))
	}
	corrupt := slices.Clone(z)
	corrupt[40] ^= 0xff // inside the deflate stream
	info, _ := inspect(t, corrupt, Limits{})
	require.NotNil(t, info)
	assert.Equal(t, 1, info.EntryCount)
}

func TestWalk(t *testing.T) {
	data := tc.Zip(
		tc.File{Name: "readme.txt", Body: []byte("hi")},
		tc.File{Name: "dir/", Mode: fs.ModeDir},
		tc.File{Name: "outer.zip", Body: tc.Zip(tc.File{Name: "inner/evil.js", Body: []byte("alert(1)")})},
		tc.File{Name: "logs.tar.gz", Body: tc.TarGz(tc.File{Name: "l/1.log", Body: []byte("one")}, tc.File{Name: "l/x", Link: "1.log"})},
		tc.File{Name: "enc.bin", Body: []byte("xx"), Encrypted: true},
	)
	got := map[string]string{}
	err := Walk(context.Background(), bytes.NewReader(data), int64(len(data)), Limits{}, func(p string, body io.Reader) error {
		b, err := io.ReadAll(body)
		got[p] = string(b)
		return err
	})
	var le *LimitError
	require.ErrorAs(t, err, &le, "the encrypted member could not be walked")
	assert.Equal(t, []string{CodeEncrypted}, codes(le.Findings))
	assert.Equal(t, map[string]string{
		"readme.txt":              "hi",
		"outer.zip/inner/evil.js": "alert(1)",
		"logs.tar.gz/l/1.log":     "one",
	}, got)
}

func TestWalkLimitsPassContainersWhole(t *testing.T) {
	data := tc.Nested(4)
	var got []string
	err := Walk(context.Background(), bytes.NewReader(data), int64(len(data)), Limits{MaxArchiveDepth: 2}, func(p string, body io.Reader) error {
		b, err := io.ReadAll(body)
		if strings.HasSuffix(p, ".zip") {
			assert.Equal(t, "PK", string(b[:2]), "a container too deep to open is passed whole")
		}
		got = append(got, p)
		return err
	})
	var le *LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, []string{CodeTooDeep}, codes(le.Findings))
	assert.Equal(t, []string{"level2.zip/level3.zip", "level2.zip/note2.txt", "note1.txt"}, got)
}

func TestWalkErrors(t *testing.T) {
	data := tc.Zip(tc.File{Name: "a", Body: []byte("a")}, tc.File{Name: "b", Body: []byte("b")})
	stop := errors.New("scanner down")
	calls := 0
	err := Walk(context.Background(), bytes.NewReader(data), int64(len(data)), Limits{}, func(string, io.Reader) error {
		calls++
		return stop
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)

	// Not an archive: no calls, no error.
	err = Walk(context.Background(), strings.NewReader("text"), 4, Limits{}, func(string, io.Reader) error {
		t.Fatal("called")
		return nil
	})
	assert.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Walk(ctx, bytes.NewReader(data), int64(len(data)), Limits{}, func(string, io.Reader) error { return nil })
	assert.ErrorIs(t, err, context.Canceled)
}

func TestWalkBombIsBounded(t *testing.T) {
	data := tc.Bomb(3, 16, 4)
	var n int64
	start := time.Now()
	err := Walk(context.Background(), bytes.NewReader(data), int64(len(data)), Limits{}, func(_ string, body io.Reader) error {
		k, err := io.Copy(io.Discard, body)
		n += k
		return err
	})
	var le *LimitError
	require.ErrorAs(t, err, &le)
	assert.Contains(t, codes(le.Findings), CodeZipBomb)
	assert.LessOrEqual(t, n, int64(DefaultMaxUncompressedSize))
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestPathFlags(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"a/b.txt", nil},
		{"../x", []string{"dotdot"}},
		{`a\..\..\x`, []string{"dotdot"}},
		{"/etc/passwd", []string{"absolute"}},
		{`\\server\share`, []string{"absolute"}},
		{"c:/x", []string{"driveLetter"}},
		{"..foo/bar..", nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, pathFlags(tt.name), tt.name)
	}
	assert.True(t, linkEscapes("a/l", "../../x"))
	assert.False(t, linkEscapes("a/l", "../x"))
	assert.True(t, linkEscapes("l", "/etc"))
	assert.False(t, linkEscapes("a/b/l", "c/../../d"))
}

func TestCorpusZeros(t *testing.T) {
	// The hand-assembled deflate streams must decompress to what they claim.
	data := tc.ZerosGzip(3)
	info, fs := InspectStream(context.Background(), bytes.NewReader(data), int64(len(data)), Limits{})
	require.NotNil(t, info)
	assert.Empty(t, fs)
	assert.Equal(t, int64(3<<20), info.TotalUncompressedSize)
	bomb := tc.Bomb(1, 2, 2)
	n := 0
	err := Walk(context.Background(), bytes.NewReader(bomb), int64(len(bomb)), Limits{}, func(_ string, body io.Reader) error {
		b, err := io.ReadAll(body)
		assert.Equal(t, make([]byte, 2<<20), b)
		n++
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}

func TestInspect7z(t *testing.T) {
	files := []tc.File{{Name: "docs/"}, {Name: "docs/a.txt", Body: []byte("hello")}, {Name: "b.bin", Body: make([]byte, 1000)},
		{Name: "empty"}, {Name: "../escape.sh", Body: []byte("x")}}
	for _, o := range []tc.SevenZipOptions{{}, {EncodeHeader: true}} {
		info, fs := inspect(t, tc.SevenZip(o, files...), Limits{})
		require.NotNil(t, info)
		assert.Equal(t, "7z", info.Format)
		assert.Equal(t, 5, info.EntryCount)
		assert.Equal(t, []string{"docs", "docs/a.txt", "b.bin", "empty", "../escape.sh"}, paths(info.Entries))
		assert.True(t, entry(t, info, "docs").Dir)
		assert.False(t, entry(t, info, "empty").Dir)
		assert.Equal(t, int64(5), entry(t, info, "docs/a.txt").Size)
		assert.Equal(t, int64(1000), entry(t, info, "b.bin").Size)
		assert.Equal(t, int64(1006), info.TotalUncompressedSize)
		assert.True(t, info.PathTraversal)
		assert.Equal(t, []string{CodePathTraversal}, codes(fs))
	}
	info, fs := inspect(t, tc.SevenZip(tc.SevenZipOptions{Encrypted: true}, tc.File{Name: "s", Body: []byte("secret")}), Limits{})
	require.NotNil(t, info)
	assert.Equal(t, 1, info.EncryptedEntries)
	assert.Equal(t, []string{CodeEncrypted}, codes(fs))

	data := tc.SevenZip(tc.SevenZipOptions{EncodeHeader: true}, files...)
	for cut := 0; cut < len(data); cut += 7 {
		assert.NotPanics(t, func() { inspect(t, data[:cut], Limits{}) })
	}
}

// TestInspect7zFrom7Zip lists archives made by 7-Zip itself (LZMA2 data,
// LZMA-encoded headers, encryption), where it is installed.
func TestInspect7zFrom7Zip(t *testing.T) {
	if _, err := exec.LookPath("7z"); err != nil {
		testenv.SkipRequired(t, "7z is needed for the cross-check (scripts/infra.sh installs it)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "a.txt"), bytes.Repeat([]byte("abc\n"), 5000), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(src, "sub", "b.bin"), randomish(3000), 0o600))
	tests := []struct {
		name      string
		args      []string
		encrypted int
		code      string
	}{
		{"lzma2", nil, 0, ""},
		{"password, names visible", []string{"-psecret"}, 2, CodeEncrypted},
		{"password, names encrypted", []string{"-psecret", "-mhe=on"}, 0, CodeEncrypted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".7z")
			args := append([]string{"a", "-bd", "-y", out, "."}, tt.args...)
			cmd := exec.Command("7z", args...)
			cmd.Dir = src
			b, err := cmd.CombinedOutput()
			require.NoError(t, err, string(b))
			data, err := os.ReadFile(out)
			require.NoError(t, err)
			info, fs := inspect(t, data, Limits{})
			require.NotNil(t, info)
			if tt.code != "" {
				assert.Contains(t, codes(fs), tt.code)
			} else {
				assert.Empty(t, fs)
			}
			assert.Equal(t, tt.encrypted, info.EncryptedEntries)
			if tt.name == "password, names encrypted" {
				assert.Empty(t, info.Entries)
				return
			}
			assert.ElementsMatch(t, []string{"a.txt", "sub", "sub/b.bin"}, paths(info.Entries))
			assert.Equal(t, int64(20000), entry(t, info, "a.txt").Size)
			assert.Equal(t, int64(3000), entry(t, info, "sub/b.bin").Size)
			assert.True(t, entry(t, info, "sub").Dir)
		})
	}
}

func TestInspectSniffsABoundedNumberOfMembers(t *testing.T) {
	var files []tc.File
	for i := range maxSniffs + 50 {
		files = append(files, tc.File{Name: fmt.Sprintf("f%04d.txt", i), Body: []byte("plain")})
	}
	inner := tc.Zip(tc.File{Name: "x", Body: []byte("x")})
	files = append(files, tc.File{Name: "hidden.dat", Body: inner}, tc.File{Name: "named.zip", Body: inner})
	data := tc.Zip(files...)
	info, _ := inspect(t, data, Limits{})
	require.NotNil(t, info)
	assert.Equal(t, 1, info.NestedEntryCount, "past the first members, only those named like archives are opened")
	// Walk reads every member, nested ones included.
	var got []string
	require.NoError(t, Walk(context.Background(), bytes.NewReader(data), int64(len(data)), Limits{}, func(p string, _ io.Reader) error {
		if strings.HasSuffix(p, "/x") {
			got = append(got, p)
		}
		return nil
	}))
	assert.Equal(t, []string{"hidden.dat/x", "named.zip/x"}, got)
}

func TestEscapingLinkAloneIsNotTraversal(t *testing.T) {
	// System tarballs are full of absolute symlinks (/etc/alternatives/...):
	// only writing through one is an attack.
	data := tc.TarGz(tc.File{Name: "usr/bin/editor", Link: "/etc/alternatives/editor"}, tc.File{Name: "usr/bin/x", Body: []byte("x")})
	info, fs := inspect(t, data, Limits{})
	require.NotNil(t, info)
	assert.False(t, info.PathTraversal)
	assert.Empty(t, fs)
	assert.Equal(t, []string{"symlink", "linkEscapes"}, entry(t, info, "usr/bin/editor").Flags)
}
