// Package exe reads the properties of native executables, PE (Windows),
// ELF (Linux and most Unixes) and Mach-O (macOS, including universal
// binaries), with the standard library's debug/pe, debug/elf and
// debug/macho.
package exe

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Info is the executable metadata of a file (metadata["executable"]).
type Info struct {
	Format       string `json:"format"`       // "pe", "elf", "macho" or "macho-universal"
	Architecture string `json:"architecture"` // "x86-64", "x86", "arm64", "arm", ...
	Bits         int    `json:"bits"`         // 32 or 64
	// Type is "executable", "dll", "shared object", "pie executable",
	// "relocatable", "core", "dylib", "bundle" or "object".
	Type       string    `json:"type"`
	EntryPoint string    `json:"entryPoint,omitempty"` // hex; a virtual address (PE, ELF) or a file offset (Mach-O LC_MAIN)
	Sections   []Section `json:"sections"`
	// ImportsCount counts imported symbols (functions and data).
	ImportsCount int      `json:"importsCount"`
	Libraries    []string `json:"libraries,omitempty"` // imported libraries, first 100
	// Signed: PE: a certificate table (Authenticode) is present; Mach-O:
	// an LC_CODE_SIGNATURE is present. Present is not verified. Absent for
	// ELF, which has no standard signature.
	Signed *bool `json:"signed,omitempty"`
	// PE only.
	Subsystem string `json:"subsystem,omitempty"` // "console", "gui", "native", "efi application", ...
	DLL       *bool  `json:"dll,omitempty"`
	DotNet    bool   `json:"dotnet,omitempty"`    // has a CLR header
	Timestamp string `json:"timestamp,omitempty"` // link time from the COFF header, RFC 3339
	// ELF only.
	Interpreter string `json:"interpreter,omitempty"`
	// Mach-O universal binaries: the architectures inside; the other fields
	// describe the first.
	Architectures []string `json:"architectures,omitempty"`
}

// Section is one section (Mach-O: section of a segment).
type Section struct {
	Name string `json:"name"`
	Size int64  `json:"size"` // bytes in the file
	// Entropy is the Shannon entropy of the section's bytes in bits per
	// byte (0-8; packed or encrypted code is close to 8). Omitted when the
	// entropy budget was spent.
	Entropy *float64 `json:"entropy,omitempty"`
}

// Caps.
const (
	maxSections   = 200
	maxLibraries  = 100
	entropyBudget = 32 << 20 // section bytes read for entropy, per file
	maxTableRead  = 64 << 20 // largest section read to list imports
)

// ErrUnknown is returned for data that is not an executable format known
// here.
var ErrUnknown = errors.New("exe: not a PE, ELF or Mach-O file")

// Read returns the properties of the executable in src (size bytes).
func Read(src io.ReaderAt, size int64) (*Info, error) {
	magic := make([]byte, 4)
	if _, err := src.ReadAt(magic, 0); err != nil {
		return nil, ErrUnknown
	}
	switch {
	case string(magic[:2]) == "MZ":
		return readPE(src, size)
	case string(magic) == "\x7fELF":
		return readELF(src)
	case isMachO(magic):
		return readMachO(src)
	}
	return nil, ErrUnknown
}

func isMachO(m []byte) bool {
	be, le := binary.BigEndian.Uint32(m), binary.LittleEndian.Uint32(m)
	for _, v := range []uint32{macho.Magic32, macho.Magic64, macho.MagicFat} {
		if be == v || le == v {
			return true
		}
	}
	return false
}

// Description returns a human description, e.g. "Windows PE32+ executable
// (console, x86-64)".
func (i *Info) Description() string {
	switch i.Format {
	case "pe":
		kind := "PE32"
		if i.Bits == 64 {
			kind = "PE32+"
		}
		what := "executable"
		if i.DLL != nil && *i.DLL {
			what = "DLL"
		}
		attrs := []string{}
		if i.Subsystem == "console" || i.Subsystem == "gui" {
			attrs = append(attrs, strings.ToUpper(i.Subsystem[:1])+i.Subsystem[1:])
			if i.Subsystem == "gui" {
				attrs[0] = "GUI"
			}
		}
		attrs = append(attrs, i.Architecture)
		if i.DotNet {
			attrs = append(attrs, ".NET")
		}
		return fmt.Sprintf("Windows %s %s (%s)", kind, what, strings.Join(attrs, ", "))
	case "elf":
		return fmt.Sprintf("ELF %d-bit %s (%s)", i.Bits, i.Type, i.Architecture)
	case "macho":
		return fmt.Sprintf("Mach-O %d-bit %s (%s)", i.Bits, i.Type, i.Architecture)
	case "macho-universal":
		return fmt.Sprintf("Mach-O universal binary (%s)", strings.Join(i.Architectures, ", "))
	}
	return ""
}

