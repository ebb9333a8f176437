package exe

import (
	"bytes"
	"testing"
	"time"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func TestFuzzSeeds(t *testing.T) {
	tc.WriteSeeds(t, "FuzzRead",
		tc.PE(tc.PEOptions{Imports: map[string][]string{"KERNEL32.dll": {"ExitProcess"}, "USER32.dll": {"MessageBoxW"}}}),
		tc.PE(tc.PEOptions{Bits: 32, DLL: true, GUI: true, Signed: true, Imports: map[string][]string{"A.dll": {"f"}}}),
		tc.ELF(0x401000), tc.MachO(0x1000, true))
}

func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			info, err := Read(bytes.NewReader(data), int64(len(data)))
			if err == nil {
				_ = info.Description()
			}
		})
	})
}
