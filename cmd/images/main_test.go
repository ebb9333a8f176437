package main

import (
	"archive/tar"
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rootfs(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return &buf
}

func TestDebVersions(t *testing.T) {
	status := "Package: redis-server\nStatus: install ok installed\nVersion: 5:7.0.15-1~deb12u4\n\n" +
		"Package: postgresql-15\nVersion: 15.14-0+deb12u1\nDescription: object-relational SQL database\n"
	v, err := debVersions(rootfs(t, map[string]string{"./etc/hostname": "x", "./var/lib/dpkg/status": status}))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"redis-server": "5:7.0.15-1~deb12u4", "postgresql-15": "15.14-0+deb12u1"}, v)

	_, err = debVersions(rootfs(t, map[string]string{"./var/lib/dpkg/status-old": status}))
	assert.ErrorContains(t, err, "no var/lib/dpkg/status")
}