// entropy computes section entropies within a byte budget shared by a
// file's sections.
type entropy struct {
	src    io.ReaderAt
	budget int64
	buf    []byte
}

func (e *entropy) of(off, n int64) *float64 {
	if n <= 0 || n > e.budget {
		return nil
	}
	e.budget -= n
	if e.buf == nil {
		e.buf = make([]byte, 64<<10)
	}
	var counts [256]int64
	var read int64
	for read < n {
		k := min(int64(len(e.buf)), n-read)
		m, err := e.src.ReadAt(e.buf[:k], off+read)
		for _, c := range e.buf[:m] {
			counts[c]++
		}
		read += int64(m)
		if err != nil {
			break
		}
	}
	if read == 0 {
		return nil
	}
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(read)
			h -= p * math.Log2(p)
		}
	}
	h = math.Round(h*1000) / 1000
	return &h
}

func ptr[T any](v T) *T { return &v }

func hex(v uint64) string { return fmt.Sprintf("0x%x", v) }

var peMachines = map[uint16]string{
	pe.IMAGE_FILE_MACHINE_I386: "x86", pe.IMAGE_FILE_MACHINE_AMD64: "x86-64", pe.IMAGE_FILE_MACHINE_ARM: "arm",
	pe.IMAGE_FILE_MACHINE_ARMNT: "arm", pe.IMAGE_FILE_MACHINE_ARM64: "arm64", pe.IMAGE_FILE_MACHINE_IA64: "ia64",
	pe.IMAGE_FILE_MACHINE_RISCV64: "riscv64", pe.IMAGE_FILE_MACHINE_RISCV32: "riscv32", pe.IMAGE_FILE_MACHINE_LOONGARCH64: "loongarch64",
}

var peSubsystems = map[uint16]string{
	1: "native", 2: "gui", 3: "console", 5: "os/2 console", 7: "posix console", 9: "windows ce gui",
	10: "efi application", 11: "efi boot service driver", 12: "efi runtime driver", 13: "efi rom", 14: "xbox", 16: "boot application",
}

