package conformance_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan/conformance"
	"github.com/intellidox/intellidox/internal/testenv"
	"github.com/intellidox/intellidox/internal/webhooks"
)

func schemas(t *testing.T) *conformance.Schemas {
	s, err := conformance.LoadSchemas(filepath.Join(testenv.Root(), "docs", "schemas"))
	require.NoError(t, err)
	return s
}

const sha = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

func result(outcome contract.Outcome, threats []string, detail string) contract.Result {
	return contract.Result{Engine: "clamav", Result: outcome, Threats: threats, EngineVersion: "1.4.3",
		SignatureVersion: "27500+local-abc", ScannedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), DurationMs: 12, Detail: detail}
}

// TestContractValuesMatchSchemas encodes real contract values and validates
// them, and checks that values breaking the contract are refused.
func TestContractValuesMatchSchemas(t *testing.T) {
	s := schemas(t)
	valid := []struct {
		schema string
		v      any
	}{
		{conformance.SchemaFileUploaded, contract.FileUploaded{Version: 1, FileID: "f1", SHA256: sha, Size: 68, ObjectKey: "blobs/" + sha, ContentType: "text/plain", Name: "eicar.com"}},
		{conformance.SchemaFileUploaded, contract.FileUploaded{Version: 1, FileID: "f1", SHA256: sha, Size: 0, ObjectKey: "k"}},
		{conformance.SchemaFileExtracted, contract.FileExtracted{Version: 1, FileID: "f1", SHA256: sha,
			MD5: "44d88612fea8a8f36de82e1278abb02f", SHA1: "3395856ce81f2b7382dee72602f798b642f14140", Size: 68, ObjectKey: "k",
			MIMEType: "text/plain", Metadata: map[string]any{"archive": map[string]any{"format": "zip"}},
			Findings: []contract.Finding{{Code: "extension_mismatch", Message: "m"}, {Code: "zip_bomb", Message: "m", Effect: contract.VerdictUnscanned}},
			Engines:  []string{"yara"}}},
		{conformance.SchemaFileExtracted, contract.FileExtracted{Version: 1, FileID: "f1", SHA256: sha, Size: 68, ObjectKey: "k",
			Rejection: &contract.Rejection{Code: contract.RejectHashMismatch, Reason: "r"}}},
		{conformance.SchemaScanCompleted, contract.ScanCompleted{Version: 1, FileID: "f1", SHA256: sha, Result: result(contract.Malicious, []string{"Eicar"}, "signature match")}},
		{conformance.SchemaScanCompleted, contract.ScanCompleted{Version: 1, SHA256: sha, Result: result(contract.Clean, []string{}, "")}},
		{conformance.SchemaScanResult, result(contract.Skipped, []string{}, "too large: 5 bytes")},
		{conformance.SchemaScanResult, result(contract.Skipped, []string{}, "encrypted: zip member a")},
		{conformance.SchemaScanResult, result(contract.Skipped, []string{}, "unsupported type: x")},
		{conformance.SchemaScanResult, result(contract.Skipped, []string{}, "timeout: the scan took longer than 5m0s")},
		{conformance.SchemaScanResult, result(contract.Error, []string{}, "unreadable: object k is not in storage")},
		{conformance.SchemaFileCompleted, contract.FileCompleted{Version: 1, FileID: "f1", SHA256: sha, Status: "done", Verdict: contract.VerdictSuspicious}},
		{conformance.SchemaFileCompleted, contract.FileCompleted{Version: 1, FileID: "f1", SHA256: sha, Status: "rejected", Verdict: contract.VerdictUnscanned}},
		{conformance.SchemaVerdictChanged, contract.FileVerdictChanged{Version: 1, FileID: "f1", SHA256: sha, Verdict: contract.VerdictMalicious, Previous: contract.VerdictClean}},
		{conformance.SchemaEngineUpdated, contract.EngineUpdated{Version: 1, Engine: "yara", EngineVersion: "4.2.3", SignatureVersion: "rules-abc", Previous: "rules-def"}},
	}
	for _, c := range valid {
		assert.NoError(t, s.Validate(c.schema, c.v), "%+v", c.v)
	}

	invalid := []struct {
		why    string
		schema string
		v      any
	}{
		{"skip without a reason", conformance.SchemaScanResult, result(contract.Skipped, []string{}, "")},
		{"skip with an unknown reason", conformance.SchemaScanResult, result(contract.Skipped, []string{}, "felt like it")},
		{"error without detail", conformance.SchemaScanResult, result(contract.Error, []string{}, "")},
		{"malicious without threats", conformance.SchemaScanResult, result(contract.Malicious, []string{}, "x")},
		{"clean with threats", conformance.SchemaScanResult, result(contract.Clean, []string{"x"}, "")},
		{"unknown outcome", conformance.SchemaScanResult, result("infected", []string{"x"}, "")},
		{"null threats", conformance.SchemaScanResult, result(contract.Clean, nil, "")},
		{"uppercase sha256", conformance.SchemaScanCompleted, contract.ScanCompleted{Version: 1, SHA256: strings.ToUpper(sha), Result: result(contract.Clean, []string{}, "")}},
		{"other version", conformance.SchemaFileExtracted, contract.FileExtracted{Version: 2, FileID: "f", SHA256: sha, ObjectKey: "k"}},
		{"no object key", conformance.SchemaFileExtracted, contract.FileExtracted{Version: 1, FileID: "f", SHA256: sha}},
		{"pending is not terminal", conformance.SchemaFileCompleted, contract.FileCompleted{Version: 1, FileID: "f1", SHA256: sha, Status: "done", Verdict: contract.VerdictPending}},
		{"a verdict cannot change to pending", conformance.SchemaVerdictChanged, contract.FileVerdictChanged{Version: 1, FileID: "f1", SHA256: sha, Verdict: contract.VerdictPending, Previous: contract.VerdictClean}},
		{"unknown field", conformance.SchemaFileUploaded, map[string]any{"version": 1, "fileId": "f", "sha256": sha, "size": 1, "objectKey": "k", "extra": true}},
		{"bad date", conformance.SchemaScanResult, map[string]any{"engine": "x", "result": "clean", "threats": []string{}, "engineVersion": "1", "signatureVersion": "1", "scannedAt": "yesterday", "durationMs": 1}},
	}
	for _, c := range invalid {
		assert.Error(t, s.Validate(c.schema, c.v), c.why)
	}
}

