package exe

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func read(t *testing.T, data []byte) *Info {
	t.Helper()
	info, err := Read(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	return info
}

func names(ss []Section) []string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	return n
}

func TestReadPE(t *testing.T) {
	imports := map[string][]string{"KERNEL32.dll": {"ExitProcess", "GetStdHandle", "WriteFile"}, "USER32.dll": {"MessageBoxW"}}
	tests := []struct {
		name string
		opts tc.PEOptions
		want Info
	}{
		{"64-bit console executable", tc.PEOptions{Imports: imports},
			Info{Format: "pe", Architecture: "x86-64", Bits: 64, Type: "executable", EntryPoint: "0x140001000",
				ImportsCount: 4, Libraries: []string{"KERNEL32.dll", "USER32.dll"}, Signed: ptr(false),
				Subsystem: "console", DLL: ptr(false), Timestamp: "2024-05-17T10:30:00Z"}},
		{"32-bit GUI DLL, signed", tc.PEOptions{Bits: 32, DLL: true, GUI: true, Signed: true, Entry: 0x1010,
			Imports: map[string][]string{"KERNEL32.dll": {"Sleep"}}},
			Info{Format: "pe", Architecture: "x86", Bits: 32, Type: "dll", EntryPoint: "0x401010",
				ImportsCount: 1, Libraries: []string{"KERNEL32.dll"}, Signed: ptr(true),
				Subsystem: "gui", DLL: ptr(true), Timestamp: "2024-05-17T10:30:00Z"}},
		{"no imports", tc.PEOptions{},
			Info{Format: "pe", Architecture: "x86-64", Bits: 64, Type: "executable", EntryPoint: "0x140001000",
				Signed: ptr(false), Subsystem: "console", DLL: ptr(false), Timestamp: "2024-05-17T10:30:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := read(t, tc.PE(tt.opts))
			assert.Equal(t, []string{".text", ".idata"}, names(got.Sections))
			require.NotNil(t, got.Sections[0].Entropy)
			// .text is 64 bytes of 0xc3 padded with zeros to 512: p = 1/8 and 7/8.
			assert.InDelta(t, -(math.Log2(1.0/8)/8 + 7*math.Log2(7.0/8)/8), *got.Sections[0].Entropy, 0.001)
			got.Sections = nil
			assert.Equal(t, tt.want, *got)
		})
	}
	assert.Equal(t, "Windows PE32 DLL (GUI, x86)", read(t, tc.PE(tests[1].opts)).Description())
	assert.Equal(t, "Windows PE32+ executable (Console, x86-64)", read(t, tc.PE(tests[0].opts)).Description())
}

func TestReadELFAndMachO(t *testing.T) {
	e := read(t, tc.ELF(0x401000))
	assert.Equal(t, "elf", e.Format)
	assert.Equal(t, "x86-64", e.Architecture)
	assert.Equal(t, 64, e.Bits)
	assert.Equal(t, "executable", e.Type)
	assert.Equal(t, "0x401000", e.EntryPoint)
	assert.Equal(t, []string{".text", ".data", ".shstrtab"}, names(e.Sections))
	assert.Equal(t, int64(64), e.Sections[0].Size)
	assert.Nil(t, e.Signed)
	assert.Equal(t, "ELF 64-bit executable (x86-64)", e.Description())

	m := read(t, tc.MachO(0x1000, true))
	assert.Equal(t, "macho", m.Format)
	assert.Equal(t, "arm64", m.Architecture)
	assert.Equal(t, 64, m.Bits)
	assert.Equal(t, "executable", m.Type)
	assert.Equal(t, "0x1000", m.EntryPoint)
	assert.Equal(t, []string{"__TEXT,__text"}, names(m.Sections))
	assert.Equal(t, []string{"/usr/lib/libSystem.B.dylib"}, m.Libraries)
	assert.Equal(t, ptr(true), m.Signed)
	assert.Equal(t, ptr(false), read(t, tc.MachO(0x1000, false)).Signed)
}

func TestReadFatMachOArchitecturesAreBounded(t *testing.T) {
	thin := tc.MachO(0x1000, false)
	fat := func(n int) []byte {
		b := binary.BigEndian.AppendUint32(nil, 0xcafebabe)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		off := 8 + 20*n
		for i := range n { // every entry points at the same image, a distinct subtype each
			b = binary.BigEndian.AppendUint32(b, 0x0100000c)
			b = binary.BigEndian.AppendUint32(b, uint32(i))
			b = binary.BigEndian.AppendUint32(b, uint32(off))
			b = binary.BigEndian.AppendUint32(b, uint32(len(thin)))
			b = binary.BigEndian.AppendUint32(b, 14)
		}
		return append(b, thin...)
	}
	two := read(t, fat(2))
	assert.Equal(t, "macho-universal", two.Format)
	assert.Equal(t, []string{"arm64", "arm64"}, two.Architectures)
	huge := fat(100_000)
	_, err := Read(bytes.NewReader(huge), int64(len(huge)))
	assert.ErrorContains(t, err, "100000 architectures")
}

