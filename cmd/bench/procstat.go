package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is one process the suite watches: an app, a sidecar or a server.
// With Tree set, its live descendants count too (PostgreSQL backends).
type Proc struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // app, sidecar, infra, bench
	PID  int    `json:"pid"`
	Tree bool   `json:"tree,omitempty"`
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// statFields returns the fields of /proc/<pid>/stat after the command name.
// Index 0 is the state (field 3 in proc(5)).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// ownTicks is utime+stime of pid plus cutime+cstime: the CPU of its
// children that exited and were waited for (yara runs as a child of the
// yara scanner, per scan).
func ownTicks(pid int) int64 {
	f, err := statFields(pid)
	if err != nil || len(f) < 15 {
		return 0
	}
	var sum int64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, _ := strconv.ParseInt(f[i], 10, 64)
		sum += v
	}
	return sum
}

// parents maps every live pid to its parent.
func parents() map[int]int {
	out := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := statFields(pid); err == nil && len(f) > 1 {
			out[pid], _ = strconv.Atoi(f[1])
		}
	}
	return out
}

// descendants returns pid and its live descendants.
func descendants(pid int, ppid map[int]int) []int {
	kids := map[int][]int{}
	for c, p := range ppid {
		kids[p] = append(kids[p], c)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, kids[out[i]]...)
	}
	return out
}

// CPUTicks returns the CPU time used so far by each process, in ticks.
func CPUTicks(procs []Proc) map[string]int64 {
	var ppid map[int]int
	out := map[string]int64{}
	for _, p := range procs {
		if !p.Tree {
			out[p.Name] = ownTicks(p.PID)
			continue
		}
		if ppid == nil {
			ppid = parents()
		}
		var sum int64
		for _, d := range descendants(p.PID, ppid) {
			sum += ownTicks(d)
		}
		out[p.Name] = sum
	}
	return out
}

// statusKB reads a "Key:   123 kB" line of /proc/<pid>/status.
func statusKB(pid int, key string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// RSSKB is the resident set size of pid, in KiB.
func RSSKB(pid int) int64 { return statusKB(pid, "VmRSS") }

// HWMKB is the peak resident set size of pid since it started or since
// ResetHWM, in KiB.
func HWMKB(pid int) int64 { return statusKB(pid, "VmHWM") }

// ResetHWM resets pid's peak RSS to its current RSS (clear_refs 5, Linux
// 4.0+). It reports whether that worked (it needs the process's owner).
func ResetHWM(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// PIDListening returns the process that listens on 127.0.0.1:port, or 0.
func PIDListening(port int) int {
	inode := ""
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(p) == port {
				inode = f[9]
				break
			}
		}
		if inode != "" {
			break
		}
	}
	if inode == "" {
		return 0
	}
	want := "socket:[" + inode + "]"
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if l, err := os.Readlink(fd); err == nil && l == want {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}
