// Package launch runs the apps of a Dapr Multi-App Run file (dapr.yaml),
// each beside its own daprd, the way `dapr run -f .` does where the Dapr CLI
// is not installed. The end-to-end tests use it too, with their own ports.
//
// It follows the official CLI's semantics (dapr/cli pkg/runfileconfig and
// pkg/standalone), so that a run file that works here works there:
//   - paths in `common` resolve against the run file's directory; paths in
//     an app (resourcesPaths, configFilePath, runtimePath) against that
//     app's appDirPath, and every path must exist;
//   - resources: app > <appDirPath>/.dapr/resources > common > runtime's
//     components; config likewise with .dapr/config.yaml;
//   - shared settings left empty in an app come from `common`, and the app's
//     env wins over common's key by key;
//   - the run file's env reaches the app only: daprd gets the environment
//     the launcher itself runs in (Options.Env adds to it, as variables
//     exported before `dapr run -f` would);
//   - daprd is <runtimePath>/.dapr/bin/daprd, else $DAPR_RUNTIME_PATH's,
//     else ~/.dapr/bin/daprd; both processes run in appDirPath;
//   - logs go to <appDirPath>/.dapr/logs: daprd's to a file, the app's to
//     a file and the console, unless the destinations say otherwise.
//
// docs/architecture.md lists what still differs, and why.
package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// RunFile is a Multi-App Run template, with every path resolved.
type RunFile struct {
	Version int    `yaml:"version"`
	Name    string `yaml:"name,omitempty"`
	Common  Common `yaml:"common,omitempty"`
	Apps    []App  `yaml:"apps"`
}

// Shared are the settings that `common` gives every app that leaves them
// empty (the CLI's SharedRunConfig, the part of it this project supports).
type Shared struct {
	ResourcesPath        string            `yaml:"resourcesPath,omitempty"` // deprecated alias, merged into ResourcesPaths
	ResourcesPaths       []string          `yaml:"resourcesPaths,omitempty"`
	ConfigFilePath       string            `yaml:"configFilePath,omitempty"`
	RuntimePath          string            `yaml:"runtimePath,omitempty"`
	AppProtocol          string            `yaml:"appProtocol,omitempty"`
	APIListenAddresses   string            `yaml:"apiListenAddresses,omitempty"`
	PlacementHostAddress *string           `yaml:"placementHostAddress,omitempty"` // nil: localhost:50005; "": none
	SchedulerHostAddress *string           `yaml:"schedulerHostAddress,omitempty"` // nil: localhost:50006; "": none
	LogLevel             string            `yaml:"logLevel,omitempty"`
	AppMaxConcurrency    int               `yaml:"appMaxConcurrency,omitempty"`
	DaprdLogDestination  LogDest           `yaml:"daprdLogDestination,omitempty"`
	AppLogDestination    LogDest           `yaml:"appLogDestination,omitempty"`
	Env                  map[string]string `yaml:"env,omitempty"`
}

// Common holds settings shared by every app.
type Common struct {
	Shared `yaml:",inline"`
}

// App is one application and its sidecar.
type App struct {
	Shared               `yaml:",inline"`
	AppID                string   `yaml:"appID,omitempty"`
	AppDirPath           string   `yaml:"appDirPath"`
	AppPort              int      `yaml:"appPort,omitempty"`
	Command              []string `yaml:"command,omitempty"`
	DaprHTTPPort         int      `yaml:"daprHTTPPort,omitempty"`
	DaprGRPCPort         int      `yaml:"daprGRPCPort,omitempty"`
	DaprInternalGRPCPort int      `yaml:"daprInternalGRPCPort,omitempty"`
	MetricsPort          int      `yaml:"metricsPort,omitempty"`
}

// LogDest is where a process's output goes, as in the CLI.
type LogDest string

// Log destinations.
const (
	LogFile           LogDest = "file"
	LogConsole        LogDest = "console"
	LogFileAndConsole LogDest = "fileAndConsole"
)

// Load reads a run file and resolves it the way `dapr run -f` does.
func Load(path string) (*RunFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rf RunFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	// Stricter than the CLI, which ignores unknown keys: a misspelt or
	// unsupported setting is an error here rather than silently dropped.
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := rf.resolve(path); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &rf, nil
}

// Resolve applies the CLI's rules to a run file built in memory, with
// relative paths taken against dir as if the file were there.
func (rf *RunFile) Resolve(dir string) error {
	return rf.resolve(filepath.Join(dir, "dapr.yaml"))
}