// TestSchemasCoverTheContract compares each schema's properties with the
// JSON fields of its Go type, so that a field added to internal/contract
// without its schema (or the reverse) fails here.
func TestSchemasCoverTheContract(t *testing.T) {
	s := schemas(t)
	for schema, v := range map[string]any{
		conformance.SchemaFileUploaded:   contract.FileUploaded{},
		conformance.SchemaFileExtracted:  contract.FileExtracted{},
		conformance.SchemaScanCompleted:  contract.ScanCompleted{},
		conformance.SchemaFileCompleted:  contract.FileCompleted{},
		conformance.SchemaEngineUpdated:  contract.EngineUpdated{},
		conformance.SchemaVerdictChanged: contract.FileVerdictChanged{},
		conformance.SchemaScanResult:     contract.Result{},
	} {
		fields, always := jsonFields(reflect.TypeOf(v))
		props, required := s.Properties(schema)
		assert.ElementsMatch(t, fields, props, "%s: properties vs %T's JSON fields", schema, v)
		for _, r := range required {
			assert.True(t, slices.Contains(always, r), "%s requires %q, which %T omits when empty", schema, r, v)
		}
	}
}

// Webhook bodies, one schema per event type over a shared data schema.
const (
	schemaWebhookData    = "webhook-data.schema.json"
	schemaWebhookPayload = "webhook.%s.schema.json"
)

// TestWebhookPayloadsMatchSchemas validates the bodies internal/webhooks
// sends, for every event type, and refuses bodies that break them; the
// data schema's properties are PayloadData's JSON fields.
func TestWebhookPayloadsMatchSchemas(t *testing.T) {
	s := schemas(t)
	at := time.Date(2026, 12, 2, 3, 4, 5, 6000, time.UTC)
	ev := func(typ, status, verdict, previous string, sigs []string) webhooks.Event {
		return webhooks.Event{Type: typ, Tenant: "t", FileID: "f1", SHA256: sha, Status: status, Verdict: verdict,
			Previous: previous, Version: 2, ScannedAt: at, Signatures: sigs}
	}
	valid := []webhooks.Event{
		ev(webhooks.EventFileCompleted, "done", "malicious", "", []string{"Eicar-Test-Signature"}),
		ev(webhooks.EventFileCompleted, "done", "clean", "clean", nil), // Previous is not sent for file.completed
		ev(webhooks.EventFileRejected, "rejected", "unscanned", "", nil),
		ev(webhooks.EventVerdictChanged, "done", "malicious", "clean", []string{"Test.Rescan"}),
	}
	for _, e := range valid {
		assert.NoError(t, s.Validate(fmt.Sprintf(schemaWebhookPayload, e.Type), webhooks.NewPayload(e, at)), "%+v", e)
	}
	invalid := []struct {
		why string
		e   webhooks.Event
	}{
		{"pending is not a verdict", ev(webhooks.EventFileCompleted, "done", "pending", "", nil)},
		{"a completed file is done", ev(webhooks.EventFileCompleted, "rejected", "unscanned", "", nil)},
		{"a rejected file is unscanned", ev(webhooks.EventFileRejected, "rejected", "clean", "", nil)},
		{"a change names the previous verdict", ev(webhooks.EventVerdictChanged, "done", "malicious", "", nil)},
		{"uppercase sha256", webhooks.Event{Type: webhooks.EventFileCompleted, FileID: "f", SHA256: strings.ToUpper(sha),
			Status: "done", Verdict: "clean", Version: 1, ScannedAt: at}},
		{"version -1", webhooks.Event{Type: webhooks.EventFileCompleted, FileID: "f", SHA256: sha, Status: "done",
			Verdict: "clean", Version: -1, ScannedAt: at}},
	}
	for _, c := range invalid {
		assert.Error(t, s.Validate(fmt.Sprintf(schemaWebhookPayload, c.e.Type), webhooks.NewPayload(c.e, at)), c.why)
	}
	assert.Error(t, s.Validate(fmt.Sprintf(schemaWebhookPayload, webhooks.EventFileCompleted),
		webhooks.NewPayload(valid[2], at)), "a file.rejected body under file.completed's schema")

	fields, always := jsonFields(reflect.TypeOf(webhooks.PayloadData{}))
	props, required := s.Properties(schemaWebhookData)
	assert.ElementsMatch(t, fields, props, "webhook data properties vs webhooks.PayloadData's JSON fields")
	for _, r := range required {
		assert.True(t, slices.Contains(always, r), "%s requires %q, which PayloadData omits when empty", schemaWebhookData, r)
	}
	for _, typ := range webhooks.EventTypes {
		fields, _ := jsonFields(reflect.TypeOf(webhooks.Payload{}))
		props, _ := s.Properties(fmt.Sprintf(schemaWebhookPayload, typ))
		assert.ElementsMatch(t, fields, props, typ)
	}
}

// jsonFields returns a struct's JSON field names, and those without
// omitempty (always encoded).
func jsonFields(t reflect.Type) (all, always []string) {
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") {
			always = append(always, name)
		}
	}
	return all, always
}