func TestReadDamaged(t *testing.T) {
	_, err := Read(bytes.NewReader([]byte("hello")), 5)
	assert.ErrorIs(t, err, ErrUnknown)
	for _, data := range [][]byte{tc.PE(tc.PEOptions{Imports: map[string][]string{"A.dll": {"f"}}}), tc.ELF(1), tc.MachO(0x1000, true)} {
		for cut := 0; cut < len(data); cut += 13 {
			assert.NotPanics(t, func() { _, _ = Read(bytes.NewReader(data[:cut]), int64(cut)) })
		}
	}
}

// TestReadRealBinaries reads binaries made by real toolchains and checks
// them against binutils. It compiles, so it is skipped in -short mode.
func TestReadRealBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles binaries")
	}
	dir := t.TempDir()
	t.Run("gcc ELF", func(t *testing.T) {
		if _, err := exec.LookPath("gcc"); err != nil {
			t.Skip("no gcc")
		}
		src := filepath.Join(dir, "hello.c")
		require.NoError(t, os.WriteFile(src, []byte("#include <stdio.h>\n#include <math.h>\nint main(int c, char **v){printf(\"%f\\n\", sqrt(c)); return 0;}\n"), 0o600))
		bin := filepath.Join(dir, "hello")
		out, err := exec.Command("gcc", "-O1", "-o", bin, src, "-lm").CombinedOutput()
		require.NoError(t, err, string(out))
		data, err := os.ReadFile(bin)
		require.NoError(t, err)
		got := read(t, data)
		undef, err := exec.Command("nm", "-D", "--undefined-only", bin).Output()
		require.NoError(t, err)
		// Imports are the undefined global symbols; nm marks them U (weak ones w).
		assert.Equal(t, strings.Count(string(undef), " U "), got.ImportsCount)
		needed, err := exec.Command("readelf", "-d", bin).Output()
		require.NoError(t, err)
		for _, l := range got.Libraries {
			assert.Contains(t, string(needed), "["+l+"]")
		}
		assert.Contains(t, got.Libraries, "libc.so.6")
		assert.Equal(t, "pie executable", got.Type)
		assert.True(t, strings.HasPrefix(got.Interpreter, "/lib"))
		hdr, err := exec.Command("readelf", "-h", bin).Output()
		require.NoError(t, err)
		assert.Contains(t, string(hdr), "Entry point address:               "+got.EntryPoint)
	})
	goBuild := func(t *testing.T, goos, goarch, name string) []byte {
		src := filepath.Join(dir, "main.go")
		require.NoError(t, os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hi\") }\n"), 0o600))
		bin := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", bin, src)
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		data, err := os.ReadFile(bin)
		require.NoError(t, err)
		return data
	}
	t.Run("Go PE", func(t *testing.T) {
		data := goBuild(t, "windows", "amd64", "hello.exe")
		got := read(t, data)
		assert.Equal(t, "x86-64", got.Architecture)
		assert.Equal(t, "console", got.Subsystem)
		assert.Equal(t, ptr(false), got.Signed)
		assert.Contains(t, got.Libraries, "kernel32.dll")
		assert.Positive(t, got.ImportsCount)
		headers, err := exec.Command("objdump", "-h", filepath.Join(dir, "hello.exe")).Output()
		require.NoError(t, err)
		for _, s := range got.Sections {
			assert.Contains(t, string(headers), " "+s.Name+" ")
		}
	})
	t.Run("Go Mach-O", func(t *testing.T) {
		got := read(t, goBuild(t, "darwin", "arm64", "hello.macho"))
		assert.Equal(t, "macho", got.Format)
		assert.Equal(t, "arm64", got.Architecture)
		assert.Equal(t, ptr(true), got.Signed, "the Go linker signs darwin/arm64 binaries ad hoc")
		assert.Contains(t, names(got.Sections), "__TEXT,__text")
	})
	t.Run("osslsigncode-signed PE", func(t *testing.T) {
		if _, err := exec.LookPath("osslsigncode"); err != nil {
			t.Skip("no osslsigncode")
		}
		key, crt := filepath.Join(dir, "key.pem"), filepath.Join(dir, "crt.pem")
		out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=IntelliDox test",
			"-days", "1", "-keyout", key, "-out", crt).CombinedOutput()
		require.NoError(t, err, string(out))
		in, signed := filepath.Join(dir, "in.exe"), filepath.Join(dir, "signed.exe")
		unsigned := tc.PE(tc.PEOptions{Imports: map[string][]string{"KERNEL32.dll": {"ExitProcess"}}})
		require.NoError(t, os.WriteFile(in, unsigned, 0o600))
		out, err = exec.Command("osslsigncode", "sign", "-certs", crt, "-key", key, "-in", in, "-out", signed).CombinedOutput()
		require.NoError(t, err, string(out))
		data, err := os.ReadFile(signed)
		require.NoError(t, err)
		assert.Equal(t, ptr(false), read(t, unsigned).Signed)
		assert.Equal(t, ptr(true), read(t, data).Signed)
	})
}
