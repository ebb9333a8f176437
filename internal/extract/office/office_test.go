package office

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func ooxml(t *testing.T, data []byte) *Info {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	return ReadOOXML(zr)
}

func TestReadOOXML(t *testing.T) {
	props := tc.OOXMLOptions{Title: "Budget <2024>", Creator: "Ann Smith", LastModifiedBy: "Bob",
		Created: "2024-05-17T10:30:00Z", Modified: "2024-05-18T08:00:00Z", Application: "Microsoft Office Word"}
	withKind := func(o tc.OOXMLOptions, kind string, vba, macro bool) tc.OOXMLOptions {
		o.Kind, o.VBAProject, o.MacroEnabled = kind, vba, macro
		return o
	}
	tests := []struct {
		name string
		opts tc.OOXMLOptions
		want Info
	}{
		{"docx", withKind(props, "docx", false, false), Info{Format: "docx", Container: "ooxml", Application: "Microsoft Office Word",
			Title: "Budget <2024>", Creator: "Ann Smith", LastModifiedBy: "Bob", Created: "2024-05-17T10:30:00Z", Modified: "2024-05-18T08:00:00Z"}},
		{"docm with vbaProject.bin", withKind(props, "docx", true, true), Info{Format: "docm", Container: "ooxml", Application: "Microsoft Office Word",
			Title: "Budget <2024>", Creator: "Ann Smith", LastModifiedBy: "Bob", Created: "2024-05-17T10:30:00Z", Modified: "2024-05-18T08:00:00Z",
			HasMacros: true, MacroParts: []string{"word/vbaProject.bin"}}},
		{"docx hiding a vbaProject.bin", tc.OOXMLOptions{VBAProject: true}, Info{Format: "docx", Container: "ooxml",
			HasMacros: true, MacroParts: []string{"word/vbaProject.bin"}}},
		{"xlsm declared, no project part", tc.OOXMLOptions{Kind: "xlsx", MacroEnabled: true, Creator: "C"}, Info{Format: "xlsm", Container: "ooxml",
			Creator: "C", HasMacros: true}},
		{"xlsx", tc.OOXMLOptions{Kind: "xlsx", Title: "Sheet"}, Info{Format: "xlsx", Container: "ooxml", Title: "Sheet"}},
		{"pptm", tc.OOXMLOptions{Kind: "pptx", VBAProject: true, MacroEnabled: true}, Info{Format: "pptm", Container: "ooxml",
			HasMacros: true, MacroParts: []string{"ppt/vbaProject.bin"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ooxml(t, tc.OOXML(tt.opts))
			require.NotNil(t, got)
			assert.Equal(t, tt.want, *got)
		})
	}
	assert.Nil(t, ooxml(t, tc.Zip(tc.File{Name: "a.txt", Body: []byte("x")})), "a plain zip is not OOXML")
}

func TestReadOLE(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		want  Info
	}{
		{"word with macros", []string{"WordDocument", "1Table", "Macros", "VBA", "dir", "_VBA_PROJECT"},
			Info{Format: "doc", Container: "ole", HasMacros: true, MacroParts: []string{"Macros", "VBA"}}},
		{"word without macros", []string{"WordDocument", "1Table", "\x05SummaryInformation"},
			Info{Format: "doc", Container: "ole"}},
		{"excel with macros", []string{"Workbook", "_VBA_PROJECT_CUR", "VBA"},
			Info{Format: "xls", Container: "ole", HasMacros: true, MacroParts: []string{"_VBA_PROJECT_CUR", "VBA"}}},
		{"powerpoint", []string{"PowerPoint Document", "Current User"}, Info{Format: "ppt", Container: "ole"}},
		{"password-protected docx", []string{"EncryptionInfo", "EncryptedPackage", "\x06DataSpaces"},
			Info{Format: "ooxml-encrypted", Container: "ole", Encrypted: true}},
		{"many entries over several directory sectors", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "Workbook", "k", "VBA"},
			Info{Format: "xls", Container: "ole", HasMacros: true, MacroParts: []string{"VBA"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tc.OLE(tt.names...)
			got, err := ReadOLE(bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			assert.Equal(t, tt.want, *got)
		})
	}
}

func TestReadOLEDamaged(t *testing.T) {
	_, err := ReadOLE(bytes.NewReader([]byte("not ole")), 7)
	assert.ErrorIs(t, err, ErrNotOLE)
	data := tc.OLE("WordDocument", "Macros")
	for cut := 0; cut < len(data); cut += 61 {
		assert.NotPanics(t, func() { _, _ = ReadOLE(bytes.NewReader(data[:cut]), int64(cut)) })
	}
	// A directory chain that loops on itself ends.
	loop := bytes.Clone(data)
	loop[512+4] = 1 // FAT entry of sector 1 (the directory) points at itself
	loop[512+5], loop[512+6], loop[512+7] = 0, 0, 0
	got, err := ReadOLE(bytes.NewReader(loop), int64(len(loop)))
	assert.Error(t, err)
	require.NotNil(t, got)
	assert.True(t, got.HasMacros)
}

func TestReadOLEDIFATLoopIsBounded(t *testing.T) {
	// A DIFAT chain that loops on itself in a large file must not grow
	// memory with the file: the FAT of a file has a known maximum size.
	data := make([]byte, 16<<20)
	copy(data, tc.OLE("WordDocument", "Macros"))
	binary.LittleEndian.PutUint32(data[68:], 0)      // the DIFAT starts at sector 0 (the FAT)...
	binary.LittleEndian.PutUint32(data[512+508:], 0) // ...whose last entry points back to it
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _ = ReadOLE(bytes.NewReader(data), int64(len(data)))
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20))
}
