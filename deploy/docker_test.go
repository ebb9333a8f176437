package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// No Docker engine runs on the build machines, so the Dockerfiles are
// checked by reading them: the structure that keeps images small and
// non-root, and COPY sources that exist in the repository.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, …
	args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue
		}
		cont := strings.HasSuffix(trimmed, "\\")
		cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
		cur.WriteString(" ")
		if cont {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// stage is one FROM … section of a Dockerfile.
type stage struct {
	image, name string
	body        []instruction
}

func stages(ins []instruction) []stage {
	var out []stage
	for _, in := range ins {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
			s := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			out = append(out, s)
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].body = append(out[len(out)-1].body, in)
		}
	}
	return out
}

func TestDockerfiles(t *testing.T) {
	files, err := filepath.Glob("docker/*.Dockerfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Dockerfiles: %v", err)
	}
	// Every image the manifests run is built here.
	for _, img := range manifestImages(t) {
		if !slices.Contains(files, filepath.Join("docker", img+".Dockerfile")) {
			t.Errorf("image intellidox/%s has no docker/%s.Dockerfile", img, img)
		}
	}
	goApps := map[string]string{"api": "./apps/api", "extractor": "./apps/extractor", "scanner": "./apps/scanner", "scanner-yara": "./apps/scanner"}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".Dockerfile")
		t.Run(name, func(t *testing.T) {
			ins := parseDockerfile(t, f)
			st := stages(ins)
			if len(st) == 0 {
				t.Fatal("no FROM")
			}
			for _, s := range st {
				if tagless(s.image) && !slices.ContainsFunc(st, func(x stage) bool { return x.name == s.image }) {
					t.Errorf("FROM %s: pin a tag (and never latest)", s.image)
				}
			}
			for _, in := range ins {
				if in.cmd == "ADD" && regexp.MustCompile(`(?i)(https?|git|ftp)://|git@`).MatchString(in.args) {
					t.Errorf("ADD of a remote source: %s", in.args)
				}
				if in.cmd == "COPY" && !strings.Contains(in.args, "--from=") {
					checkCopySources(t, in.args)
				}
			}
			final := st[len(st)-1]
			user := ""
			for _, in := range final.body {
				if in.cmd == "USER" {
					user = in.args
				}
			}
			if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
				t.Errorf("final stage runs as %q; want a non-root USER", user)
			}
			pkg, isApp := goApps[name]
			if !isApp {
				return
			}
			if len(st) < 2 {
				t.Fatalf("%d stage(s); want a builder stage and a runtime stage", len(st))
			}
			build := st[0]
			if !strings.HasPrefix(build.image, "golang:1.26") {
				t.Errorf("builder FROM %s, want golang:1.26", build.image)
			}
			built := slices.ContainsFunc(build.body, func(in instruction) bool {
				return in.cmd == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") && strings.Contains(in.args, pkg)
			})
			if !built {
				t.Errorf("no `CGO_ENABLED=0 go build … %s` in the builder stage", pkg)
			}
			if !strings.HasPrefix(final.image, "gcr.io/distroless/") && !strings.Contains(final.image, "-slim") {
				t.Errorf("runtime FROM %s; want distroless (or Debian slim where a CLI is needed)", final.image)
			}
			if !slices.ContainsFunc(final.body, func(in instruction) bool {
				return in.cmd == "COPY" && strings.Contains(in.args, "--from="+build.name)
			}) {
				t.Errorf("the runtime stage does not copy the binary from %s", build.name)
			}
			if name == "api" {
				web := slices.IndexFunc(st, func(s stage) bool { return strings.HasPrefix(s.image, "node:") })
				if web < 0 {
					t.Fatal("no node stage building the web app")
				}
				if !slices.ContainsFunc(final.body, func(in instruction) bool {
					return in.cmd == "COPY" && strings.Contains(in.args, "--from="+st[web].name) && strings.Contains(in.args, "/app/web")
				}) || !slices.ContainsFunc(final.body, func(in instruction) bool {
					return in.cmd == "ENV" && strings.Contains(in.args, "WEB_DIR=/app/web")
				}) {
					t.Error("the api image must carry the built web app at WEB_DIR=/app/web")
				}
			}
		})
	}
}

// tagless reports whether an image reference lacks a tag or digest, or
// uses latest.
func tagless(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return false
	}
	_, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
	return !ok || tag == "" || tag == "latest"
}

// checkCopySources checks that every COPY source exists, relative to the
// repository root (the build context).
func checkCopySources(t *testing.T, args string) {
	t.Helper()
	f := slices.DeleteFunc(strings.Fields(args), func(s string) bool { return strings.HasPrefix(s, "--") })
	if len(f) < 2 {
		t.Errorf("COPY %s: want sources and a destination", args)
		return
	}
	for _, src := range f[:len(f)-1] {
		if _, err := os.Stat(filepath.Join("..", src)); err != nil {
			t.Errorf("COPY source %s does not exist in the repository", src)
		}
	}
}

// manifestImages lists the intellidox/* images the base manifests run.
func manifestImages(t *testing.T) []string {
	c, err := decode(render(t, "base"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range c.deployments {
		for _, ctr := range slices.Concat(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers) {
			out = append(out, ctr.Image)
		}
	}
	for _, j := range c.jobs {
		for _, ctr := range j.Spec.Template.Spec.Containers {
			out = append(out, ctr.Image)
		}
	}
	for i, img := range out {
		img, _, _ = strings.Cut(img, ":")
		out[i] = strings.TrimPrefix(img, "intellidox/")
	}
	slices.Sort(out)
	return slices.Compact(out)
}
