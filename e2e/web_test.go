package e2e

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/intellidox/intellidox/internal/testenv"
)

// TestWebApp drives the web app in Debian's Chromium (playwright-core)
// against the whole stack, the app served by the api from web/dist: a clean
// file and EICAR uploaded together, progress, live engine results, verdicts,
// known content, details, rescan, history and a 360 px window. The script
// prints the in-browser hashing time and upload throughput for 100 MB.
//
// Screenshots go to $WEB_SCREENSHOT_DIR, or web/e2e/screenshots.
func TestWebApp(t *testing.T) {
	if testing.Short() {
		testenv.SkipRequired(t, "browser test skipped in -short mode")
	}
	root := testenv.Root()
	web := filepath.Join(root, "web")
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is needed at %s (apt-get install -y chromium): %v", chromium, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed for the browser test (Node 20 or later)")
	}
	buildWeb(t, web)

	// The stack's logs, printed when a test fails, come after the script's
	// lines; its failures are said again after them (this cleanup, added
	// before the stack's, runs after it), so that the end of the output,
	// where CI's excerpt looks, names what failed.
	var failed []string
	t.Cleanup(func() {
		if t.Failed() && len(failed) > 0 {
			t.Logf("the browser test's failures again, after the stack's logs:\n%s", strings.Join(failed, "\n"))
		}
	})

	env := map[string]string{"WEB_DIR": filepath.Join(web, "dist")}
	if testenv.Profile() == "k8s" {
		env = nil // the api image serves its own build of web/dist (deploy/images.yaml)
	}
	stack := testenv.StartStack(t, testenv.StackOptions{Env: env})

	shots := os.Getenv("WEB_SCREENSHOT_DIR")
	if shots == "" {
		shots = filepath.Join(web, "e2e", "screenshots")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(web, "e2e", "upload.mjs"))
	cmd.Dir = web
	// versitygw, like S3, answers a download with the Content-Disposition
	// signed into its URL; moto ignores such overrides, so there the browser
	// cannot see a download, only the request that asks for one.
	disposition := "1"
	if testenv.Profile() == "aws" {
		disposition = "0"
	}
	cmd.Env = append(os.Environ(), "BASE_URL="+stack.API, "API_KEY="+stack.APIKey, "SCREENSHOT_DIR="+shots, "CHROMIUM="+chromium,
		"STORAGE_SETS_DISPOSITION="+disposition)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		if strings.Contains(line, "FAIL") || strings.HasPrefix(line, " - ") || strings.Contains(line, "upload.mjs:") {
			failed = append(failed, line)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser test failed: %v (screenshots in %s)", err, shots)
	}
}

// buildWeb runs `npm ci` when node_modules is missing and `npm run build`
// when web/dist is missing or older than any source of the app.
func buildWeb(t *testing.T, web string) {
	t.Helper()
	npm := func(args ...string) {
		t.Helper()
		start := time.Now()
		cmd := exec.Command("npm", args...)
		cmd.Dir = web
		cmd.Env = append(os.Environ(), "npm_config_fund=false", "npm_config_audit=false", "npm_config_update_notifier=false")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		t.Logf("npm %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	}
	if _, err := os.Stat(filepath.Join(web, "node_modules")); err != nil {
		npm("ci")
	}
	built, err := os.Stat(filepath.Join(web, "dist", "index.html"))
	if err == nil && !newerThan(t, web, built.ModTime()) {
		return
	}
	npm("run", "build")
}

// newerThan reports whether any source of the web app changed after since.
func newerThan(t *testing.T, web string, since time.Time) bool {
	t.Helper()
	for _, name := range []string{"index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json"} {
		if fi, err := os.Stat(filepath.Join(web, name)); err == nil && fi.ModTime().After(since) {
			return true
		}
	}
	newer := false
	err := filepath.WalkDir(filepath.Join(web, "src"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil && fi.ModTime().After(since) {
			newer = true
			return fs.SkipAll
		}
		return err
	})
	if err != nil {
		t.Fatalf("walk web/src: %v", err)
	}
	return newer
}
