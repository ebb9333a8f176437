package main

import (
	"crypto/sha256"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where a run happened.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	RAMMiB    int64  `json:"ramMiB"`
	Kernel    string `json:"kernel"`
	OS        string `json:"os"`
	Go        string `json:"go"`
	Daprd     string `json:"daprd,omitempty"`
	Clamd     string `json:"clamd,omitempty"`
	Yara      string `json:"yara,omitempty"`
	Redis     string `json:"redis,omitempty"`
	Postgres  string `json:"postgres,omitempty"`
	Versitygw string `json:"versitygw,omitempty"`
}

func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	m.RAMMiB = meminfoKB("MemTotal") / 1024
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	}
	return m
}

// toolVersion runs a command and returns the first line of its output.
func toolVersion(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

func meminfoKB(key string) int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// LoadAvg is /proc/loadavg at one moment.
type LoadAvg struct {
	At      time.Time `json:"at"`
	Phase   string    `json:"phase"`
	One     float64   `json:"load1"`
	Five    float64   `json:"load5"`
	Fifteen float64   `json:"load15"`
	// OtherCPU is the CPU, in percent of one core, that processes outside
	// the stack and the load generator used during the phase: other
	// people's work on a shared machine. -1: not measured.
	OtherCPU float64 `json:"otherCpuPercent"`
	// StealCPU is the CPU, in percent of one core, that the hypervisor
	// took for other guests during the phase.
	StealCPU float64 `json:"stealCpuPercent"`
}

func loadAvg(phase string) LoadAvg {
	l := LoadAvg{At: time.Now().UTC().Truncate(time.Second), Phase: phase}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			l.One, _ = strconv.ParseFloat(f[0], 64)
			l.Five, _ = strconv.ParseFloat(f[1], 64)
			l.Fifteen, _ = strconv.ParseFloat(f[2], 64)
		}
	}
	return l
}

// cpuTotals returns busy, total and stolen jiffies of the whole machine
// (/proc/stat). Steal is time the hypervisor gave this VM's CPUs to others:
// work on the host that no process here shows.
func cpuTotals() (busy, total, steal int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		switch i {
		case 3, 4: // idle, iowait
			total += v
		case 7: // steal
			total += v
			steal += v
		case 8, 9: // guest time is already counted in user
		default:
			total += v
			busy += v
		}
	}
	return busy, total, steal
}

// cpuSpeed returns one core's SHA-256 throughput in MB/s, the best of five
// rounds over 32 MiB: a yardstick for comparing runs on a shared host.
func cpuSpeed() float64 {
	b := make([]byte, 32<<20)
	best := 0.0
	for range 5 {
		t := time.Now()
		sha256.Sum256(b)
		best = max(best, float64(len(b))/1e6/time.Since(t).Seconds())
	}
	return best
}
