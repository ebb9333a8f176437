package testcorpus

import (
	"bytes"
	"encoding/binary"
	"sort"
)

// PEOptions choose what a generated PE image holds.
type PEOptions struct {
	Bits    int                 // 32 or 64 (default)
	DLL     bool                // a DLL rather than an executable
	GUI     bool                // the Windows GUI subsystem rather than the console
	Imports map[string][]string // DLL → imported functions
	Signed  bool                // a certificate table (a dummy WIN_CERTIFICATE)
	Entry   uint32              // AddressOfEntryPoint, default 0x1000
	Text    int                 // size of the .text section, default 64 bytes
}

// PE returns a minimal but well-formed PE image with a .text and an .idata
// section. Its import directory is complete, so any PE reader lists the
// imports.
func PE(o PEOptions) []byte {
	le := binary.LittleEndian
	if o.Bits == 0 {
		o.Bits = 64
	}
	if o.Entry == 0 {
		o.Entry = 0x1000
	}
	const fileAlign, sectAlign = 0x200, 0x1000
	optSize := 240
	if o.Bits == 32 {
		optSize = 224
	}
	headers := 0x40 + 4 + 20 + optSize + 2*40
	sizeOfHeaders := align(headers, fileAlign)

	text := bytes.Repeat([]byte{0xc3}, max(o.Text, 0x40)) // ret
	// .idata laid out after .text.
	idataRVA := 0x1000 + align(len(text), sectAlign)
	dlls := make([]string, 0, len(o.Imports))
	for d := range o.Imports {
		dlls = append(dlls, d)
	}
	sort.Strings(dlls)
	thunk := 8
	if o.Bits == 32 {
		thunk = 4
	}
	descSize := 20 * (len(dlls) + 1)
	var iltSize int
	for _, d := range dlls {
		iltSize += thunk * (len(o.Imports[d]) + 1)
	}
	idata := make([]byte, descSize+2*iltSize) // descriptors, ILTs, IATs; names after
	iltAt, iatAt := descSize, descSize+iltSize
	for i, d := range dlls {
		desc := idata[20*i:]
		le.PutUint32(desc[0:], uint32(idataRVA+iltAt))
		le.PutUint32(desc[16:], uint32(idataRVA+iatAt))
		for _, fn := range o.Imports[d] {
			hint := idataRVA + len(idata)
			idata = append(idata, 0, 0)
			idata = append(idata, fn...)
			idata = append(idata, 0)
			if len(idata)%2 == 1 {
				idata = append(idata, 0)
			}
			if thunk == 8 {
				le.PutUint64(idata[iltAt:], uint64(hint))
				le.PutUint64(idata[iatAt:], uint64(hint))
			} else {
				le.PutUint32(idata[iltAt:], uint32(hint))
				le.PutUint32(idata[iatAt:], uint32(hint))
			}
			iltAt += thunk
			iatAt += thunk
		}
		iltAt += thunk
		iatAt += thunk
		le.PutUint32(idata[20*i+12:], uint32(idataRVA+len(idata))) // not desc: appends may have moved idata
		idata = append(idata, d...)
		idata = append(idata, 0)
	}
	textRaw, idataRaw := align(len(text), fileAlign), align(max(len(idata), 1), fileAlign)
	textOff, idataOff := sizeOfHeaders, sizeOfHeaders+textRaw
	end := idataOff + idataRaw

	out := make([]byte, end)
	out[0], out[1] = 'M', 'Z'
	le.PutUint32(out[0x3c:], 0x40)
	copy(out[0x40:], "PE\x00\x00")
	coff := out[0x44:]
	machine, chars := uint16(0x8664), uint16(0x0022) // executable, large address aware
	if o.Bits == 32 {
		machine, chars = 0x14c, 0x0102 // executable, 32-bit machine
	}
	if o.DLL {
		chars |= 0x2000
	}
	le.PutUint16(coff[0:], machine)
	le.PutUint16(coff[2:], 2)
	le.PutUint32(coff[4:], 1715941800) // 2024-05-17T10:30:00Z
	le.PutUint16(coff[16:], uint16(optSize))
	le.PutUint16(coff[18:], chars)
	opt := out[0x58:]
	subsystem := uint16(3)
	if o.GUI {
		subsystem = 2
	}
	var dd []byte
	if o.Bits == 32 {
		le.PutUint16(opt[0:], 0x10b)
		le.PutUint32(opt[16:], o.Entry)
		le.PutUint32(opt[20:], 0x1000)
		le.PutUint32(opt[24:], uint32(idataRVA))
		le.PutUint32(opt[28:], 0x400000)
		le.PutUint32(opt[32:], sectAlign)
		le.PutUint32(opt[36:], fileAlign)
		le.PutUint16(opt[40:], 6)
		le.PutUint16(opt[48:], 6)
		le.PutUint32(opt[56:], uint32(idataRVA+0x1000))
		le.PutUint32(opt[60:], uint32(sizeOfHeaders))
		le.PutUint16(opt[68:], subsystem)
		le.PutUint32(opt[72:], 0x100000)
		le.PutUint32(opt[76:], 0x1000)
		le.PutUint32(opt[80:], 0x100000)
		le.PutUint32(opt[84:], 0x1000)
		le.PutUint32(opt[92:], 16)
		dd = opt[96:]
	} else {
		le.PutUint16(opt[0:], 0x20b)
		le.PutUint32(opt[16:], o.Entry)
		le.PutUint32(opt[20:], 0x1000)
		le.PutUint64(opt[24:], 0x140000000)
		le.PutUint32(opt[32:], sectAlign)
		le.PutUint32(opt[36:], fileAlign)
		le.PutUint16(opt[40:], 6)
		le.PutUint16(opt[48:], 6)
		le.PutUint32(opt[56:], uint32(idataRVA+0x1000))
		le.PutUint32(opt[60:], uint32(sizeOfHeaders))
		le.PutUint16(opt[68:], subsystem)
		le.PutUint64(opt[72:], 0x100000)
		le.PutUint64(opt[80:], 0x1000)
		le.PutUint64(opt[88:], 0x100000)
		le.PutUint64(opt[96:], 0x1000)
		le.PutUint32(opt[108:], 16)
		dd = opt[112:]
	}
	if len(dlls) > 0 {
		le.PutUint32(dd[8:], uint32(idataRVA)) // import directory
		le.PutUint32(dd[12:], uint32(descSize))
	}
	sect := out[0x58+optSize:]
	putSection := func(s []byte, name string, vsize, rva, raw, off int, chars uint32) {
		copy(s, name)
		le.PutUint32(s[8:], uint32(vsize))
		le.PutUint32(s[12:], uint32(rva))
		le.PutUint32(s[16:], uint32(raw))
		le.PutUint32(s[20:], uint32(off))
		le.PutUint32(s[36:], chars)
	}
	putSection(sect, ".text", len(text), 0x1000, textRaw, textOff, 0x60000020)
	putSection(sect[40:], ".idata", len(idata), idataRVA, idataRaw, idataOff, 0xc0000040)
	copy(out[textOff:], text)
	copy(out[idataOff:], idata)
	if o.Signed {
		cert := make([]byte, 16)
		le.PutUint32(cert[0:], 16)     // dwLength
		le.PutUint16(cert[4:], 0x0200) // WIN_CERT_REVISION_2_0
		le.PutUint16(cert[6:], 0x0002) // WIN_CERT_TYPE_PKCS_SIGNED_DATA
		le.PutUint32(dd[32:], uint32(len(out)))
		le.PutUint32(dd[36:], uint32(len(cert)))
		out = append(out, cert...)
	}
	return out
}

