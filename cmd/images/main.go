// Command images builds the OCI images of deploy/images.yaml without a
// Docker daemon: buildah with vfs storage in a private root, one
// docker-archive per image. An image is rebuilt only when its inputs (spec,
// base, file contents) changed. `make images` runs it through
// scripts/images.sh, which first makes the Debian base rootfs.
package main

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/intellidox/intellidox/deploy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

type builder struct {
	root, cache, out, store, tag, version, debianTar string
	debs                                             map[string]string // package → version in the Debian userland, read once
}

func realMain(ctx context.Context) error {
	cache := os.Getenv("INTELLIDOX_CACHE")
	if cache == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return err
		}
		cache = filepath.Join(c, "intellidox")
	}
	root, err := filepath.Abs(filepath.Join(deploy.Dir(), ".."))
	if err != nil {
		return err
	}
	b := &builder{root: root, cache: cache}
	flag.StringVar(&b.out, "out", filepath.Join(cache, "images"), "directory for the docker-archive tarballs")
	flag.StringVar(&b.store, "storage", filepath.Join(cache, "buildah"), "buildah storage root (vfs)")
	flag.StringVar(&b.tag, "tag", "local", "tag of the IntelliDox images")
	flag.StringVar(&b.version, "version", "", "org.opencontainers.image.version label (default: git describe)")
	flag.StringVar(&b.debianTar, "debian-rootfs", "", "the Debian userland tarball (scripts/images.sh makes it and names it)")
	only := flag.String("only", "", "comma-separated image names (default: all)")
	bundleOut := flag.Bool("bundle", false, "write one docker-archive of every image under -out to stdout, each layer once, and build nothing (scripts/k8s.sh imports it)")
	flag.Parse()
	if *bundleOut {
		archives, err := bundleArchives(b.out)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(os.Stdout, 1<<20)
		if err := bundle(w, archives); err != nil {
			return err
		}
		return w.Flush()
	}
	if b.version == "" {
		v, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output()
		if err != nil {
			return fmt.Errorf("git describe: %w", err)
		}
		b.version = strings.TrimSpace(string(v))
	}
	specs, err := deploy.ImageSpecs(filepath.Join(root, "deploy"))
	if err != nil {
		return err
	}
	if *only != "" {
		names := strings.Split(*only, ",")
		specs = slices.DeleteFunc(specs, func(s deploy.ImageSpec) bool { return !slices.Contains(names, s.Name) })
	}
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return err
	}
	bases := map[string]string{}
	for _, s := range specs {
		if _, ok := bases[s.Base]; ok {
			continue
		}
		id, err := b.base(ctx, s.Base)
		if err != nil {
			return fmt.Errorf("base %s: %w", s.Base, err)
		}
		bases[s.Base] = id
	}
	for _, s := range specs {
		start := time.Now()
		built, err := b.image(ctx, s, bases[s.Base])
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		what := "up to date"
		if built {
			what = "built in " + time.Since(start).Round(100*time.Millisecond).String()
		}
		fmt.Printf("images: %-16s %s  %s\n", s.Name, b.ref(s), what)
	}
	return nil
}

// ref is the image reference containerd and the manifests use.
func (b *builder) ref(s deploy.ImageSpec) string {
	repo, tag := "intellidox/"+s.Name, b.tag
	if strings.HasPrefix(s.Name, "dapr/") { // the chart's image tag: the Dapr version
		repo, tag = s.Name, s.Version
	} else if strings.Contains(s.Name, "/") {
		repo = s.Name
	}
	return "localhost/" + repo + ":" + tag
}