func (rf *RunFile) resolve(path string) error {
	if rf.Version == 0 {
		return errors.New("required field 'version' not found")
	}
	if rf.Version != 1 {
		return fmt.Errorf("version %d, want 1", rf.Version)
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return err
	}
	c := &rf.Common.Shared
	if err := absAll(base, &c.ConfigFilePath, &c.ResourcesPath, &c.RuntimePath); err != nil {
		return err
	}
	if err := absAll(base, ptrs(c.ResourcesPaths)...); err != nil {
		return err
	}
	if c.ResourcesPath != "" {
		c.ResourcesPaths = append(c.ResourcesPaths, c.ResourcesPath)
		c.ResourcesPath = ""
	}
	seen := map[string]bool{}
	for i := range rf.Apps {
		a := &rf.Apps[i]
		if a.AppDirPath == "" {
			return fmt.Errorf("app %d: required field 'appDirPath' not found", i)
		}
		if err := absAll(base, &a.AppDirPath); err != nil {
			return err
		}
		// Everything else in an app is relative to its appDirPath.
		if err := absAll(a.AppDirPath, &a.ConfigFilePath, &a.ResourcesPath, &a.RuntimePath); err != nil {
			return fmt.Errorf("app %q: %w", a.AppID, err)
		}
		if err := absAll(a.AppDirPath, ptrs(a.ResourcesPaths)...); err != nil {
			return fmt.Errorf("app %q: %w", a.AppID, err)
		}
		if a.ResourcesPath != "" {
			a.ResourcesPaths = append(a.ResourcesPaths, a.ResourcesPath)
			a.ResourcesPath = ""
		}
		if a.RuntimePath == "" {
			a.RuntimePath = c.RuntimePath
		}
		a.ResourcesPaths = pick(a.ResourcesPaths, filepath.Join(a.AppDirPath, ".dapr", "resources"), c.ResourcesPaths,
			filepath.Join(runtimeDir(a.RuntimePath), "components"))
		a.ConfigFilePath = pick([]string{a.ConfigFilePath}, filepath.Join(a.AppDirPath, ".dapr", "config.yaml"),
			[]string{c.ConfigFilePath}, filepath.Join(runtimeDir(a.RuntimePath), "config.yaml"))[0]
		a.mergeShared(*c)
		if a.AppID == "" {
			a.AppID = filepath.Base(a.AppDirPath)
		}
		if seen[a.AppID] {
			return fmt.Errorf("appID %q appears twice", a.AppID)
		}
		seen[a.AppID] = true
		if a.DaprdLogDestination == "" {
			a.DaprdLogDestination = LogFile
		}
		if a.AppLogDestination == "" {
			a.AppLogDestination = LogFileAndConsole
		}
		for _, d := range []LogDest{a.DaprdLogDestination, a.AppLogDestination} {
			if d != LogFile && d != LogConsole && d != LogFileAndConsole {
				return fmt.Errorf("app %q: log destination %q: want file, console or fileAndConsole", a.AppID, d)
			}
		}
	}
	return nil
}

// mergeShared fills the settings the app left empty from common, and
// merges env key by key (the app's value wins).
func (a *App) mergeShared(c Shared) {
	s := &a.Shared
	env := s.Env
	if s.AppProtocol == "" {
		s.AppProtocol = c.AppProtocol
	}
	if s.APIListenAddresses == "" {
		s.APIListenAddresses = c.APIListenAddresses
	}
	if s.PlacementHostAddress == nil {
		s.PlacementHostAddress = c.PlacementHostAddress
	}
	if s.SchedulerHostAddress == nil {
		s.SchedulerHostAddress = c.SchedulerHostAddress
	}
	if s.LogLevel == "" {
		s.LogLevel = c.LogLevel
	}
	if s.AppMaxConcurrency == 0 {
		s.AppMaxConcurrency = c.AppMaxConcurrency
	}
	if s.DaprdLogDestination == "" {
		s.DaprdLogDestination = c.DaprdLogDestination
	}
	if s.AppLogDestination == "" {
		s.AppLogDestination = c.AppLogDestination
	}
	s.Env = map[string]string{}
	for k, v := range c.Env {
		s.Env[k] = v
	}
	for k, v := range env {
		s.Env[k] = v
	}
}

// pick returns the first of: explicit (if non-empty), local (if it
// exists), common (if non-empty), fallback — the CLI's precedence.
func pick(explicit []string, local string, common []string, fallback string) []string {
	if len(explicit) > 0 && explicit[0] != "" {
		return explicit
	}
	if _, err := os.Stat(local); err == nil {
		return []string{local}
	}
	if len(common) > 0 && common[0] != "" {
		return append([]string(nil), common...)
	}
	return []string{fallback}
}

// runtimeDir is the Dapr installation a runtimePath names: its .dapr
// folder, else $DAPR_RUNTIME_PATH's, else ~/.dapr.
func runtimeDir(runtimePath string) string {
	if p := strings.TrimSpace(runtimePath); p != "" {
		return filepath.Join(p, ".dapr")
	}
	if p := strings.TrimSpace(os.Getenv("DAPR_RUNTIME_PATH")); p != "" {
		return filepath.Join(p, ".dapr")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".dapr")
}

// Daprd is the daprd binary the CLI would start for a.
func (a *App) Daprd() string { return filepath.Join(runtimeDir(a.RuntimePath), "bin", "daprd") }

// LogsDir is where the CLI writes a's log files.
func (a *App) LogsDir() string { return filepath.Join(a.AppDirPath, ".dapr", "logs") }

func ptrs(s []string) []*string {
	out := make([]*string, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// absAll makes each non-empty path absolute against base (after ~
// expansion) and checks that it exists, as the CLI does.
func absAll(base string, paths ...*string) error {
	for _, p := range paths {
		if *p == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(*p, "~"); ok && (rest == "" || rest[0] == '/') {
			home, err := os.UserHomeDir()
			if err != nil {
				return err
			}
			*p = home + rest
		}
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
		if _, err := os.Stat(*p); err != nil {
			return fmt.Errorf("error in getting the file info for %s: %w", *p, err)
		}
	}
	return nil
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
