// Package testcorpus builds the files the extract tests and fuzz seeds use:
// archives, PDFs, images with EXIF, OOXML and OLE documents, executables.
// Every builder is deterministic, and small on disk whatever the file claims
// to hold.
package testcorpus

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io/fs"
	"sync"
	"time"
)

// File is one archive member.
type File struct {
	Name      string
	Body      []byte
	Store     bool        // zip: store instead of deflate
	Encrypted bool        // zip: set the encryption flag (the body is stored as is)
	Mode      fs.FileMode // tar and zip: fs.ModeSymlink, fs.ModeDir
	Link      string      // tar: link target
	Hardlink  bool        // tar: a hard link rather than a symlink
}

var epoch = time.Date(2024, 5, 17, 10, 30, 0, 0, time.UTC)

// Zip returns a zip archive of files.
func Zip(files ...File) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: epoch}
		if f.Store || f.Encrypted {
			h.Method = zip.Store
		}
		if f.Mode != 0 {
			h.SetMode(f.Mode | 0o644)
		}
		if f.Encrypted {
			h.Flags |= 0x1
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			panic(err)
		}
		if _, err := w.Write(f.Body); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Tar returns a tar archive of files.
func Tar(files ...File) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: 0o644, Size: int64(len(f.Body)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		switch {
		case f.Mode&fs.ModeDir != 0:
			h.Typeflag, h.Size = tar.TypeDir, 0
		case f.Link != "" && f.Hardlink:
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, f.Link, 0
		case f.Link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.Link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(f.Body); err != nil {
				panic(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Gzip compresses body, recording name in the gzip header.
func Gzip(name string, body []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name = name
	zw.ModTime = epoch
	if _, err := zw.Write(body); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// TarGz returns a gzip-compressed tar archive of files.
func TarGz(files ...File) []byte { return Gzip("", Tar(files...)) }

// Nested returns zip archives nested depth deep: level1.zip holds
// level2.zip, and so on; the innermost holds deep.txt.
func Nested(depth int) []byte {
	body := Zip(File{Name: "deep.txt", Body: []byte("the bottom\n")})
	for i := depth - 1; i >= 1; i-- {
		body = Zip(File{Name: fmt.Sprintf("level%d.zip", i+1), Body: body}, File{Name: fmt.Sprintf("note%d.txt", i), Body: []byte("a note\n")})
	}
	return body
}

// zeroMiB is one MiB of zeros deflated and sync-flushed. Because the
// flush ends it on a byte boundary and its back-references reach only into
// zeros, k copies of it make a valid stream of k MiB of zeros: bombs are
// built without compressing gigabytes.
var zeroMiB = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = fw.Write(make([]byte, 1<<20))
	_ = fw.Flush()
	return buf.Bytes()
})

// deflatedZeros returns a raw deflate stream of mib MiB of zeros and its CRC-32.
func deflatedZeros(mib int) ([]byte, uint32) {
	chunk := zeroMiB()
	out := bytes.Repeat(chunk, mib)
	out = append(out, 0x03, 0x00) // a final, empty fixed-Huffman block
	zeros := make([]byte, 1<<20)
	var crc uint32
	for range mib {
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	return out, crc
}

// ZerosGzip returns a gzip stream of mib MiB of zeros.
func ZerosGzip(mib int) []byte {
	data, crc := deflatedZeros(mib)
	out := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
	out = append(out, data...)
	out = binary.LittleEndian.AppendUint32(out, crc)
	return binary.LittleEndian.AppendUint32(out, uint32(mib<<20))
}

// Bomb returns a 42.zip-style bomb: levels of zips, each holding fanout
// copies of the level below; the innermost holds fanout files of innerMiB
// MiB of zeros. It declares fanout^levels * innerMiB MiB.
func Bomb(levels, fanout int, innerMiB int) []byte {
	data, crc := deflatedZeros(innerMiB)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range fanout {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("%d.bin", i), Method: zip.Deflate, Modified: epoch,
			CRC32: crc, CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(innerMiB) << 20})
		if err != nil {
			panic(err)
		}
		_, _ = w.Write(data)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	body := buf.Bytes()
	files := make([]File, fanout)
	for l := levels - 1; l >= 1; l-- {
		for i := range files {
			files[i] = File{Name: fmt.Sprintf("lib%d-%d.zip", l, i), Body: body}
		}
		body = Zip(files...)
	}
	return body
}
