package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Two ways build the same images: the Dockerfiles, for users with Docker,
// and images.yaml through cmd/images (buildah, no daemon), which `make
// images` and the local cluster use. These tests keep them equal where a
// user would notice: user, ports, entrypoint, cmd, environment, working
// directory and the files each image carries.

// compareImage lists every difference between a spec and the final stage
// of its Dockerfile.
func compareImage(spec ImageSpec, ins []instruction) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	st := stages(ins)
	final := st[len(st)-1]
	var (
		user, workdir string
		ports         []int
		entrypoint    []string
		cmd           []string
		env           = map[string]string{}
		files         []ImageFile
	)
	for _, in := range final.body {
		switch in.cmd {
		case "USER":
			user = in.args
		case "WORKDIR":
			workdir = in.args
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					bad("EXPOSE %s: %v", p, err)
				}
				ports = append(ports, n)
			}
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(in.args), &v); err != nil {
				bad("%s %s: want the JSON (exec) form", in.cmd, in.args)
			}
			if in.cmd == "CMD" {
				cmd = v
			} else {
				entrypoint = v
			}
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					bad("ENV %s: want KEY=value pairs", in.args)
				}
				env[k] = v
			}
		case "COPY":
			f, err := copySource(st, in.args)
			if err != nil {
				bad("COPY %s: %v", in.args, err)
				continue
			}
			files = append(files, f)
		}
	}
	if user != spec.User {
		bad("user: Dockerfile %q, images.yaml %q", user, spec.User)
	}
	if workdir != spec.Workdir {
		bad("workdir: Dockerfile %q, images.yaml %q", workdir, spec.Workdir)
	}
	slices.Sort(ports)
	specPorts := slices.Sorted(slices.Values(spec.Ports))
	if !slices.Equal(ports, specPorts) {
		bad("ports: Dockerfile %v, images.yaml %v", ports, specPorts)
	}
	if !slices.Equal(entrypoint, spec.Entrypoint) {
		bad("entrypoint: Dockerfile %q, images.yaml %q", entrypoint, spec.Entrypoint)
	}
	if !slices.Equal(cmd, spec.Cmd) {
		bad("cmd: Dockerfile %q, images.yaml %q", cmd, spec.Cmd)
	}
	specEnv := spec.Env
	if specEnv == nil {
		specEnv = map[string]string{}
	}
	if fmt.Sprint(env) != fmt.Sprint(specEnv) {
		bad("env: Dockerfile %v, images.yaml %v", env, specEnv)
	}
	if !slices.Equal(files, spec.Files) {
		bad("files: Dockerfile %v, images.yaml %v", files, spec.Files)
	}
	return errs
}

// copySource turns a final-stage COPY into the images.yaml form: a
// repository path, or go:<package> for a binary a golang stage built.
func copySource(st []stage, args string) (ImageFile, error) {
	f := strings.Fields(args)
	from := ""
	f = slices.DeleteFunc(f, func(s string) bool {
		if v, ok := strings.CutPrefix(s, "--from="); ok {
			from = v
		}
		return strings.HasPrefix(s, "--")
	})
	if len(f) != 2 {
		return ImageFile{}, fmt.Errorf("want one source and a destination")
	}
	src, dst := f[0], f[1]
	if from == "" {
		return ImageFile{Src: src, Dst: dst}, nil
	}
	i := slices.IndexFunc(st, func(s stage) bool { return s.name == from })
	if i < 0 {
		return ImageFile{}, fmt.Errorf("no stage %q", from)
	}
	s := st[i]
	switch {
	case strings.HasPrefix(s.image, "golang:"):
		// RUN … go build … -o <src> <package>
		re := regexp.MustCompile(`go build .*-o ` + regexp.QuoteMeta(src) + `\s+(\S+)`)
		for _, in := range s.body {
			if m := re.FindStringSubmatch(in.args); in.cmd == "RUN" && m != nil {
				return ImageFile{Src: "go:" + m[1], Dst: dst}, nil
			}
		}
		return ImageFile{}, fmt.Errorf("stage %s builds nothing into %s", from, src)
	case strings.HasPrefix(s.image, "node:"):
		// The web stage works in /web, a copy of the repository's web/.
		rel, ok := strings.CutPrefix(src, "/web/")
		if !ok {
			return ImageFile{}, fmt.Errorf("stage %s: %s is outside /web", from, src)
		}
		return ImageFile{Src: "web/" + rel, Dst: dst}, nil
	}
	return ImageFile{}, fmt.Errorf("stage %s (%s): unknown kind", from, s.image)
}

func TestImagesMatchDockerfiles(t *testing.T) {
	specs, err := ImageSpecs(".")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("docker/*.Dockerfile")
	for _, f := range files {
		if !slices.ContainsFunc(specs, func(s ImageSpec) bool { return s.Dockerfile == f }) {
			t.Errorf("%s has no entry in images.yaml: `make images` would not build it", f)
		}
	}
	for _, spec := range specs {
		if spec.Dockerfile == "" {
			continue
		}
		t.Run(spec.Name, func(t *testing.T) {
			for _, err := range compareImage(spec, parseDockerfile(t, spec.Dockerfile)) {
				t.Error(err)
			}
		})
	}
}