func readPE(src io.ReaderAt, size int64) (*Info, error) {
	f, err := pe.NewFile(src)
	if err != nil {
		return nil, fmt.Errorf("exe: PE: %w", err)
	}
	defer f.Close()
	info := &Info{Format: "pe", Sections: []Section{}}
	info.Architecture = peMachines[f.Machine]
	if info.Architecture == "" {
		info.Architecture = fmt.Sprintf("machine 0x%x", f.Machine)
	}
	info.DLL = ptr(f.Characteristics&pe.IMAGE_FILE_DLL != 0)
	info.Type = "executable"
	if *info.DLL {
		info.Type = "dll"
	}
	if f.TimeDateStamp != 0 {
		info.Timestamp = time.Unix(int64(f.TimeDateStamp), 0).UTC().Format(time.RFC3339)
	}
	var dirs []pe.DataDirectory
	switch h := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		info.Bits = 32
		info.EntryPoint = hex(uint64(h.ImageBase) + uint64(h.AddressOfEntryPoint))
		info.Subsystem = peSubsystems[h.Subsystem]
		dirs = h.DataDirectory[:min(int(h.NumberOfRvaAndSizes), 16)]
	case *pe.OptionalHeader64:
		info.Bits = 64
		info.EntryPoint = hex(h.ImageBase + uint64(h.AddressOfEntryPoint))
		info.Subsystem = peSubsystems[h.Subsystem]
		dirs = h.DataDirectory[:min(int(h.NumberOfRvaAndSizes), 16)]
	default:
		info.Bits = 32
		if f.Machine == pe.IMAGE_FILE_MACHINE_AMD64 || f.Machine == pe.IMAGE_FILE_MACHINE_ARM64 {
			info.Bits = 64
		}
	}
	signed := len(dirs) > pe.IMAGE_DIRECTORY_ENTRY_SECURITY &&
		dirs[pe.IMAGE_DIRECTORY_ENTRY_SECURITY].Size > 0 && dirs[pe.IMAGE_DIRECTORY_ENTRY_SECURITY].VirtualAddress > 0 &&
		int64(dirs[pe.IMAGE_DIRECTORY_ENTRY_SECURITY].VirtualAddress) < size
	info.Signed = &signed
	info.DotNet = len(dirs) > pe.IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR && dirs[pe.IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR].Size > 0
	ent := &entropy{src: src, budget: entropyBudget}
	for _, s := range f.Sections[:min(len(f.Sections), maxSections)] {
		info.Sections = append(info.Sections, Section{Name: s.Name, Size: int64(s.Size), Entropy: ent.of(int64(s.Offset), int64(s.Size))})
	}
	// ImportedSymbols reads the whole section holding the import
	// directory: skip it when that section is huge.
	if len(dirs) > pe.IMAGE_DIRECTORY_ENTRY_IMPORT && dirs[pe.IMAGE_DIRECTORY_ENTRY_IMPORT].Size > 0 {
		rva := dirs[pe.IMAGE_DIRECTORY_ENTRY_IMPORT].VirtualAddress
		small := false
		for _, s := range f.Sections {
			if s.VirtualAddress <= rva && rva < s.VirtualAddress+max(s.VirtualSize, s.Size) {
				small = s.Size <= maxTableRead
			}
		}
		if small {
			syms, _ := f.ImportedSymbols()
			info.ImportsCount = len(syms)
			var libs []string
			for _, s := range syms {
				if _, lib, ok := strings.Cut(s, ":"); ok && !slices.Contains(libs, lib) && len(libs) < maxLibraries {
					libs = append(libs, lib)
				}
			}
			info.Libraries = libs
		}
	}
	return info, nil
}

var elfMachines = map[elf.Machine]string{
	elf.EM_386: "x86", elf.EM_X86_64: "x86-64", elf.EM_ARM: "arm", elf.EM_AARCH64: "arm64", elf.EM_RISCV: "riscv",
	elf.EM_MIPS: "mips", elf.EM_PPC: "ppc", elf.EM_PPC64: "ppc64", elf.EM_S390: "s390", elf.EM_LOONGARCH: "loongarch",
	elf.EM_SPARCV9: "sparc64", elf.EM_IA_64: "ia64",
}

func readELF(src io.ReaderAt) (*Info, error) {
	f, err := elf.NewFile(src)
	if err != nil {
		return nil, fmt.Errorf("exe: ELF: %w", err)
	}
	defer f.Close()
	info := &Info{Format: "elf", Sections: []Section{}}
	info.Architecture = elfMachines[f.Machine]
	if info.Architecture == "" {
		info.Architecture = strings.ToLower(strings.TrimPrefix(f.Machine.String(), "EM_"))
	}
	info.Bits = 32
	if f.Class == elf.ELFCLASS64 {
		info.Bits = 64
	}
	info.EntryPoint = hex(f.Entry)
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP && p.Filesz > 0 && p.Filesz < 4096 {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				info.Interpreter = string(bytes.TrimRight(b, "\x00"))
			}
		}
	}
	switch f.Type {
	case elf.ET_EXEC:
		info.Type = "executable"
	case elf.ET_DYN:
		info.Type = "shared object"
		if info.Interpreter != "" {
			info.Type = "pie executable"
		}
	case elf.ET_REL:
		info.Type = "relocatable"
	case elf.ET_CORE:
		info.Type = "core"
	default:
		info.Type = strings.ToLower(strings.TrimPrefix(f.Type.String(), "ET_"))
	}
	ent := &entropy{src: src, budget: entropyBudget}
	var dynBytes uint64
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NULL {
			continue
		}
		if s.Name == ".dynsym" || s.Name == ".dynstr" || s.Name == ".dynamic" {
			dynBytes += s.Size
		}
		if len(info.Sections) >= maxSections {
			continue
		}
		sec := Section{Name: s.Name}
		if s.Type != elf.SHT_NOBITS {
			sec.Size = int64(s.Size)
			sec.Entropy = ent.of(int64(s.Offset), int64(s.Size))
		}
		info.Sections = append(info.Sections, sec)
	}
	if dynBytes <= maxTableRead {
		syms, _ := f.ImportedSymbols()
		info.ImportsCount = len(syms)
		libs, _ := f.ImportedLibraries()
		info.Libraries = libs[:min(len(libs), maxLibraries)]
	}
	return info, nil
}