func (b *builder) buildah(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--root", b.store, "--runroot", filepath.Join(b.store, "run"), "--storage-driver", "vfs"}, args...)
	cmd := exec.CommandContext(ctx, "buildah", full...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("buildah %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// base makes (once) the base image and returns its image id.
func (b *builder) base(ctx context.Context, kind string) (string, error) {
	name := "localhost/intellidox-base/" + kind + ":1"
	var digest string
	switch kind {
	case "static":
		dir, err := os.MkdirTemp("", "images-static-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(dir)
		if err := staticRootfs(dir); err != nil {
			return "", err
		}
		h, err := hashPath(dir)
		if err != nil {
			return "", err
		}
		digest = h
		if id, ok := b.existing(ctx, name, digest); ok {
			return id, nil
		}
		return b.commitBase(ctx, name, digest, dir)
	case "debian":
		h, err := hashPath(b.debianTar)
		if err != nil {
			return "", fmt.Errorf("%w (run scripts/images.sh, which makes it with mmdebstrap)", err)
		}
		digest = h
		if id, ok := b.existing(ctx, name, digest); ok {
			return id, nil
		}
		return b.commitBase(ctx, name, digest, b.debianTar)
	}
	return "", fmt.Errorf("unknown base %q", kind)
}

// existing returns the id of image name if its input label matches digest.
func (b *builder) existing(ctx context.Context, name, digest string) (string, bool) {
	label, err := b.buildah(ctx, "inspect", "--type", "image", "--format", `{{index .ImageAnnotations "dev.intellidox.inputs"}}`, name)
	if err != nil || label != digest {
		return "", false
	}
	id, err := b.buildah(ctx, "inspect", "--type", "image", "--format", "{{.FromImageID}}", name)
	return id, err == nil
}

func (b *builder) commitBase(ctx context.Context, name, digest, content string) (string, error) {
	ctr, err := b.buildah(ctx, "from", "--pull=never", "scratch")
	if err != nil {
		return "", err
	}
	defer b.buildah(context.WithoutCancel(ctx), "rm", ctr)
	if _, err := b.buildah(ctx, "add", ctr, content, "/"); err != nil {
		return "", err
	}
	if _, err := b.buildah(ctx, "config", "--annotation", "dev.intellidox.inputs="+digest, ctr); err != nil {
		return "", err
	}
	if _, err := b.buildah(ctx, "commit", ctr, name); err != nil {
		return "", err
	}
	return b.buildah(ctx, "inspect", "--type", "image", "--format", "{{.FromImageID}}", name)
}

// staticRootfs writes what gcr.io/distroless/static's nonroot variant has
// and the apps need: users, CA certificates, /tmp and a home.
func staticRootfs(dir string) error {
	files := map[string]string{
		"etc/passwd":        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
		"etc/group":         "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
		"etc/nsswitch.conf": "hosts: files dns\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			return err
		}
	}
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		return fmt.Errorf("CA certificates: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "etc/ssl/certs"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/ssl/certs/ca-certificates.crt"), certs, 0o644); err != nil {
		return err
	}
	for _, d := range []struct {
		path string
		mode fs.FileMode
		uid  int
	}{{"tmp", 0o1777, 0}, {"home/nonroot", 0o700, 65532}, {"root", 0o700, 0}} {
		p := filepath.Join(dir, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return err
		}
		if err := os.Lchown(p, d.uid, d.uid); err != nil {
			return err
		}
	}
	return nil
}

// image builds one image unless its archive is up to date.
func (b *builder) image(ctx context.Context, s deploy.ImageSpec, baseID string) (bool, error) {
	stage, err := os.MkdirTemp("", "images-stage-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(stage)
	// Resolve every source to a local path, then hash the inputs.
	h := sha256.New()
	spec, _ := json.Marshal(s)
	version, err := b.label(s)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", spec, baseID, b.ref(s), version)
	srcs := make([]string, len(s.Files))
	for i, f := range s.Files {
		p, err := b.source(ctx, f.Src, filepath.Join(stage, strconv.Itoa(i)))
		if err != nil {
			return false, err
		}
		d, err := hashPath(p)
		if err != nil {
			return false, err
		}
		fmt.Fprintf(h, "%s %s\n", d, f.Dst)
		srcs[i] = p
	}
	inputs := hex.EncodeToString(h.Sum(nil))
	archive := filepath.Join(b.out, strings.ReplaceAll(s.Name, "/", "_")+".tar")
	if old, err := os.ReadFile(archive + ".inputs"); err == nil && string(old) == inputs {
		if _, err := os.Stat(archive); err == nil {
			return false, nil
		}
	}

	ctr, err := b.buildah(ctx, "from", "--pull=never", baseID)
	if err != nil {
		return false, err
	}
	defer b.buildah(context.WithoutCancel(ctx), "rm", ctr)
	for i, f := range s.Files {
		if _, err := b.buildah(ctx, "copy", "--chown", "0:0", ctr, srcs[i], f.Dst); err != nil {
			return false, err
		}
	}
	args := []string{"config", "--user", s.User,
		"--label", "org.opencontainers.image.version=" + version,
		"--label", "org.opencontainers.image.title=" + s.Name,
		"--label", "org.opencontainers.image.source=https://github.com/intellidox/intellidox"}
	if s.Workdir != "" {
		args = append(args, "--workingdir", s.Workdir)
	}
	for _, p := range s.Ports {
		args = append(args, "--port", fmt.Sprintf("%d/tcp", p))
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "--env", k+"="+s.Env[k])
	}
	ep, _ := json.Marshal(s.Entrypoint)
	if len(s.Entrypoint) == 0 {
		ep = []byte("[]")
	}
	cmd, _ := json.Marshal(s.Cmd)
	if len(s.Cmd) == 0 {
		cmd = []byte("[]")
	}
	args = append(args, "--entrypoint", string(ep), "--cmd", string(cmd), ctr)
	if _, err := b.buildah(ctx, args...); err != nil {
		return false, err
	}
	ref := b.ref(s)
	if _, err := b.buildah(ctx, "commit", "--rm", ctr, ref); err != nil {
		return false, err
	}
	tmp := archive + ".tmp"
	os.Remove(tmp)
	if _, err := b.buildah(ctx, "push", ref, "docker-archive:"+tmp+":"+ref); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, archive); err != nil {
		return false, err
	}
	return true, os.WriteFile(archive+".inputs", []byte(inputs), 0o644)
}

// label is s's org.opencontainers.image.version: its upstream version
// (deploy.ImageSpec.Version), or the commit for this repository's images.
func (b *builder) label(s deploy.ImageSpec) (string, error) {
	pkg, ok := strings.CutPrefix(s.Version, "deb:")
	switch {
	case s.Version == "":
		return b.version, nil
	case !ok:
		return s.Version, nil
	}
	if b.debs == nil {
		f, err := os.Open(b.debianTar)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if b.debs, err = debVersions(f); err != nil {
			return "", fmt.Errorf("%s: %w", b.debianTar, err)
		}
	}
	v, ok := b.debs[pkg]
	if !ok {
		return "", fmt.Errorf("%s: version %s: no such package in the Debian userland", s.Name, s.Version)
	}
	return v, nil
}

// debVersions reads var/lib/dpkg/status from a rootfs tarball: the version
// of every installed package.
func debVersions(r io.Reader) (map[string]string, error) {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, errors.New("no var/lib/dpkg/status")
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(hdr.Name, "./") != "var/lib/dpkg/status" {
			continue
		}
		versions := map[string]string{}
		var pkg string
		sc := bufio.NewScanner(tr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ": ")
			switch k {
			case "Package":
				pkg = v
			case "Version":
				versions[pkg] = v
			}
		}
		return versions, sc.Err()
	}
}

