package text

import (
	"bytes"
	"context"
	"testing"
	"testing/iotest"
	"time"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func TestFuzzSeeds(t *testing.T) {
	tcWrite(t)
}

// FuzzScan checks that how the input is split into reads never changes the
// result: encoding detection and line counting carry state across chunks.
func FuzzScan(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			whole, err1 := Scan(context.Background(), bytes.NewReader(data))
			bytewise, err2 := Scan(context.Background(), iotest.OneByteReader(bytes.NewReader(data)))
			if err1 != nil || err2 != nil || *whole != *bytewise {
				t.Errorf("whole read %+v (%v), one byte at a time %+v (%v)", whole, err1, bytewise, err2)
			}
		})
	})
}