// TestImageComparisonCatchesMutations proves each part of the comparison
// can fail.
func TestImageComparisonCatchesMutations(t *testing.T) {
	specs, err := ImageSpecs(".")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(specs, func(s ImageSpec) bool { return s.Name == "api" })
	if i < 0 {
		t.Fatal("no api image")
	}
	api := specs[i]
	ins := parseDockerfile(t, api.Dockerfile)
	mutations := map[string]func(s *ImageSpec){
		"root user":    func(s *ImageSpec) { s.User = "0:0" },
		"another port": func(s *ImageSpec) { s.Ports = []int{9090} },
		"entrypoint":   func(s *ImageSpec) { s.Entrypoint = []string{"/app/other"} },
		"cmd added":    func(s *ImageSpec) { s.Cmd = []string{"-v"} },
		"env value": func(s *ImageSpec) {
			s.Env = map[string]string{"WEB_DIR": "/web", "LISTEN_HOST": "0.0.0.0", "APP_PORT": "8080"}
		},
		"workdir":           func(s *ImageSpec) { s.Workdir = "/" },
		"web app left out":  func(s *ImageSpec) { s.Files = s.Files[:1] },
		"another package":   func(s *ImageSpec) { s.Files = []ImageFile{{"go:./apps/extractor", "/app/api"}, s.Files[1]} },
		"file at other dst": func(s *ImageSpec) { s.Files = []ImageFile{s.Files[0], {"web/dist", "/srv/web"}} },
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			s := api
			s.Files = slices.Clone(api.Files)
			mutate(&s)
			if errs := compareImage(s, ins); len(errs) == 0 {
				t.Error("the comparison passed a spec that differs from the Dockerfile")
			}
		})
	}
	if errs := compareImage(api, ins); len(errs) != 0 {
		t.Errorf("unmutated api: %v", errs)
	}
}

func TestImageSpecsRefuseRoot(t *testing.T) {
	for _, user := range []string{"0:0", "root", ""} {
		dir := t.TempDir()
		doc := fmt.Sprintf("images:\n  - {name: x, base: static, user: %q, entrypoint: [/x]}\n", user)
		if err := os.WriteFile(filepath.Join(dir, "images.yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ImageSpecs(dir); err == nil {
			t.Errorf("user %q accepted", user)
		}
	}
}

// An image labelled with an upstream version is not rebuilt for a new
// commit, so one that carries this repository's files must not have one.
func TestImageSpecsVersionOnlyForUpstream(t *testing.T) {
	for doc, ok := range map[string]bool{
		`{name: x, base: static, user: "1:1", entrypoint: [/x], version: "1.0", files: [{src: "bin:x", dst: /x}]}`:          true,
		`{name: x, base: static, user: "1:1", entrypoint: [/x], version: "1.0", files: [{src: "install:a/b@v1", dst: /x}]}`: true,
		`{name: x, base: debian, user: "1:1", entrypoint: [/x], version: "deb:redis-server"}`:                               true,
		`{name: x, base: static, user: "1:1", entrypoint: [/x], version: "1.0", files: [{src: "go:./apps/api", dst: /x}]}`:  false,
		`{name: x, base: static, user: "1:1", entrypoint: [/x], version: "1.0", files: [{src: "rules/yara/", dst: /x}]}`:    false,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "images.yaml"), []byte("images:\n  - "+doc+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ImageSpecs(dir); (err == nil) != ok {
			t.Errorf("%s: accepted %v, want %v (%v)", doc, err == nil, ok, err)
		}
	}
}

// An upstream image's version label names what the build pins: the
// module version of tools/daprd and tools/k8s, or the installed version.
func TestImageVersionsArePinned(t *testing.T) {
	specs, err := ImageSpecs(Dir())
	if err != nil {
		t.Fatal(err)
	}
	pinned := func(gomod, module string) string {
		b, err := os.ReadFile(filepath.Join(Dir(), "..", gomod))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + ` v(\S+)`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s does not require %s", gomod, module)
		}
		return string(m[1])
	}
	checked := 0
	for _, s := range specs {
		var want string
		switch {
		case strings.HasPrefix(s.Name, "dapr/"):
			want = pinned("tools/daprd/go.mod", "github.com/dapr/dapr")
		case s.Name == "k8s/coredns":
			want = "v" + pinned("tools/k8s/go.mod", "github.com/coredns/coredns")
		case len(s.Files) == 1 && strings.HasPrefix(s.Files[0].Src, "install:"):
			_, want, _ = strings.Cut(s.Files[0].Src, "@")
		default:
			continue
		}
		checked++
		if s.Version != want {
			t.Errorf("%s: version %q, but the build pins %q", s.Name, s.Version, want)
		}
	}
	if checked < 8 {
		t.Errorf("checked %d images, want the six Dapr images, CoreDNS and versitygw", checked)
	}
}