func align(n, a int) int { return (n + a - 1) / a * a }

// ELF returns a minimal static 64-bit x86-64 ELF executable with a .text
// and a .data section and the given entry point.
func ELF(entry uint64) []byte {
	le := binary.LittleEndian
	text := bytes.Repeat([]byte{0x90}, 64) // nop
	data := []byte("some initialized data\x00")
	shstr := []byte("\x00.text\x00.data\x00.shstrtab\x00")
	const ehSize, phSize, shSize = 64, 56, 64
	textOff := ehSize + phSize
	dataOff := textOff + len(text)
	strOff := dataOff + len(data)
	shOff := align(strOff+len(shstr), 8)
	out := make([]byte, shOff+4*shSize)
	copy(out, "\x7fELF")
	out[4], out[5], out[6] = 2, 1, 1 // 64-bit, little endian, version
	le.PutUint16(out[16:], 2)        // ET_EXEC
	le.PutUint16(out[18:], 62)       // EM_X86_64
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[24:], entry)
	le.PutUint64(out[32:], ehSize)
	le.PutUint64(out[40:], uint64(shOff))
	le.PutUint16(out[52:], ehSize)
	le.PutUint16(out[54:], phSize)
	le.PutUint16(out[56:], 1)
	le.PutUint16(out[58:], shSize)
	le.PutUint16(out[60:], 4)
	le.PutUint16(out[62:], 3)
	ph := out[ehSize:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], 5) // R+X
	le.PutUint64(ph[16:], 0x400000)
	le.PutUint64(ph[24:], 0x400000)
	le.PutUint64(ph[32:], uint64(len(out)))
	le.PutUint64(ph[40:], uint64(len(out)))
	le.PutUint64(ph[48:], 0x1000)
	copy(out[textOff:], text)
	copy(out[dataOff:], data)
	copy(out[strOff:], shstr)
	sh := func(i int, nameOff, typ uint32, flags, addr uint64, off, size int) {
		s := out[shOff+i*shSize:]
		le.PutUint32(s[0:], nameOff)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[8:], flags)
		le.PutUint64(s[16:], addr)
		le.PutUint64(s[24:], uint64(off))
		le.PutUint64(s[32:], uint64(size))
		le.PutUint64(s[48:], 1)
	}
	sh(1, 1, 1, 6, 0x400000+uint64(textOff), textOff, len(text)) // .text: PROGBITS, alloc+exec
	sh(2, 7, 1, 3, 0x400000+uint64(dataOff), dataOff, len(data)) // .data: PROGBITS, write+alloc
	sh(3, 13, 3, 0, 0, strOff, len(shstr))                       // .shstrtab: STRTAB
	return out
}

