package rest_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/rest"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestMatchesOpenAPI: every REST type has exactly the properties its schema
// in docs/openapi.yaml has, and every field it always writes (no
// omitempty) is one the schema requires.
func TestMatchesOpenAPI(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(testenv.Root(), "docs", "openapi.yaml"))
	require.NoError(t, err)
	component := func(name string) *openapi3.Schema {
		ref, ok := doc.Components.Schemas[name]
		require.True(t, ok, "no schema %s", name)
		return ref.Value
	}
	response := func(op string, status string) *openapi3.Schema {
		for _, item := range doc.Paths.Map() {
			for _, o := range item.Operations() {
				if o.OperationID == op {
					return o.Responses.Value(status).Value.Content.Get("application/json").Schema.Value
				}
			}
		}
		t.Fatalf("no operation %s", op)
		return nil
	}
	request := func(op string) *openapi3.Schema {
		for _, item := range doc.Paths.Map() {
			for _, o := range item.Operations() {
				if o.OperationID == op {
					return o.RequestBody.Value.Content.Get("application/json").Schema.Value
				}
			}
		}
		t.Fatalf("no operation %s", op)
		return nil
	}
	cases := []struct {
		name   string
		v      any
		schema *openapi3.Schema
	}{
		{"File", rest.File{}, component("File")},
		{"Sweep", rest.Sweep{}, component("Sweep")},
		{"SweepRequest", rest.SweepRequest{}, request("createSweep")},
		{"Created", rest.Created{}, component("Created")},
		{"Upload", rest.Upload{}, component("Upload")},
		{"Part", rest.Part{}, component("Part")},
		{"UploadState", rest.UploadState{}, component("UploadState")},
		{"Scans", rest.Scans{}, component("Scans")},
		{"Download", rest.Download{}, component("Download")},
		{"PasswordList", rest.PasswordList{}, component("PasswordList")},
		{"Page", rest.Page{}, response("listFiles", "200")},
		{"VerdictChange", rest.VerdictChange{}, response("getHistory", "200").Properties["verdicts"].Value.Items.Value},
		{"RescanRequest", rest.RescanRequest{}, request("rescanFile")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := flatten(c.schema)
			fields, always := jsonFields(reflect.TypeOf(c.v))
			assert.Equal(t, keys(s.props), fields, "properties of %s", c.name)
			for _, f := range always {
				assert.True(t, slices.Contains(s.required, f), "%s.%s is always written: the schema should require it", c.name, f)
			}
		})
	}
}

type flat struct {
	props    map[string]bool
	required []string
}

// flatten merges a schema with its allOf parts.
func flatten(s *openapi3.Schema) flat {
	out := flat{props: map[string]bool{}}
	for k := range s.Properties {
		out.props[k] = true
	}
	out.required = append(out.required, s.Required...)
	for _, part := range s.AllOf {
		f := flatten(part.Value)
		for k := range f.props {
			out.props[k] = true
		}
		out.required = append(out.required, f.required...)
	}
	return out
}

// jsonFields returns the JSON names a struct type writes, sorted, and those
// without omitempty.
func jsonFields(t reflect.Type) (all, always []string) {
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || name == "" {
			continue
		}
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") {
			always = append(always, name)
		}
	}
	sort.Strings(all)
	return all, always
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
