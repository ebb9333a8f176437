package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/scan/samples"
)

// walkAll walks data and returns the members' contents by path, the
// password list that opened each, and Walk's error.
func walkAll(t *testing.T, data []byte, lim Limits) (map[string]string, map[string]string, error) {
	t.Helper()
	got, by := map[string]string{}, map[string]string{}
	err := WalkMembers(context.Background(), bytes.NewReader(data), int64(len(data)), lim, func(m Member) error {
		b, err := io.ReadAll(m.Body)
		got[m.Path], by[m.Path] = string(b), m.UnlockedBy
		return err
	})
	return got, by, err
}

func limitCodes(err error) []string {
	var le *LimitError
	if !errors.As(err, &le) {
		return nil
	}
	return codes(le.Findings)
}

func readReal(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "real", name))
	require.NoError(t, err)
	return b
}

func numbers() string {
	var sb strings.Builder
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&sb, "%d\n", i)
	}
	return sb.String()
}

// TestRealArchives reads archives made by 7-Zip (testdata/real/make.sh):
// 7z in LZMA2, BZip2 and PPMd, 7z with AES (names visible or encrypted),
// zips with AES-128/256 and ZipCrypto under each built-in password, and
// one under a password no list has.
func TestRealArchives(t *testing.T) {
	want := map[string]string{"a.txt": "hello from 7-Zip\n", "sub/numbers.txt": numbers()}
	for _, tt := range []struct {
		file     string
		unlocked string
	}{
		{"lzma2.7z", ""}, {"bzip2.7z", ""}, {"ppmd.7z", ""},
		{"aes-infected.7z", SourceBuiltin}, {"aes-infected-mhe.7z", SourceBuiltin},
		{"aes256-infected.zip", SourceBuiltin}, {"aes128-malware.zip", SourceBuiltin}, {"zipcrypto-virus.zip", SourceBuiltin},
	} {
		t.Run(tt.file, func(t *testing.T) {
			data := readReal(t, tt.file)
			got, by, err := walkAll(t, data, Limits{})
			require.NoError(t, err)
			assert.Equal(t, want, got)
			for p := range got {
				assert.Equal(t, tt.unlocked, by[p], p)
			}
			info, fs := inspect(t, data, Limits{})
			require.NotNil(t, info)
			assert.Empty(t, fs)
			assert.Zero(t, info.EncryptedEntries)
			assert.Equal(t, int64(len(want["a.txt"])), entry(t, info, "a.txt").Size)
			assert.Equal(t, tt.unlocked, entry(t, info, "sub/numbers.txt").UnlockedBy)
			if tt.unlocked != "" {
				unlocked := 2
				if strings.Contains(tt.file, "mhe") {
					unlocked = 3 // the directory's name was encrypted too
				}
				assert.Equal(t, unlocked, info.UnlockedEntries)
			}
		})
	}
	t.Run("no list opens it", func(t *testing.T) {
		data := readReal(t, "aes-unknown-mhe.7z")
		got, _, err := walkAll(t, data, Limits{})
		assert.Empty(t, got)
		assert.Equal(t, []string{CodeEncrypted}, limitCodes(err))
		_, fs := inspect(t, data, Limits{})
		assert.Equal(t, []string{CodeEncrypted}, codes(fs))
	})
	t.Run("no passwords tried", func(t *testing.T) {
		got, _, err := walkAll(t, readReal(t, "aes256-infected.zip"), Limits{Passwords: []Passwords{}})
		assert.Empty(t, got)
		assert.Equal(t, []string{CodeEncrypted}, limitCodes(err))
	})
	t.Run("another list names itself", func(t *testing.T) {
		lists := []Passwords{{Source: "upload", List: []string{"nope", "infected"}}}
		_, by, err := walkAll(t, readReal(t, "aes256-infected.zip"), Limits{Passwords: lists})
		require.NoError(t, err)
		assert.Equal(t, "upload", by["a.txt"])
	})
}

// TestSevenZipBombs: 1 GiB of zeros in 150 KiB, plain and under the
// built-in password, is reported from the header alone, and the walk
// returns without decompressing it.
func TestSevenZipBombs(t *testing.T) {
	for _, name := range []string{"bomb-1g.7z", "bomb-1g-infected.7z"} {
		t.Run(name, func(t *testing.T) {
			data := readReal(t, name)
			var read int64
			err := WalkMembers(context.Background(), bytes.NewReader(data), int64(len(data)), Limits{}, func(m Member) error {
				n, err := io.Copy(io.Discard, m.Body)
				read += n
				return err
			})
			assert.Contains(t, limitCodes(err), CodeZipBomb)
			assert.Zero(t, read)
			_, fs := inspect(t, data, Limits{})
			assert.Contains(t, codes(fs), CodeZipBomb)
		})
	}
	t.Run("decompressed bytes are counted when the header is believed", func(t *testing.T) {
		data := readReal(t, "bomb-1g.7z")
		lim := Limits{MaxCompressionRatio: 1e9, MaxUncompressedSize: 8 << 20}
		var read int64
		err := WalkMembers(context.Background(), bytes.NewReader(data), int64(len(data)), lim, func(m Member) error {
			n, err := io.Copy(io.Discard, m.Body)
			read += n
			return err
		})
		assert.Contains(t, limitCodes(err), CodeTooLarge)
		assert.LessOrEqual(t, read, int64(8<<20)+256<<10)
	})
}

