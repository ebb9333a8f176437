package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"sigs.k8s.io/yaml"
)

// ImageSpec is one image of images.yaml: what cmd/images builds without a
// Docker daemon, and what images_test.go compares with the Dockerfile.
type ImageSpec struct {
	Name       string            `json:"name"`
	Dockerfile string            `json:"dockerfile,omitempty"` // relative to deploy/
	Base       string            `json:"base"`                 // static or debian
	Workdir    string            `json:"workdir,omitempty"`
	Files      []ImageFile       `json:"files,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	User       string            `json:"user"`
	Ports      []int             `json:"ports,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	// Version is the org.opencontainers.image.version label of an image
	// that carries no code or file of this repository (Dapr, Kubernetes,
	// versitygw, Debian's servers): the upstream version, or deb:<package>
	// for that package's version in the Debian userland. Unset, the label
	// is the commit (git describe), and a new commit rebuilds the image.
	Version string `json:"version,omitempty"`
}

// ImageFile is a file or directory put into an image.
type ImageFile struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// ImageSpecs reads images.yaml from the directory dir (deploy/).
func ImageSpecs(dir string) ([]ImageSpec, error) {
	b, err := os.ReadFile(filepath.Join(dir, "images.yaml"))
	if err != nil {
		return nil, err
	}
	var doc struct {
		Images []ImageSpec `json:"images"`
	}
	if err := yaml.UnmarshalStrict(b, &doc); err != nil {
		return nil, fmt.Errorf("images.yaml: %w", err)
	}
	seen := map[string]bool{}
	for _, s := range doc.Images {
		switch {
		case s.Name == "" || seen[s.Name]:
			return nil, fmt.Errorf("images.yaml: empty or repeated name %q", s.Name)
		case s.Base != "static" && s.Base != "debian":
			return nil, fmt.Errorf("images.yaml: %s: base %q, want static or debian", s.Name, s.Base)
		case s.User == "" || strings.HasPrefix(s.User, "0") || strings.HasPrefix(s.User, "root"):
			return nil, fmt.Errorf("images.yaml: %s: user %q, want a non-root uid", s.Name, s.User)
		case len(s.Entrypoint) == 0 && len(s.Cmd) == 0:
			return nil, fmt.Errorf("images.yaml: %s: no entrypoint or cmd", s.Name)
		case s.Version != "" && ownFiles(s):
			return nil, fmt.Errorf("images.yaml: %s: carries this repository's files, so its version is the commit, not %q", s.Name, s.Version)
		}
		seen[s.Name] = true
	}
	return doc.Images, nil
}

// ownFiles says whether s carries code or files of this repository: a
// go: build or a repository path, as opposed to bin: (the pinned Kubernetes
// and Dapr builds) and install: (a pinned module).
func ownFiles(s ImageSpec) bool {
	for _, f := range s.Files {
		if !strings.HasPrefix(f.Src, "bin:") && !strings.HasPrefix(f.Src, "install:") {
			return true
		}
	}
	return false
}

// Dir is the directory of this package's source: deploy/ in a checkout.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}
