package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/intellidox/intellidox/internal/contract"
)

// LocalComponents copies components/local into a private folder with the
// given metadata values replaced: component name → metadata name → value.
// components/local carries literal local-only values (daprd never sees
// dapr.yaml's env under the Dapr CLI), so a stack on private ports points
// its sidecars elsewhere by rewriting them; every value named must exist
// as a literal `value`, or the test fails. Unless set names it, the
// secrets component reads a file of the copy's own, with a fresh archive
// password key (SecretsFile). The storage component (storage.yaml) is copied
// only if set names it.
func LocalComponents(t testing.TB, set map[string]map[string]string) string {
	t.Helper()
	src := filepath.Join(Root(), "components", "local")
	dst := t.TempDir()
	if _, ok := set["secrets"]; !ok {
		set = maps.Clone(set)
		if set == nil {
			set = map[string]map[string]string{}
		}
		set["secrets"] = map[string]string{"secretsFile": SecretsFile(t, t.TempDir())}
	}
	files, err := filepath.Glob(filepath.Join(src, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("components/local: %v (%d files)", err, len(files))
	}
	done := map[string]bool{}
	for _, f := range files {
		// The storage events component only where a stack asks for it:
		// stacks must not read each other's events on the machine's NATS.
		if _, ok := set["storage"]; !ok && filepath.Base(f) == "storage.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := lookup(&doc, "metadata", "name")
		if name != nil {
			for _, item := range seq(lookup(&doc, "spec", "metadata")) {
				key := lookup(item, "name")
				if key == nil {
					continue
				}
				v, ok := set[name.Value][key.Value]
				if !ok {
					continue
				}
				lit := lookup(item, "value")
				if lit == nil {
					t.Fatalf("%s: %s.%s has no literal value to replace", f, name.Value, key.Value)
				}
				lit.Value, lit.Tag, lit.Style = v, "!!str", yaml.DoubleQuotedStyle
				done[name.Value+"."+key.Value] = true
			}
		}
		var out bytes.Buffer
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for comp, kv := range set {
		for k := range kv {
			if !done[comp+"."+k] {
				t.Fatalf("components/local has no %s.%s to replace", comp, k)
			}
		}
	}
	return dst
}

// lookup follows mapping keys from a document or mapping node.
func lookup(n *yaml.Node, path ...string) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

func seq(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// SecretsFile writes, in dir, the file a secretstores.local.file component
// reads: a fresh archive password key under its default name. It returns
// the file's path.
func SecretsFile(t testing.TB, dir string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{contract.ArchivePasswordsKey: newSealKey()})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "secrets.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newSealKey returns a fresh archive password key as the secret store holds
// it (seal.NewKey; testenv cannot import seal, which archive's tests would
// then import in a cycle).
func newSealKey() string {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}