// TestPasswordProtectedBomb: a WinZip AES member that declares 1 KiB and
// inflates to 64 MiB of zeros. Verifying the password decompresses it, and
// that decompression is counted against the limits like any other.
func TestPasswordProtectedBomb(t *testing.T) {
	data := samples.AESZip("infected", "zeros.bin", make([]byte, 64<<20))
	// Rewrite the declared size (local header and central directory) to 1 KiB.
	zeros := binary.LittleEndian.AppendUint32(nil, 64<<20)
	data = bytes.ReplaceAll(data, zeros, binary.LittleEndian.AppendUint32(nil, 1024))
	calls := 0
	err := WalkMembers(context.Background(), bytes.NewReader(data), int64(len(data)), Limits{MaxUncompressedSize: 4 << 20},
		func(m Member) error { calls++; return nil })
	assert.Equal(t, []string{CodeTooLarge}, limitCodes(err))
	assert.Zero(t, calls)
}

// sevenZipCoded builds a one-folder, one-file 7z whose coder is id with
// props, declaring unpack bytes for packed.
func sevenZipCoded(id, props []byte, unpack uint64, packed []byte) []byte {
	num := func(v uint64) []byte { return binary.LittleEndian.AppendUint64([]byte{0xff}, v) }
	var h []byte
	add := func(b ...byte) { h = append(h, b...) }
	add(0x01, 0x04, 0x06, 0x00, 0x01, 0x09)
	add(num(uint64(len(packed)))...)
	add(0x00, 0x07, 0x0b, 0x01, 0x00, 0x01)
	add(0x20 | byte(len(id)))
	add(id...)
	add(byte(len(props)))
	add(props...)
	add(0x0c)
	add(num(unpack)...)
	add(0x00, 0x00, 0x05, 0x01, 0x11, 0x05, 0x00, 'x', 0, 0, 0, 0x00, 0x00)
	start := binary.LittleEndian.AppendUint64(nil, uint64(len(packed)))
	start = binary.LittleEndian.AppendUint64(start, uint64(len(h)))
	start = binary.LittleEndian.AppendUint32(start, crc32.ChecksumIEEE(h))
	out := binary.LittleEndian.AppendUint32([]byte("7z\xbc\xaf\x27\x1c\x00\x04"), crc32.ChecksumIEEE(start))
	return append(append(append(out, start...), packed...), h...)
}

// TestSevenZipDecoderLimits: headers that would make a decoder allocate
// gigabytes, or derive a key for ages, are refused before decoding, with a
// finding, and the library is never asked to decode them.
func TestSevenZipDecoderLimits(t *testing.T) {
	lzmaProps := func(dict uint32) []byte { return binary.LittleEndian.AppendUint32([]byte{0x5d}, dict) }
	cases := []struct {
		name string
		data []byte
		code string
	}{
		{"LZMA, 1 GiB dictionary and output", sevenZipCoded(codecLZMA, lzmaProps(1<<30), 1<<30, make([]byte, 16)), CodeDictionaryTooLarge},
		{"LZMA2, 3 GiB dictionary", sevenZipCoded(codecLZMA2, []byte{39}, 100, make([]byte, 16)), CodeDictionaryTooLarge},
		{"PPMd, 4 GiB model", sevenZipCoded(codecPPMd, lzmaProps(0xffffffff), 100, make([]byte, 16)), CodeDictionaryTooLarge},
		{"AES, 2^62 key-derivation rounds", sevenZipCoded(codecAES, []byte{0x3e}, 16, make([]byte, 16)), CodeKeyDerivation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Ratio and size limits off: the declared sizes alone would
			// otherwise stop the walk first.
			lim := Limits{MaxCompressionRatio: 1e12, MaxUncompressedSize: 1 << 40}
			got, _, err := walkAll(t, c.data, lim)
			assert.Empty(t, got)
			assert.Contains(t, limitCodes(err), c.code)
			_, fs := inspect(t, c.data, lim)
			assert.Contains(t, codes(fs), c.code)
		})
	}
	t.Run("a small LZMA dictionary passes the same check", func(t *testing.T) {
		got, _, err := walkAll(t, samples.EICAR7z(), Limits{})
		require.NoError(t, err)
		assert.Equal(t, samples.EICAR, got["eicar.com"])
	})
}

