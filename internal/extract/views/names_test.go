package views

import "testing"

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":           "report.pdf",
		`C:\Users\x\evil.js`:   "evil.js",
		"a/b/c.txt":            "c.txt",
		"invoice\u202etxt.exe": "invoice_txt.exe", // a right-to-left override
		"tab\there\x00":        "tab_here_",
		"  spaced  ":           "spaced",
		"\xff\xfe":             "__",
		"日本語.doc":              "日本語.doc",
		"":                     "",
	} {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
}
