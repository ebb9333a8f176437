package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// bundle writes one docker-archive holding every image of archives, each
// file once. The archives name their layers and configs by digest, so a
// layer several images share (the 500 MB Debian userland under clamav,
// redis, postgres, nats, yara and the Node scanner) is written once, and
// an importer reads and stores it once instead of once per image.
// manifest.json, a list of images in each archive, is merged and written
// last.
func bundle(w io.Writer, archives []string) error {
	tw := tar.NewWriter(w)
	seen := map[string]bool{}
	var manifest []json.RawMessage
	for _, path := range archives {
		m, err := copyArchive(tw, path, seen)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		manifest = append(manifest, m...)
	}
	if len(manifest) == 0 {
		return fmt.Errorf("no image in %d archive(s)", len(archives))
	}
	b, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o444, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(b); err != nil {
		return err
	}
	return tw.Close()
}

// copyArchive copies the entries of one docker-archive that seen does not
// hold yet and returns its manifest's images.
func copyArchive(tw *tar.Writer, path string, seen map[string]bool) ([]json.RawMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var images []json.RawMessage
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(h.Name, "./")
		if name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&images); err != nil {
				return nil, fmt.Errorf("manifest.json: %w", err)
			}
			continue
		}
		if seen[name] {
			continue // named by digest: the same bytes
		}
		seen[name] = true
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, err
		}
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("no manifest.json")
	}
	return images, nil
}

// bundleArchives lists the image archives of dir that a cluster imports:
// every *.tar but the Debian userland, which is a base, not an image.
func bundleArchives(dir string) ([]string, error) {
	all, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(p string) bool { return strings.HasPrefix(filepath.Base(p), "debian-userland") })
	slices.Sort(all)
	return all, nil
}
