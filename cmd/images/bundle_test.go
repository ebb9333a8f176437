package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// archive writes a docker-archive of one image: its layers and config as
// files named by digest, and manifest.json.
func archive(t *testing.T, dir, name string, files map[string]string, tag string, layers ...string) {
	t.Helper()
	m, err := json.Marshal([]map[string]any{{"Config": "cfg-" + name + ".json", "RepoTags": []string{tag}, "Layers": layers}})
	require.NoError(t, err)
	files["cfg-"+name+".json"] = "{}"
	files["manifest.json"] = string(m)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".tar"), rootfs(t, files).Bytes(), 0o600))
}

func TestBundleWritesSharedLayersOnce(t *testing.T) {
	dir := t.TempDir()
	archive(t, dir, "redis", map[string]string{"base.tar": "debian", "redis.tar": "r"}, "localhost/redis:local", "base.tar", "redis.tar")
	archive(t, dir, "nats", map[string]string{"base.tar": "debian", "nats.tar": "n"}, "localhost/nats:local", "base.tar", "nats.tar")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "debian-userland-1234.tar"), rootfs(t, map[string]string{"etc/x": "y"}).Bytes(), 0o600))

	archives, err := bundleArchives(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "nats.tar"), filepath.Join(dir, "redis.tar")}, archives, "the userland is a base, not an image")
	var out bytes.Buffer
	require.NoError(t, bundle(&out, archives))

	count := map[string]int{}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		count[h.Name]++
		if h.Name == "manifest.json" {
			require.NoError(t, json.NewDecoder(tr).Decode(&manifest))
		}
	}
	assert.Equal(t, map[string]int{"base.tar": 1, "redis.tar": 1, "nats.tar": 1, "cfg-redis.json": 1, "cfg-nats.json": 1, "manifest.json": 1}, count)
	require.Len(t, manifest, 2)
	assert.Equal(t, []string{"localhost/nats:local"}, manifest[0].RepoTags)
	assert.Equal(t, []string{"base.tar", "redis.tar"}, manifest[1].Layers)
}

func TestBundleRefusesAnArchiveWithoutManifest(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.tar"), rootfs(t, map[string]string{"layer.tar": "x"}).Bytes(), 0o600))
	err := bundle(io.Discard, []string{filepath.Join(dir, "broken.tar")})
	require.ErrorContains(t, err, "broken.tar: no manifest.json")
}
