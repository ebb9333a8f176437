// Command yara-helper scans files with libyara for the yara scanner
// (internal/scan/yara), many requests per process: loading the compiled
// rules once saves the process start and rule load of a yara CLI run per
// file. It reads one JSON request per line on stdin and answers one JSON
// line on stdout:
//
//	{"paths": ["/tmp/x/object", …], "view": "vba", "timeoutMs": 25000}
//	{"matches": [{"path": "/tmp/x/object", "rule": "EICAR_Test_File", "severity": "malicious"}]}
//	{"error": "…"}
//
// "view" sets the external variable intellidox_view. A crash ends the
// process; the scanner starts another and tries the request once more.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hillu/go-yara/v4"
)

type request struct {
	Paths     []string `json:"paths"`
	View      string   `json:"view"`
	TimeoutMs int64    `json:"timeoutMs"`
}

type match struct {
	Path     string `json:"path"`
	Rule     string `json:"rule"`
	Severity string `json:"severity,omitempty"`
}

type response struct {
	Matches []match `json:"matches"`
	Error   string  `json:"error,omitempty"`
}

// collector gathers the matching rules of one file.
type collector struct {
	path string
	out  *[]match
}

func (c collector) RuleMatching(_ *yara.ScanContext, r *yara.Rule) (bool, error) {
	m := match{Path: c.path, Rule: r.Identifier()}
	for _, meta := range r.Metas() {
		if s, ok := meta.Value.(string); ok && meta.Identifier == "severity" {
			m.Severity = s
		}
	}
	*c.out = append(*c.out, m)
	return true, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: yara-helper COMPILED-RULES")
		os.Exit(2)
	}
	rules, err := yara.LoadRules(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "yara-helper: load rules:", err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		var resp response
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			resp.Error = "bad request: " + err.Error()
		} else {
			resp = scan(rules, req)
		}
		if resp.Matches == nil {
			resp.Matches = []match{}
		}
		if err := out.Encode(resp); err != nil {
			os.Exit(1)
		}
	}
}

func scan(rules *yara.Rules, req request) response {
	var resp response
	s, err := yara.NewScanner(rules)
	if err != nil {
		return response{Error: err.Error()}
	}
	defer s.Destroy()
	if err := s.DefineVariable("intellidox_view", req.View); err != nil {
		return response{Error: err.Error()}
	}
	if req.TimeoutMs > 0 {
		s.SetTimeout(time.Duration(req.TimeoutMs) * time.Millisecond)
	}
	// One thread, no warnings, as the yara CLI is run with -p 1 -w.
	for _, p := range req.Paths {
		s.SetCallback(collector{path: p, out: &resp.Matches})
		if err := s.ScanFile(p); err != nil {
			return response{Error: fmt.Sprintf("%s: %v", p, err)}
		}
	}
	return resp
}
