package samples

import "encoding/binary"

// PackedPE is a minimal 32-bit Windows executable with the section names
// UPX writes (UPX0, UPX1). It does nothing: its entry point is a RET.
func PackedPE() []byte { return pe32([]string{"UPX0", "UPX1", ".rsrc"}) }

// PlainPE is the same executable with a compiler's ordinary sections.
func PlainPE() []byte { return pe32([]string{".text", ".rdata", ".data"}) }

// pe32 lays out DOS header, PE signature, COFF header, optional header and
// one 512-byte raw section per name; the first holds the entry point.
func pe32(sections []string) []byte {
	const (
		fileAlign = 0x200
		sectAlign = 0x1000
		lfanew    = 0x40
	)
	le := binary.LittleEndian
	headers := lfanew + 4 + 20 + 224 + 40*len(sections)
	sizeOfHeaders := (headers + fileAlign - 1) / fileAlign * fileAlign
	out := make([]byte, sizeOfHeaders+fileAlign*len(sections))

	copy(out, "MZ")
	le.PutUint32(out[0x3C:], lfanew)
	copy(out[lfanew:], "PE\x00\x00")
	coff := out[lfanew+4:]
	le.PutUint16(coff[0:], 0x014C) // i386
	le.PutUint16(coff[2:], uint16(len(sections)))
	le.PutUint32(coff[4:], 0x67000000) // timestamp
	le.PutUint16(coff[16:], 224)       // size of optional header
	le.PutUint16(coff[18:], 0x0102)    // executable, 32-bit

	opt := coff[20:]
	le.PutUint16(opt[0:], 0x010B) // PE32
	opt[2] = 14                   // linker version
	le.PutUint32(opt[4:], fileAlign)
	le.PutUint32(opt[16:], sectAlign) // entry point: first section
	le.PutUint32(opt[20:], sectAlign) // base of code
	le.PutUint32(opt[28:], 0x00400000)
	le.PutUint32(opt[32:], sectAlign)
	le.PutUint32(opt[36:], fileAlign)
	le.PutUint16(opt[40:], 6) // OS version
	le.PutUint16(opt[48:], 6) // subsystem version
	le.PutUint32(opt[56:], uint32(sectAlign*(1+len(sections))))
	le.PutUint32(opt[60:], uint32(sizeOfHeaders))
	le.PutUint16(opt[68:], 2) // Windows GUI
	le.PutUint32(opt[72:], 0x100000)
	le.PutUint32(opt[76:], 0x1000)
	le.PutUint32(opt[80:], 0x100000)
	le.PutUint32(opt[84:], 0x1000)
	le.PutUint32(opt[92:], 16) // data directories

	for i, name := range sections {
		sh := opt[224+40*i:]
		copy(sh[0:8], name)
		le.PutUint32(sh[8:], fileAlign)
		le.PutUint32(sh[12:], uint32(sectAlign*(1+i)))
		le.PutUint32(sh[16:], fileAlign)
		le.PutUint32(sh[20:], uint32(sizeOfHeaders+fileAlign*i))
		le.PutUint32(sh[36:], 0xE0000020) // code, read, write, execute
	}
	out[sizeOfHeaders] = 0xC3 // RET
	return out
}
