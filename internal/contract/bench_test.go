package contract

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// BenchmarkEvents encodes and decodes the events every file produces: the
// extractor's file.extracted (with typical PDF metadata) and a scanner's
// scan.completed.
func BenchmarkEvents(b *testing.B) {
	sha := strings.Repeat("ab", 32)
	extracted := FileExtracted{
		Version: SchemaVersion, FileID: "5f0c6f9e-1d2b-4d0a-9a51-0b7c2d3e4f50", SHA256: sha,
		MD5: strings.Repeat("cd", 16), SHA1: strings.Repeat("ef", 20), Size: 1 << 20,
		ObjectKey: "blobs/2b1c0d6e-7f8a-4b9c-8d0e-1f2a3b4c5d6e", MIMEType: "application/pdf",
		Metadata: map[string]any{
			"type": map[string]any{"mime": "application/pdf", "description": "PDF document, version 1.7", "extension": ".pdf"},
			"pdf": map[string]any{"version": "1.7", "pages": 12, "encrypted": false, "javascript": false,
				"title": "Quarterly report", "producer": "LibreOffice 7.4", "createdAt": "2024-05-17T10:30:00Z"},
		},
		Findings: []Finding{{Code: "extension_mismatch", Message: "the name says .txt, the content is a PDF"}},
	}
	completed := ScanCompleted{Version: SchemaVersion, FileID: extracted.FileID, SHA256: sha, Result: Result{
		Engine: "clamav", Result: Clean, Threats: []string{}, EngineVersion: "1.0.9",
		SignatureVersion: "27500+local-0123456789ab", ScannedAt: time.Now().UTC(), DurationMs: 13,
	}}
	for _, c := range []struct {
		name string
		v    any
		out  func() any
	}{
		{"FileExtracted", extracted, func() any { return new(FileExtracted) }},
		{"ScanCompleted", completed, func() any { return new(ScanCompleted) }},
	} {
		b.Run(c.name+"/encode", func(b *testing.B) {
			for b.Loop() {
				if _, err := json.Marshal(c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
		data, _ := json.Marshal(c.v)
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := json.Unmarshal(data, c.out()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
