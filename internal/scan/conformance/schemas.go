package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaBase is the $id prefix of every schema in docs/schemas.
const SchemaBase = "https://github.com/intellidox/intellidox/docs/schemas/"

// Schema names, one per event payload plus the normalized result.
const (
	SchemaFileUploaded   = "file.uploaded.schema.json"
	SchemaFileExtracted  = "file.extracted.schema.json"
	SchemaScanCompleted  = "scan.completed.schema.json"
	SchemaFileCompleted  = "file.completed.schema.json"
	SchemaEngineUpdated  = "engine.updated.schema.json"
	SchemaVerdictChanged = "file.verdict_changed.schema.json"
	SchemaScanResult     = "scan-result.schema.json"
)

// Schemas validates JSON values against the project's JSON Schemas.
type Schemas struct {
	compiled map[string]*jsonschema.Schema
	raw      map[string]map[string]any
}

// LoadSchemas compiles every *.schema.json in dir. References between them
// resolve locally through their $id; nothing is fetched.
func LoadSchemas(dir string) (*Schemas, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no schemas in %s", dir)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s := &Schemas{compiled: map[string]*jsonschema.Schema{}, raw: map[string]map[string]any{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		name := filepath.Base(f)
		if id, _ := doc.(map[string]any)["$id"].(string); id != SchemaBase+name {
			return nil, fmt.Errorf("%s: $id is %q, want %q", f, id, SchemaBase+name)
		}
		if err := c.AddResource(SchemaBase+name, doc); err != nil {
			return nil, err
		}
		s.raw[name] = doc.(map[string]any)
	}
	for name := range s.raw {
		sch, err := c.Compile(SchemaBase + name)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
		s.compiled[name] = sch
	}
	return s, nil
}

// Validate checks v, encoded as JSON (raw JSON bytes are used as they are),
// against the schema name.
func (s *Schemas) Validate(name string, v any) error {
	sch, ok := s.compiled[name]
	if !ok {
		return fmt.Errorf("no schema %s", name)
	}
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return err
		}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%s: %s", strings.TrimSuffix(name, ".schema.json"), err)
	}
	return nil
}

// Properties returns the top-level property names schema name declares,
// and those it requires.
func (s *Schemas) Properties(name string) (props, required []string) {
	doc := s.raw[name]
	for p := range doc["properties"].(map[string]any) {
		props = append(props, p)
	}
	for _, r := range doc["required"].([]any) {
		required = append(required, r.(string))
	}
	return props, required
}
