// Package launch runs the apps of a Dapr Multi-App Run file (dapr.yaml),
// each beside its own daprd, the way `dapr run -f .` does where the Dapr CLI
// is not installed. The end-to-end tests use it too, with their own ports.
package launch

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// RunFile is a Multi-App Run template.
type RunFile struct {
	Version int    `yaml:"version"`
	Common  Common `yaml:"common"`
	Apps    []App  `yaml:"apps"`
	dir     string
}

// Common holds settings shared by every app.
type Common struct {
	ResourcesPath  string            `yaml:"resourcesPath"`
	ResourcesPaths []string          `yaml:"resourcesPaths"`
	ConfigFilePath string            `yaml:"configFilePath"`
	Env            map[string]string `yaml:"env"`
}

// App is one application and its sidecar.
type App struct {
	AppID                string            `yaml:"appID"`
	AppDirPath           string            `yaml:"appDirPath"`
	AppPort              int               `yaml:"appPort"`
	Command              []string          `yaml:"command"`
	DaprHTTPPort         int               `yaml:"daprHTTPPort"`
	DaprGRPCPort         int               `yaml:"daprGRPCPort"`
	DaprInternalGRPCPort int               `yaml:"daprInternalGRPCPort"`
	MetricsPort          int               `yaml:"metricsPort"`
	ResourcesPaths       []string          `yaml:"resourcesPaths"`
	ConfigFilePath       string            `yaml:"configFilePath"`
	AppMaxConcurrency    int               `yaml:"appMaxConcurrency"`
	LogLevel             string            `yaml:"logLevel"`
	Env                  map[string]string `yaml:"env"`
}

// Load reads a run file. Relative paths in it are relative to its directory.
func Load(path string) (*RunFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rf RunFile
	dec := yaml.NewDecoder(bytesReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if rf.Version != 1 {
		return nil, fmt.Errorf("%s: version %d, want 1", path, rf.Version)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	rf.dir = abs
	seen := map[string]bool{}
	for i, a := range rf.Apps {
		switch {
		case a.AppID == "":
			return nil, fmt.Errorf("%s: app %d has no appID", path, i)
		case seen[a.AppID]:
			return nil, fmt.Errorf("%s: appID %q appears twice", path, a.AppID)
		case len(a.Command) == 0:
			return nil, fmt.Errorf("%s: app %s has no command", path, a.AppID)
		}
		seen[a.AppID] = true
	}
	return &rf, nil
}

// App returns the app with id, or nil.
func (rf *RunFile) App(id string) *App {
	for i := range rf.Apps {
		if rf.Apps[i].AppID == id {
			return &rf.Apps[i]
		}
	}
	return nil
}

func (rf *RunFile) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(rf.dir, p)
}

// resources returns the app's resources paths, made absolute.
func (rf *RunFile) resources(a App) []string {
	paths := a.ResourcesPaths
	if len(paths) == 0 {
		paths = rf.Common.ResourcesPaths
	}
	if len(paths) == 0 && rf.Common.ResourcesPath != "" {
		paths = []string{rf.Common.ResourcesPath}
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = rf.abs(p)
	}
	return out
}

func (rf *RunFile) config(a App) string {
	if a.ConfigFilePath != "" {
		return rf.abs(a.ConfigFilePath)
	}
	return rf.abs(rf.Common.ConfigFilePath)
}
