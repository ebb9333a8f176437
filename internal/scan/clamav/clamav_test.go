package clamav_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/scan/clamav"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/testenv"
)

func dbDir() string { return filepath.Join(testenv.Root(), "clamav", "db") }

func scanBytes(t testing.TB, e *clamav.Engine, b []byte) scan.Finding {
	t.Helper()
	f, err := e.Scan(context.Background(), bytes.NewReader(b), scan.File{Size: int64(len(b))})
	require.NoError(t, err)
	return f
}

func TestEngine(t *testing.T) {
	e := clamav.New(clamav.Config{Addr: testenv.ClamdAddr(t), DBDir: dbDir(), Timeout: time.Minute})
	engine, sigs, err := e.Versions(context.Background())
	require.NoError(t, err)
	assert.Regexp(t, `^\d+\.\d+`, engine)
	assert.Regexp(t, `local-[0-9a-f]{12}$`, sigs)

	cases := []struct {
		name    string
		file    []byte
		outcome contract.Outcome
		threats []string
	}{
		{"eicar", []byte(samples.EICAR), contract.Malicious, []string{"IntelliDox.Test.EICAR.UNOFFICIAL"}},
		{"eicar in a zip", samples.EICARZip(), contract.Malicious, []string{"IntelliDox.Test.EICAR.UNOFFICIAL"}},
		{"eicar in a 7z", samples.EICAR7z(), contract.Malicious, []string{"IntelliDox.Test.EICAR.UNOFFICIAL"}},
		{"eicar in a rar", samples.EICARRar(), contract.Malicious, []string{"IntelliDox.Test.EICAR.UNOFFICIAL"}},
		{"eicar in a rar 4", samples.EICARRar4(), contract.Malicious, []string{"IntelliDox.Test.EICAR.UNOFFICIAL"}},
		{"marker", []byte("prefix " + samples.Marker + " suffix"), contract.Malicious, []string{"IntelliDox.Test.Marker.UNOFFICIAL"}},
		{"heuristic signature", []byte("INTELLIDOX-TEST-SUSPICIOUS-2b81d0"), contract.Suspicious, []string{"IntelliDox.Heuristics.TestSuspicious.UNOFFICIAL"}},
		{"clean", []byte(samples.Clean), contract.Clean, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := scanBytes(t, e, c.file)
			assert.Equal(t, c.outcome, f.Outcome, f.Detail)
			assert.Equal(t, c.threats, f.Threats)
			assert.NotEmpty(t, f.Detail)
		})
	}
}

// startClamd runs a private clamd with the project's signatures and extra
// configuration lines, for tests that need other limits.
func startClamd(t *testing.T, conf ...string) string {
	t.Helper()
	bin, err := exec.LookPath("clamd")
	if err != nil {
		bin = "/usr/sbin/clamd"
	}
	port := testenv.FreePort(t)
	dir := t.TempDir()
	lines := append([]string{
		"TCPSocket " + strconv.Itoa(port), "TCPAddr 127.0.0.1", "DatabaseDirectory " + dbDir(),
		"LogFile " + filepath.Join(dir, "clamd.log"), "Foreground yes",
	}, conf...)
	path := filepath.Join(dir, "clamd.conf")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	testenv.Start(t, exec.Command(bin, "-c", path), "clamd")
	testenv.WaitPort(t, port, "clamd")
	return "127.0.0.1:" + strconv.Itoa(port)
}

func TestLimitsAreSkips(t *testing.T) {
	addr := startClamd(t, "StreamMaxLength 2M", "MaxScanSize 1M", "MaxFileSize 1M",
		"AlertExceedsMax yes", "AlertEncrypted yes")
	e := clamav.New(clamav.Config{Addr: addr, Timeout: time.Minute})
	random := func(n int) []byte { b := make([]byte, n); _, _ = rand.Read(b); return b }

	f := scanBytes(t, e, random(1500<<10))
	assert.Equal(t, contract.Skipped, f.Outcome)
	assert.Equal(t, scan.ReasonTooLarge, scan.SkipReason(f.Detail), f.Detail)
	assert.Contains(t, f.Detail, "MaxFileSize")

	f = scanBytes(t, e, random(3<<20))
	assert.Equal(t, contract.Skipped, f.Outcome)
	assert.Equal(t, scan.ReasonTooLarge, scan.SkipReason(f.Detail), f.Detail)
	assert.Contains(t, f.Detail, "StreamMaxLength")

	f = scanBytes(t, e, encryptedZip(t))
	assert.Equal(t, contract.Skipped, f.Outcome)
	assert.Equal(t, scan.ReasonEncrypted, scan.SkipReason(f.Detail), f.Detail)

	f = scanBytes(t, e, []byte(samples.EICAR))
	assert.Equal(t, contract.Malicious, f.Outcome, "small files are still scanned")

	capped := clamav.New(clamav.Config{Addr: addr, MaxSize: 10})
	f, err := capped.Scan(context.Background(), failingReader{}, scan.File{Size: 11})
	require.NoError(t, err)
	assert.Equal(t, scan.ReasonTooLarge, scan.SkipReason(f.Detail), f.Detail)
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { panic("the object must not be read") }

// encryptedZip has one member flagged as encrypted.
func encryptedZip(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "secret.txt", Flags: 0x1, Method: zip.Store,
		CompressedSize64: 22, UncompressedSize64: 10, CRC32: 0x12345678})
	require.NoError(t, err)
	_, _ = w.Write(bytes.Repeat([]byte{0x5a}, 22))
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	e := clamav.New(clamav.Config{Addr: addr})
	_, err = e.Scan(context.Background(), strings.NewReader("x"), scan.File{Size: 1})
	assert.ErrorIs(t, err, scan.ErrUnavailable)
	_, _, err = e.Versions(context.Background())
	assert.ErrorIs(t, err, scan.ErrUnavailable)
}

func TestSilentClamdTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c) }() // reads, never answers
		}
	}()
	t.Run("context deadline", func(t *testing.T) {
		e := clamav.New(clamav.Config{Addr: l.Addr().String()})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.Scan(ctx, strings.NewReader("x"), scan.File{Size: 1})
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("client timeout", func(t *testing.T) {
		e := clamav.New(clamav.Config{Addr: l.Addr().String(), Timeout: 200 * time.Millisecond})
		_, err := e.Scan(context.Background(), strings.NewReader("x"), scan.File{Size: 1})
		assert.ErrorIs(t, err, scan.ErrUnavailable, "a clamd that stops answering is unavailable: retry")
	})
}

// BenchmarkInstream streams random data to the real clamd (CLAMD_ADDR or
// 127.0.0.1:3310), one connection per scan as in production. Every
// iteration sends new content: clamd caches clean verdicts by MD5, and the
// same bytes again would measure its cache, not a scan.
func BenchmarkInstream(b *testing.B) {
	c := &clamav.Client{Addr: testenv.ClamdAddr(b), Timeout: time.Minute}
	for _, mb := range []int{1, 10} {
		data := make([]byte, mb<<20)
		_, _ = rand.Read(data)
		b.Run(fmt.Sprintf("%dMiB", mb), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, _ = rand.Read(data[:16])
				r, err := c.Scan(context.Background(), bytes.NewReader(data))
				if err != nil || r.Found || r.Limited {
					b.Fatal(r, err)
				}
			}
		})
	}
}
