package archive

import (
	"fmt"
	"io"
)

// The decoders of github.com/bodgit/sevenzip (and the PPMd, BZip2 and
// other codecs it pulls in) and of rardecode are third-party code that
// hostile input can make panic: fuzzing found a division by zero in the
// PPMd decoder (testdata/fuzz/FuzzSevenZip/regress-ppmd-divide-by-zero).
// Such a panic is contained at the call into the library and becomes an
// error about that member or archive, so that one bad member does not end
// the walk of the others.

// errDecoderPanic wraps a panic raised inside a decoder library.
type errDecoderPanic struct{ v any }

func (e errDecoderPanic) Error() string { return fmt.Sprintf("decoder failed: %v", e.v) }

// contained calls fn and turns a panic inside it into an error.
func contained[T any](fn func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errDecoderPanic{p}
		}
	}()
	return fn()
}

// safeReader contains panics of a library's reader.
type safeReader struct{ r io.Reader }

func (s safeReader) Read(p []byte) (n int, err error) {
	defer func() {
		if v := recover(); v != nil {
			n, err = 0, errDecoderPanic{v}
		}
	}()
	return s.r.Read(p)
}