var machoCPUs = map[macho.Cpu]string{
	macho.Cpu386: "x86", macho.CpuAmd64: "x86-64", macho.CpuArm: "arm", macho.CpuArm64: "arm64",
	macho.CpuPpc: "ppc", macho.CpuPpc64: "ppc64",
}

func cpuName(c macho.Cpu) string {
	if n, ok := machoCPUs[c]; ok {
		return n
	}
	return fmt.Sprintf("cpu 0x%x", uint32(c))
}

// maxArches bounds the architectures of a universal binary: real ones
// have two to four, and debug/macho parses and keeps every one it is told
// of, which a hostile header can make millions.
const maxArches = 16

func readMachO(src io.ReaderAt) (*Info, error) {
	hdr := make([]byte, 8)
	if _, err := src.ReadAt(hdr, 0); err == nil && binary.BigEndian.Uint32(hdr) == macho.MagicFat &&
		binary.BigEndian.Uint32(hdr[4:]) > maxArches {
		return nil, fmt.Errorf("exe: Mach-O universal binary declaring %d architectures", binary.BigEndian.Uint32(hdr[4:]))
	}
	if ff, err := macho.NewFatFile(src); err == nil {
		defer ff.Close()
		if len(ff.Arches) == 0 {
			return nil, errors.New("exe: Mach-O universal binary without architectures")
		}
		info := machoInfo(src, ff.Arches[0].File, int64(ff.Arches[0].Offset))
		info.Format = "macho-universal"
		for _, a := range ff.Arches {
			info.Architectures = append(info.Architectures, cpuName(a.Cpu))
		}
		return info, nil
	}
	f, err := macho.NewFile(src)
	if err != nil {
		return nil, fmt.Errorf("exe: Mach-O: %w", err)
	}
	defer f.Close()
	return machoInfo(src, f, 0), nil
}

// Mach-O load commands that debug/macho does not decode.
const (
	lcMain          = 0x80000028
	lcCodeSignature = 0x1d
)

func machoInfo(src io.ReaderAt, f *macho.File, base int64) *Info {
	info := &Info{Format: "macho", Architecture: cpuName(f.Cpu), Bits: 32, Sections: []Section{}}
	if f.Magic == macho.Magic64 {
		info.Bits = 64
	}
	switch f.Type {
	case macho.TypeExec:
		info.Type = "executable"
	case macho.TypeDylib:
		info.Type = "dylib"
	case macho.TypeBundle:
		info.Type = "bundle"
	case macho.TypeObj:
		info.Type = "object"
	default:
		info.Type = fmt.Sprintf("type %d", f.Type)
	}
	signed := false
	for _, l := range f.Loads {
		raw := l.Raw()
		if len(raw) < 8 {
			continue
		}
		switch f.ByteOrder.Uint32(raw) {
		case lcMain:
			if len(raw) >= 16 {
				info.EntryPoint = hex(f.ByteOrder.Uint64(raw[8:]))
			}
		case lcCodeSignature:
			signed = true
		}
	}
	info.Signed = &signed
	ent := &entropy{src: src, budget: entropyBudget}
	for _, s := range f.Sections[:min(len(f.Sections), maxSections)] {
		sec := Section{Name: s.Seg + "," + s.Name}
		if s.Offset != 0 { // zero-fill sections have no file bytes
			sec.Size = int64(s.Size)
			sec.Entropy = ent.of(base+int64(s.Offset), int64(s.Size))
		}
		info.Sections = append(info.Sections, sec)
	}
	syms, _ := f.ImportedSymbols()
	info.ImportsCount = len(syms)
	libs, _ := f.ImportedLibraries()
	info.Libraries = libs[:min(len(libs), maxLibraries)]
	return info
}
