package pgstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/verdict"
)

// BenchmarkFileLife is what the api asks of PostgreSQL for one new file,
// one step after the other as the events arrive: create, confirm, the
// extractor's answer and three engines' results. Besides the time per file
// it reports the CPU the api process (this one) and its PostgreSQL backend
// spent, from getrusage and /proc, over one connection.
func BenchmarkFileLife(b *testing.B) {
	s, pool := newStore(b)
	ctx := context.Background()
	one, err := pgxpool.NewWithConfig(ctx, func() *pgxpool.Config {
		c := pool.Config()
		c.MaxConns, c.MinConns = 1, 1
		return c
	}())
	require.NoError(b, err)
	defer one.Close()
	s = New(one)
	var backend int
	require.NoError(b, one.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend))
	p := verdict.Policy{Engines: []string{"clamav", "yara", "reputation"}}
	run := fmt.Sprint(time.Now().UnixNano())

	events := 0 // outbox rows written
	self0, pg0 := selfCPU(), procCPU(b, backend)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u := newUpload(run+strconv.Itoa(i), "f.bin")
		_, err := s.CreateUpload(ctx, u)
		require.NoError(b, err)
		f, err := s.Get(ctx, u.Tenant, u.ID)
		require.NoError(b, err)
		ids, err := s.Update(ctx, files.Key{SHA256: f.SHA256, Uploads: []string{f.ID}}, func(c *files.Content) error {
			return c.Confirm(f.ID)
		})
		events += len(ids)
		require.NoError(b, err)
		ids, err = s.Update(ctx, files.Key{SHA256: u.SHA256}, func(c *files.Content) error {
			c.Extracted(extracted(u), p)
			return nil
		})
		events += len(ids)
		require.NoError(b, err)
		for _, e := range p.Engines {
			ids, err = s.Update(ctx, files.Key{SHA256: u.SHA256}, func(c *files.Content) error {
				c.Scanned(withSHA(result(e, contract.Clean), u.SHA256), p)
				return nil
			})
			events += len(ids)
			require.NoError(b, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(selfCPU()-self0)/float64(b.N)/1e3, "api-µs/op")
	b.ReportMetric(float64(procCPU(b, backend)-pg0)/float64(b.N)/1e3, "pg-µs/op")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

// selfCPU is this process's CPU time, in ns.
func selfCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// procCPU is process pid's CPU time, in ns (utime+stime in clock ticks of
// 10 ms from /proc).
func procCPU(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err)
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return (ut + st) * 10_000_000
}
