package extract

import (
	"bytes"
	"context"
	"crypto/md5"  //nolint:gosec
	"crypto/sha1" //nolint:gosec
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkAnalyze(b *testing.B) {
	data := bytes.Repeat([]byte{0x5a, 0x17, 0x99, 0x03}, 4<<20) // 16 MiB
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Inspect(context.Background(), bytes.NewReader(data), nil, -1, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspectSmall is the per-file cost of the extractor's pass on the
// small files that make up most traffic: hashes, detection, no per-format
// analysis.
func BenchmarkInspectSmall(b *testing.B) {
	for _, size := range []int{10 << 10, 100 << 10} {
		data := randomBytes(size, 7)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := Inspect(context.Background(), bytes.NewReader(data), nil, int64(size), Options{Name: "x.bin"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

const benchSize = 100 << 20

var benchData = sync.OnceValue(func() []byte { return randomBytes(benchSize, 42) })

var benchText = sync.OnceValue(func() []byte {
	line := "2024-05-17T10:30:00Z INFO request served path=/v1/files status=200 duration=3ms\n"
	return []byte(strings.Repeat(line, benchSize/len(line)))
})

// BenchmarkInspect100MB measures the extractor's hot path on 100 MB of
// binary data: three hashes, detection, no per-format analysis.
func BenchmarkInspect100MB(b *testing.B) {
	data := benchData()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Inspect(context.Background(), bytes.NewReader(data), nil, int64(len(data)), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspect100MBText adds a streaming analyzer (text) to the pass.
func BenchmarkInspect100MBText(b *testing.B) {
	data := benchText()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Inspect(context.Background(), bytes.NewReader(data), nil, int64(len(data)), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHash100MB is the reference: each hash alone on one core, and
// the three in series through io.MultiWriter, as Analyze did before the
// pipeline.
func BenchmarkHash100MB(b *testing.B) {
	data := benchData()
	b.Run("serial-three", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		buf := make([]byte, 256<<10)
		for b.Loop() {
			s256, s1, m5 := sha256.New(), sha1.New(), md5.New() //nolint:gosec
			if _, err := io.CopyBuffer(io.MultiWriter(s256, s1, m5), bytes.NewReader(data), buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, h := range []struct {
		name string
		new  func() hash.Hash
	}{{"sha256", sha256.New}, {"sha1", sha1.New}, {"md5", md5.New}} {
		b.Run(h.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				hh := h.new()
				hh.Write(data)
				hh.Sum(nil)
			}
		})
	}
}

// streamOf generates n bytes on the fly: nothing is stored.
type streamOf struct {
	n    int64
	x    uint64
	text bool
}

func (s *streamOf) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.n)&^7]
	if len(p) == 0 {
		p = p[:min(8, int(s.n))]
	}
	for i := 0; i+8 <= len(p); i += 8 {
		s.x ^= s.x << 13
		s.x ^= s.x >> 7
		s.x ^= s.x << 17
		v := s.x
		if s.text {
			v = v&0x3f3f3f3f3f3f3f3f | 0x4040404040404040
			if s.x%11 == 0 {
				v = v&^0xff | '\n'
			}
		}
		binary.LittleEndian.PutUint64(p[i:], v)
	}
	s.n -= int64(len(p))
	return len(p), nil
}

// TestInspectMemoryFlat analyzes a 1 GiB stream generated on the fly and
// reports the peak heap. It takes a few seconds of both cores, so it runs
// only with INTELLIDOX_BIG=1.
func TestInspectMemoryFlat(t *testing.T) {
	if os.Getenv("INTELLIDOX_BIG") == "" {
		t.Skip("set INTELLIDOX_BIG=1 to analyze a 1 GiB stream")
	}
	for _, text := range []bool{false, true} {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var peak atomic.Uint64
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		})
		const size = 1 << 30
		start := time.Now()
		s, err := Inspect(context.Background(), &streamOf{n: size, x: 88172645463325252, text: text}, nil, size, Options{})
		elapsed := time.Since(start)
		close(done)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if s.Size != size {
			t.Fatalf("size %d", s.Size)
		}
		t.Logf("text=%v: %s, 1 GiB in %s (%.0f MB/s), heap in use before %.1f MiB, peak %.1f MiB, %s",
			text, s.MIMEType, elapsed.Round(time.Millisecond), float64(size)/1e6/elapsed.Seconds(),
			float64(before.HeapInuse)/(1<<20), float64(peak.Load())/(1<<20), vmHWM())
		if grow := int64(peak.Load()) - int64(before.HeapInuse); grow > 64<<20 {
			t.Errorf("heap grew by %d MiB analyzing a stream", grow>>20)
		}
	}
}

// vmHWM returns the process's peak resident set size, from /proc.
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "peak RSS unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return "peak RSS " + strings.Join(strings.Fields(line)[1:], " ")
		}
	}
	return "peak RSS unknown"
}
