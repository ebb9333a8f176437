package testenv

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Cluster is IntelliDox as deploy/overlays/local-k8s runs it on the
// single-node cluster of scripts/k8s.sh (E2E_PROFILE=k8s): real pods,
// injected sidecars, the Dapr control plane. The host reaches the api and
// versitygw through NodePorts on the node address, and everything else
// through `kubectl port-forward` on 127.0.0.1.
type Cluster struct {
	Kubectl    string
	Kubeconfig string
	Namespace  string
	NodeIP     string
}

// K8s returns the cluster the k8s profile runs against: K8S_KUBECONFIG
// (default: the one scripts/k8s.sh writes) and bin/k8s/kubectl.
func K8s(t testing.TB) Cluster {
	t.Helper()
	c := Cluster{
		Kubectl:    filepath.Join(Root(), "bin", "k8s", "kubectl"),
		Kubeconfig: os.Getenv("K8S_KUBECONFIG"),
		Namespace:  "intellidox",
		NodeIP:     "10.88.0.1",
	}
	if c.Kubeconfig == "" {
		c.Kubeconfig = "/var/lib/intellidox-k8s/pki/admin.kubeconfig"
	}
	if _, err := os.Stat(c.Kubeconfig); err != nil {
		t.Fatalf("E2E_PROFILE=k8s: no cluster (%v); `make k8s-up k8s-deploy` starts one", err)
	}
	return c
}

// Run runs kubectl in the IntelliDox namespace and returns its output.
func (c Cluster) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Kubectl, append([]string{"--kubeconfig", c.Kubeconfig, "-n", c.Namespace}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error.
func (c Cluster) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := c.Run(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Secret returns one key of a Secret in the namespace.
func (c Cluster) Secret(t testing.TB, name, key string) string {
	t.Helper()
	v := c.MustRun(t, "get", "secret", name, "-o", "jsonpath={.data."+key+"}")
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatalf("secret %s/%s: %v", name, key, err)
	}
	return string(b)
}

var forwarded = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)

// PortForward forwards a free port on 127.0.0.1 to target's remotePort
// (target as kubectl names it: svc/postgres, pod/api-…) until the test
// ends, and returns the local port.
func (c Cluster) PortForward(t testing.TB, target string, remotePort int) int {
	t.Helper()
	cmd := exec.Command(c.Kubectl, "--kubeconfig", c.Kubeconfig, "-n", c.Namespace,
		"port-forward", "--address", "127.0.0.1", target, fmt.Sprintf(":%d", remotePort))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	port := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := forwarded.FindStringSubmatch(sc.Text()); m != nil {
				var p int
				fmt.Sscan(m[1], &p)
				select {
				case port <- p:
				default:
				}
			}
		}
	}()
	select {
	case p := <-port:
		return p
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward %s %d: no port after 30 s", target, remotePort)
		return 0
	}
}

// appContainers are the IntelliDox app containers per Deployment, where
// StackOptions.Env goes on the k8s profile.
var appContainers = map[string]string{
	"api": "api", "extractor": "extractor",
	"scanner-clamav": "scanner", "scanner-yara": "scanner", "scanner-reputation": "scanner",
}

// clusterEnv serializes the tests that change the apps' environment: the
// cluster is shared, so such a test holds it alone until it ends.
var clusterEnv sync.RWMutex

// SetEnv sets env on every app's container, waits for the rollouts, and
// restores the previous values when the test ends.
func (c Cluster) SetEnv(t testing.TB, env map[string]string) {
	t.Helper()
	if len(env) == 0 {
		return
	}
	keys := slices.Sorted(maps.Keys(env))
	var set, unset []string
	for _, k := range keys {
		set = append(set, k+"="+env[k])
		unset = append(unset, k+"-")
	}
	apply := func(pairs []string) {
		for d, ctr := range appContainers {
			c.MustRun(t, append([]string{"set", "env", "deploy/" + d, "-c", ctr}, pairs...)...)
		}
		for d := range appContainers {
			c.MustRun(t, "rollout", "status", "deploy/"+d, "--timeout", "5m")
		}
	}
	t.Logf("k8s: setting %v on every app and waiting for the rollouts", keys)
	apply(set)
	t.Cleanup(func() { apply(unset) })
}

// startK8sStack returns the cluster's deployment as a Stack.
func startK8sStack(t testing.TB, opts StackOptions) *Stack {
	t.Helper()
	if opts.ConfigFile != "" || len(opts.ResourcesPaths) > 0 || len(opts.Apps) > 0 || opts.Redis != "" || opts.DatabaseURL != "" {
		t.Fatalf("E2E_PROFILE=k8s: this test needs a private stack (its own Configuration, components, apps, Redis or database), which the shared cluster cannot give it")
	}
	c := K8s(t)
	if len(opts.Env) > 0 {
		clusterEnv.Lock()
		t.Cleanup(clusterEnv.Unlock)
		c.SetEnv(t, opts.Env)
	} else {
		clusterEnv.RLock()
		t.Cleanup(clusterEnv.RUnlock)
	}
	s := &Stack{
		API: fmt.Sprintf("http://%s:30080", c.NodeIP),
		S3: S3{Endpoint: fmt.Sprintf("http://%s:30070", c.NodeIP), Bucket: "intellidox",
			AccessKey: c.Secret(t, "intellidox-s3", "accessKey"), SecretKey: c.Secret(t, "intellidox-s3", "secretKey")},
		DaprToken: c.Secret(t, "intellidox-dapr-api-token", "token"),
	}
	s.DB = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/intellidox?sslmode=disable", c.PortForward(t, "svc/postgres", 5432))
	s.Redis = fmt.Sprintf("127.0.0.1:%d", c.PortForward(t, "svc/redis", 6379))
	s.APIDapr = fmt.Sprintf("http://127.0.0.1:%d/v1.0/invoke/api/method", c.PortForward(t, "deploy/api", 3500))
	s.APIKey = s.createKey(t, "default", true)
	return s
}

// createKey makes an API key with the api's admin command against s.DB.
func (s *Stack) createKey(t testing.TB, tenant string, admin bool) string {
	t.Helper()
	args := []string{"keys", "create", "--tenant", tenant, "--name", t.Name()}
	if admin {
		args = append(args, "--admin")
	}
	cmd := exec.Command(filepath.Join(Binaries(t), "api"), args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+s.DB)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("api keys create: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}