// TestSevenZipHugeCountIsVetted: a 41-byte 7z declaring 2^32 - 1 files.
// Handed to the library unchecked, it ends the process with a fatal
// out-of-memory; the pre-flight read refuses it.
func TestSevenZipHugeCountIsVetted(t *testing.T) {
	hdr := []byte{0x01, 0x05, 0xf0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00}
	start := binary.LittleEndian.AppendUint64(make([]byte, 8), uint64(len(hdr)))
	start = binary.LittleEndian.AppendUint32(start, crc32.ChecksumIEEE(hdr))
	data := binary.LittleEndian.AppendUint32([]byte("7z\xbc\xaf\x27\x1c\x00\x04"), crc32.ChecksumIEEE(start))
	data = append(append(data, start...), hdr...)
	_, _, err := walkAll(t, data, Limits{})
	assert.NotContains(t, fmt.Sprint(err), "walk failed")
	_, fs := inspect(t, data, Limits{})
	assert.Equal(t, []string{CodeMalformed}, codes(fs))
}

func TestRar(t *testing.T) {
	t.Run("stored", func(t *testing.T) {
		got, by, err := walkAll(t, samples.RAR("", "dir/eicar.com", []byte(samples.EICAR)), Limits{})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"dir/eicar.com": samples.EICAR}, got)
		assert.Empty(t, by["dir/eicar.com"])
		info, fs := inspect(t, samples.EICARRar(), Limits{})
		assert.Empty(t, fs)
		assert.Equal(t, "rar", info.Format)
		assert.Equal(t, int64(len(samples.EICAR)), entry(t, info, "eicar.com").Size)
	})
	t.Run("encrypted, built-in password", func(t *testing.T) {
		got, by, err := walkAll(t, samples.RAR("malware", "x.txt", []byte("secret")), Limits{})
		require.NoError(t, err)
		assert.Equal(t, "secret", got["x.txt"])
		assert.Equal(t, SourceBuiltin, by["x.txt"])
	})
	t.Run("encrypted, unknown password", func(t *testing.T) {
		data := samples.RAR("unknown-pw", "x.txt", []byte("secret"))
		got, _, err := walkAll(t, data, Limits{})
		assert.Empty(t, got)
		assert.Equal(t, []string{CodeEncrypted}, limitCodes(err))
		info, fs := inspect(t, data, Limits{})
		assert.Equal(t, []string{CodeEncrypted}, codes(fs))
		assert.Equal(t, 1, info.EncryptedEntries)
	})
	t.Run("dictionary over the limit", func(t *testing.T) {
		// 128 KiB << 15 = 4 GiB, for a file that claims 8 GiB.
		data := samples.RARWith(samples.RAROptions{Method: 3, DictLog: 15, DeclaredSize: 8 << 30}, "big", make([]byte, 32))
		got, _, err := walkAll(t, data, Limits{MaxCompressionRatio: 1e12, MaxUncompressedSize: 1 << 40})
		assert.Empty(t, got)
		assert.Contains(t, limitCodes(err), CodeDictionaryTooLarge)
	})
	t.Run("2^24 key-derivation rounds are refused before any is run", func(t *testing.T) {
		data := samples.RARWith(samples.RAROptions{Password: "infected", KDF: 24}, "x.txt", []byte("secret"))
		got, _, err := walkAll(t, data, Limits{})
		assert.Empty(t, got)
		assert.Contains(t, limitCodes(err), CodeKeyDerivation)
		_, fs := inspect(t, data, Limits{})
		assert.Contains(t, codes(fs), CodeKeyDerivation)
	})
	t.Run("the cost WinRAR writes is accepted", func(t *testing.T) {
		data := samples.RAR("x", "y", []byte("z"))
		assert.Equal(t, 15, rar5KDF(bytes.NewReader(data), int64(len(data)), 100))
		assert.Equal(t, -1, rar5KDF(bytes.NewReader(samples.EICAR7z()), 100, 100))
	})
	t.Run("nested in a zip", func(t *testing.T) {
		got, _, err := walkAll(t, samples.EICARAESZip("virus"), Limits{})
		require.NoError(t, err)
		assert.Equal(t, samples.EICAR, got["eicar.com"])
	})
}