// MachO returns a minimal 64-bit arm64 Mach-O executable: a __TEXT segment
// with a __text section, LC_MAIN with the given entry offset, a
// libSystem dependency, and a (dummy) code signature if signed.
func MachO(entryOff uint64, signed bool) []byte {
	le := binary.LittleEndian
	var cmds []byte
	ncmds := 0
	// LC_SEGMENT_64 __TEXT with one section.
	seg := make([]byte, 72+80)
	le.PutUint32(seg[0:], 0x19)
	le.PutUint32(seg[4:], uint32(len(seg)))
	copy(seg[8:], "__TEXT")
	le.PutUint64(seg[24:], 0x100000000)
	le.PutUint64(seg[32:], 0x4000)
	le.PutUint64(seg[40:], 0)
	le.PutUint64(seg[48:], 0x4000)
	le.PutUint32(seg[56:], 5)
	le.PutUint32(seg[60:], 5)
	le.PutUint32(seg[64:], 1)
	sec := seg[72:]
	copy(sec[0:], "__text")
	copy(sec[16:], "__TEXT")
	le.PutUint64(sec[32:], 0x100000000+entryOff)
	le.PutUint64(sec[40:], 32)
	le.PutUint32(sec[48:], uint32(entryOff))
	le.PutUint32(sec[52:], 2)
	le.PutUint32(sec[64:], 0x80000400)
	cmds = append(cmds, seg...)
	ncmds++
	main := make([]byte, 24)
	le.PutUint32(main[0:], 0x80000028) // LC_MAIN
	le.PutUint32(main[4:], 24)
	le.PutUint64(main[8:], entryOff)
	cmds = append(cmds, main...)
	ncmds++
	lib := "/usr/lib/libSystem.B.dylib\x00"
	dl := make([]byte, align(24+len(lib), 8))
	le.PutUint32(dl[0:], 0xc) // LC_LOAD_DYLIB
	le.PutUint32(dl[4:], uint32(len(dl)))
	le.PutUint32(dl[8:], 24)
	copy(dl[24:], lib)
	cmds = append(cmds, dl...)
	ncmds++
	if signed {
		cs := make([]byte, 16)
		le.PutUint32(cs[0:], 0x1d) // LC_CODE_SIGNATURE
		le.PutUint32(cs[4:], 16)
		le.PutUint32(cs[8:], 0x3f00)
		le.PutUint32(cs[12:], 0x100)
		cmds = append(cmds, cs...)
		ncmds++
	}
	hdr := make([]byte, 32)
	le.PutUint32(hdr[0:], 0xfeedfacf)
	le.PutUint32(hdr[4:], 0x0100000c) // arm64
	le.PutUint32(hdr[12:], 2)         // MH_EXECUTE
	le.PutUint32(hdr[16:], uint32(ncmds))
	le.PutUint32(hdr[20:], uint32(len(cmds)))
	le.PutUint32(hdr[24:], 0x200085)
	out := append(hdr, cmds...)
	body := make([]byte, 0x4000)
	copy(body, out)
	for i := int(entryOff); i < int(entryOff)+32 && i < len(body); i += 4 {
		le.PutUint32(body[i:], 0xd65f03c0) // ret
	}
	return body
}
