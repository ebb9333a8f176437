package archive

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
	"github.com/intellidox/intellidox/internal/scan/samples"
)

func TestFuzzSeeds(t *testing.T) {
	tc.WriteSeeds(t, "FuzzArchive",
		tc.Zip(tc.File{Name: "a.txt", Body: []byte("hello")}, tc.File{Name: "d/", Mode: fs.ModeDir}, tc.File{Name: "../x", Body: []byte("x")}),
		tc.Nested(4),
		tc.Bomb(2, 4, 1),
		tc.TarGz(tc.File{Name: "a", Body: []byte("a")}, tc.File{Name: "l", Link: "../../etc"}),
		tc.Tar(tc.File{Name: "z.zip", Body: tc.Zip(tc.File{Name: "in", Body: []byte("in")})}),
		tc.Gzip("x.txt", []byte("gzipped text")),
		tc.Zip(tc.File{Name: "enc", Body: []byte("xx"), Encrypted: true}, tc.File{Name: "g.gz", Body: tc.Gzip("", []byte("g"))}),
		tc.SevenZip(tc.SevenZipOptions{}, tc.File{Name: "d/"}, tc.File{Name: "d/a", Body: []byte("a")}, tc.File{Name: "e"}),
		tc.SevenZip(tc.SevenZipOptions{EncodeHeader: true}, tc.File{Name: "x", Body: []byte("xyz")}, tc.File{Name: "y", Body: []byte("y")}),
		tc.SevenZip(tc.SevenZipOptions{Encrypted: true}, tc.File{Name: "s", Body: []byte("s")}),
		samples.SevenZip("a.txt", []byte("harmless")), samples.RAR("", "a.txt", []byte("harmless")), samples.AESZip("infected", "a.txt", []byte("harmless")),
	)
}

// TestFuzzSeedsDepth writes the seeds of the targets for the formats read
// through libraries (7z, RAR) and for encrypted zips.
func TestFuzzSeedsDepth(t *testing.T) {
	real := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "real", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tc.WriteSeeds(t, "FuzzSevenZip",
		samples.SevenZip("a.txt", []byte("harmless")),
		real("lzma2.7z"), real("bzip2.7z"), real("ppmd.7z"), real("aes-infected.7z"), real("aes-infected-mhe.7z"),
		tc.SevenZip(tc.SevenZipOptions{EncodeHeader: true}, tc.File{Name: "x", Body: []byte("xyz")}, tc.File{Name: "d/"}),
	)
	tc.WriteSeeds(t, "FuzzRar",
		samples.RAR("", "a.txt", []byte("harmless, stored")),
		samples.RAR("infected", "a/b.txt", []byte("encrypted content")),
		samples.RARWith(samples.RAROptions{Method: 3, DictLog: 2}, "c", []byte("not really compressed")),
		tc.Zip(tc.File{Name: "in.rar", Body: samples.RAR("", "x", []byte("nested"))}),
		// RAR 4: stored, data encrypted, headers encrypted (-hp), members
		// no password opens, a size that lies.
		samples.RAR4With(samples.RAR4Options{}, samples.RAR4File{Name: "a.txt", Body: []byte("harmless, stored")}, samples.RAR4File{Name: "d\\b", Body: []byte("b")}),
		samples.RAR4With(samples.RAR4Options{Password: "infected"}, samples.RAR4File{Name: "a/b.txt", Body: []byte("encrypted content")}),
		samples.RAR4With(samples.RAR4Options{Password: "infected", EncryptHeaders: true}, samples.RAR4File{Name: "h.txt", Body: []byte("hidden name")}),
		samples.RAR4With(samples.RAR4Options{}, samples.RAR4File{Name: "l1", Body: []byte("x"), UnknownKey: true},
			samples.RAR4File{Name: "l2", Body: []byte("y"), UnknownKey: true}, samples.RAR4File{Name: "p", Body: []byte("plain")}),
		samples.RAR4With(samples.RAR4Options{}, samples.RAR4File{Name: "lie", Body: []byte("short"), DeclaredSize: 4000, PackedSize: 2}),
	)
	tc.WriteSeeds(t, "FuzzEncryptedZip",
		samples.AESZip("infected", "a.txt", []byte("harmless")),
		samples.AESZip("other", "x", []byte("locked")),
		real("aes128-malware.zip"), real("zipcrypto-virus.zip"),
	)
}

// fuzzLimits are small, so that a fuzz input cannot spend long in one call.
var fuzzLimits = Limits{MaxArchiveDepth: 3, MaxArchiveEntries: 50, MaxUncompressedSize: 4 << 20, MaxNestedArchiveSize: 1 << 20,
	MaxDictionarySize: 8 << 20}

// FuzzSevenZip, FuzzRar and FuzzEncryptedZip run the same checks as
// FuzzArchive from seeds of one format each, so that fuzzing time goes to
// the paths through github.com/bodgit/sevenzip, rardecode and the zip
// decryption.
func FuzzSevenZip(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { checkArchive(t, fuzzLimits, data) })
}
func FuzzRar(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { checkArchive(t, fuzzLimits, data) })
}
func FuzzEncryptedZip(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { checkArchive(t, fuzzLimits, data) })
}

// FuzzArchive runs the listing and the walk, with small limits, on any
// input: they must not panic, and the walk must stay within its limits.
func FuzzArchive(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { checkArchive(t, fuzzLimits, data) })
}

func checkArchive(t *testing.T, lim Limits, data []byte) {
	{
		tc.Within(t, 10*time.Second, func() {
			ctx := context.Background()
			r := bytes.NewReader(data)
			Inspect(ctx, r, int64(len(data)), lim)
			InspectStream(ctx, bytes.NewReader(data), int64(len(data)), lim)
			var total int64
			calls := 0
			err := Walk(ctx, r, int64(len(data)), lim, func(_ string, body io.Reader) error {
				calls++
				n, err := io.Copy(io.Discard, body)
				total += n
				return err
			})
			if err != nil && strings.Contains(err.Error(), "walk failed") {
				t.Errorf("Walk recovered a panic: %v", err) // recovered in production, a bug all the same
			}
			if calls > lim.MaxArchiveEntries {
				t.Errorf("%d members walked, limit %d", calls, lim.MaxArchiveEntries)
			}
			// A member passed whole (too deep to open) may add one buffer.
			if total > lim.MaxUncompressedSize+lim.MaxNestedArchiveSize+int64(len(data)) {
				t.Errorf("%d bytes walked, limit %d", total, lim.MaxUncompressedSize)
			}
		})
	}
}