// TestCrossCheck checks the sample builders against independent readers
// where installed: 7z for 7z, zip and RAR; lsar (from unar) for RAR.
func TestCrossCheck(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"s.7z":   samples.EICAR7z(),
		"s.rar":  samples.EICARRar(),
		"se.rar": samples.RAR("infected", "eicar.com", []byte(samples.EICAR)),
		"s.zip":  samples.EICARAESZip("infected"),
	}
	ran := 0
	for name, b := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		if _, err := exec.LookPath("7z"); err == nil {
			ran++
			out, err := exec.Command("7z", "x", "-so", "-pinfected", p).Output()
			require.NoError(t, err, name)
			assert.Equal(t, samples.EICAR, string(out), name)
		}
		if _, err := exec.LookPath("lsar"); err == nil && strings.HasSuffix(name, ".rar") {
			ran++
			out, err := exec.Command("lsar", "-t", "-p", "infected", p).CombinedOutput()
			require.NoError(t, err, string(out))
			assert.Contains(t, string(out), "1 passed, 0 failed", name)
		}
	}
	if ran == 0 {
		t.Skip("neither 7z nor lsar installed")
	}
}

// TestSevenZipMemoryFlat walks a 7z of 1 GiB (zeros, so that it is small
// on disk) with limits that let it through: the member is streamed, so the
// heap stays at the decoder's dictionary and buffers. INTELLIDOX_BIG=1.
func TestSevenZipMemoryFlat(t *testing.T) {
	if os.Getenv("INTELLIDOX_BIG") == "" {
		t.Skip("INTELLIDOX_BIG=1 runs it")
	}
	data := readReal(t, "bomb-1g.7z")
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	var n int64
	err := WalkMembers(context.Background(), bytes.NewReader(data), int64(len(data)),
		Limits{MaxCompressionRatio: 1e9, MaxUncompressedSize: 2 << 30}, func(m Member) error {
			k, err := io.Copy(io.Discard, m.Body)
			n += k
			return err
		})
	close(done)
	require.NoError(t, err)
	assert.Equal(t, int64(1<<30), n)
	t.Logf("1 GiB 7z member streamed in %s, peak heap in use %.1f MiB", time.Since(start), float64(peak.Load())/(1<<20))
	// The 16 MiB LZMA2 dictionary, decoder buffers, and garbage not yet
	// collected: flat, whatever the size of the member.
	assert.Less(t, peak.Load(), uint64(128<<20))
}

// BenchmarkBombs times the walks that must end early: the 1 GiB 7z bombs
// (plain and under the built-in password, stopped by the declared ratio),
// the same bomb with the ratio believed (stopped after 64 MiB by the size
// limit), an AES zip whose declared size lies (its password check inflates
// until the size limit), a 7z asking for 2^62 key-derivation rounds, and a
// RAR 4 of 100 encrypted members with a salt each (the walk's budget of key
// derivations).
func BenchmarkBombs(b *testing.B) {
	read := func(name string) []byte {
		d, err := os.ReadFile(filepath.Join("testdata", "real", name))
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	var locked []samples.RAR4File
	for i := range 100 {
		locked = append(locked, samples.RAR4File{Name: fmt.Sprint(i), Body: []byte("x"), UnknownKey: true})
	}
	lying := samples.AESZip("infected", "zeros.bin", make([]byte, 256<<20))
	lying = bytes.ReplaceAll(lying, binary.LittleEndian.AppendUint32(nil, 256<<20), binary.LittleEndian.AppendUint32(nil, 1024))
	cases := []struct {
		name string
		data []byte
		lim  Limits
	}{
		{"7z-1GiB", read("bomb-1g.7z"), Limits{}},
		{"7z-1GiB-password", read("bomb-1g-infected.7z"), Limits{}},
		{"7z-1GiB-ratio-believed", read("bomb-1g.7z"), Limits{MaxCompressionRatio: 1e9, MaxUncompressedSize: 64 << 20}},
		{"aes-zip-lying-size", lying, Limits{MaxUncompressedSize: 64 << 20}},
		{"7z-kdf-2^62", sevenZipCoded(codecAES, []byte{0x3e}, 16, make([]byte, 16)), Limits{}},
		{"rar-kdf-2^24", samples.RARWith(samples.RAROptions{Password: "infected", KDF: 24}, "x", []byte("x")), Limits{}},
		{"rar4-100-salted-members", samples.RAR4With(samples.RAR4Options{}, locked...), Limits{}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				err := WalkMembers(context.Background(), bytes.NewReader(c.data), int64(len(c.data)), c.lim, func(m Member) error {
					_, err := io.Copy(io.Discard, m.Body)
					return err
				})
				if limitCodes(err) == nil {
					b.Fatalf("no limit tripped: %v", err)
				}
			}
		})
	}
}
