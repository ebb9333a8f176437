package office

import (
	"encoding/binary"
	"errors"
	"io"
)

// ErrNotOLE is returned by ReadOLE for data without the compound file
// signature.
var ErrNotOLE = errors.New("office: not an OLE compound file")

// oleSignature starts every compound file.
const oleSignature = "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

// Compound file sector markers.
const (
	endOfChain = 0xfffffffe
	maxRegSect = 0xfffffffa
)

// maxDirEntries bounds the directory entries read.
const maxDirEntries = 100_000

// macroStorages are the directory entries a VBA project lives in: "Macros"
// (Word), "_VBA_PROJECT_CUR" (Excel), and "VBA" inside either.
var macroStorages = map[string]bool{"Macros": true, "_VBA_PROJECT_CUR": true, "VBA": true}

// ReadOLE reads the directory of the compound file in src (size bytes) and
// returns the Office properties it shows: the application (from the main
// stream's name) and whether a VBA project is present. It reads only the
// header, the FAT sectors it needs and the directory. On a damaged file it
// returns what the directory showed before the damage, and an error.
func ReadOLE(src io.ReaderAt, size int64) (*Info, error) {
	names, err := oleNames(src, size)
	info := &Info{Container: "ole", Format: "ole"}
	for _, n := range names {
		switch n {
		case "WordDocument":
			info.Format = "doc"
		case "Workbook", "Book":
			info.Format = "xls"
		case "PowerPoint Document":
			info.Format = "ppt"
		case "EncryptedPackage":
			// A password-protected OOXML document is an OLE file holding
			// the encrypted package.
			info.Format, info.Encrypted = "ooxml-encrypted", true
		}
		if macroStorages[n] {
			info.HasMacros = true
			info.MacroParts = append(info.MacroParts, n)
		}
	}
	info.MacroParts = dedupe(info.MacroParts)
	if len(names) == 0 {
		return nil, err
	}
	return info, err
}

// oleNames returns the names of the directory entries of a compound file.
// On a damaged file it returns the names read before the damage, and the
// error.
func oleNames(src io.ReaderAt, size int64) ([]string, error) {
	o, err := openOLE(src, size)
	if o == nil {
		return nil, err
	}
	var names []string
	for _, e := range o.entries {
		if e.name != "" {
			names = append(names, e.name)
		}
	}
	return names, err
}

// cfb reads sectors and FAT entries of a compound file.
type cfb struct {
	src   io.ReaderAt
	size  int64
	ss    int64
	difat []uint32
	fat   map[uint32][]byte // FAT sectors read, by index in the DIFAT
}

func (c *cfb) sector(n uint32) ([]byte, error) {
	off := (int64(n) + 1) * c.ss
	if off+c.ss > c.size+c.ss { // a short last sector is tolerated
		return nil, errors.New("office: sector out of range")
	}
	b := make([]byte, c.ss)
	if _, err := c.src.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// next returns the sector after s in its chain.
func (c *cfb) next(s uint32) (uint32, error) {
	per := uint32(c.ss / 4)
	i := s / per
	if int(i) >= len(c.difat) {
		return 0, errors.New("office: FAT sector out of range")
	}
	b, ok := c.fat[i]
	if !ok {
		if len(c.fat) > 4096 {
			return 0, errors.New("office: too many FAT sectors")
		}
		var err error
		if b, err = c.sector(c.difat[i]); err != nil {
			return 0, err
		}
		c.fat[i] = b
	}
	return binary.LittleEndian.Uint32(b[4*(s%per):]), nil
}