// source makes src available as a local path, building or installing it
// into dir when it is not a repository path.
func (b *builder) source(ctx context.Context, src, dir string) (string, error) {
	kind, arg, ok := strings.Cut(src, ":")
	if !ok {
		return filepath.Join(b.root, src), nil
	}
	switch kind {
	case "go":
		out := filepath.Join(dir, filepath.Base(arg))
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, arg)
		cmd.Dir, cmd.Env = b.root, append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %v\n%s", arg, err, o)
		}
		return out, nil
	case "bin":
		p := filepath.Join(b.root, "bin", "k8s", arg)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w (scripts/k8s-build.sh builds it)", src, err)
		}
		return filepath.EvalSymlinks(p)
	case "install":
		pkg, version, ok := strings.Cut(arg, "@")
		if !ok {
			return "", fmt.Errorf("%s: want install:<package>@<version>", src)
		}
		// -static: scripts/infra.sh caches a cgo build of the same version for
		// the host, which a static image cannot run.
		bin := filepath.Join(b.cache, filepath.Base(pkg)+"-"+version+"-static", filepath.Base(pkg))
		if _, err := os.Stat(bin); errors.Is(err, fs.ErrNotExist) {
			cmd := exec.CommandContext(ctx, "go", "install", arg)
			cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin), "CGO_ENABLED=0")
			if o, err := cmd.CombinedOutput(); err != nil {
				return "", fmt.Errorf("go install %s: %v\n%s", arg, err, o)
			}
		}
		return bin, nil
	}
	return "", fmt.Errorf("source %q: unknown kind %q", src, kind)
}

// hashPath hashes a file, or a directory's file names, modes and contents.
func hashPath(p string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, path)
		fmt.Fprintf(h, "%s %v\n", rel, info.Mode())
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
