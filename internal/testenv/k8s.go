package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
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
	"scanner-node-example": "scanner",
}

// clusterEnv serializes the tests that change the apps' environment: the
// cluster is shared, so such a test holds it alone until it ends.
var clusterEnv sync.RWMutex

// SetEnv sets env on the apps that read it, waits for their rollouts, and
// puts each container's environment back as it was when the test ends
// (values from Secrets included: DATABASE_URL is one). Which apps read a
// setting is what README.md's configuration table says (settingApps): a
// setting of the api's rolls the api alone, not every pod of the cluster.
func (c Cluster) SetEnv(t testing.TB, env map[string]string) {
	t.Helper()
	if len(env) == 0 {
		return
	}
	readme, err := os.ReadFile(filepath.Join(Root(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(env))
	set := map[string][]string{}
	saved := map[string]string{} // each container's env list as it was
	has := map[string]map[string]string{}
	for _, k := range keys {
		for _, d := range settingApps(readme, k) {
			if has[d] == nil {
				ctr := c.container(t, d, appContainers[d])
				saved[d], has[d] = string(ctr.Env), c.effectiveEnv(t, ctr)
			}
			if v, ok := has[d][k]; ok && v == env[k] {
				continue // the app has it already: no rollout for it
			}
			set[d] = append(set[d], k+"="+env[k])
		}
	}
	deploys := slices.Sorted(maps.Keys(set))
	if len(deploys) == 0 {
		t.Logf("k8s: every app has %v already", keys)
		return
	}
	t.Logf("k8s: setting %v on %v and waiting for the rollouts", keys, deploys)
	// The environment comes back even when a rollout below fails: a test
	// that ends there must not leave its settings to the tests after it.
	t.Cleanup(func() {
		for _, d := range deploys {
			c.MustRun(t, "patch", "deploy/"+d, "--type=json", "-p",
				fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/%d/env","value":%s}]`, c.containerIndex(t, d, appContainers[d]), saved[d]))
		}
		c.rollouts(t, deploys)
	})
	for _, d := range deploys {
		c.MustRun(t, append([]string{"set", "env", "deploy/" + d, "-c", appContainers[d]}, set[d]...)...)
	}
	c.rollouts(t, deploys)
}

// readers maps the second column of README.md's configuration table (who
// reads a setting) to the Deployments of deploy/overlays/local-k8s.
var readers = map[string][]string{
	"api":        {"api"},
	"extractor":  {"extractor"},
	"scanner":    {"scanner-clamav", "scanner-yara", "scanner-reputation", "scanner-node-example"},
	"clamav":     {"scanner-clamav"},
	"yara":       {"scanner-yara"},
	"reputation": {"scanner-reputation"},
}

// settingApps returns the Deployments whose app reads the setting key,
// from the configuration table of readme: the rows name their settings in
// backquotes in the first column and who reads them in the second. A
// setting the table does not name, or names for a reader other than
// those above ("all apps", a component), goes to every app.
func settingApps(readme []byte, key string) []string {
	all := slices.Sorted(maps.Keys(appContainers))
	for _, line := range strings.Split(string(readme), "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 4 || !strings.HasPrefix(strings.TrimSpace(cols[1]), "`") {
			continue
		}
		if !slices.Contains(settingNames.FindAllString(cols[1], -1), "`"+key+"`") {
			continue
		}
		var apps []string
		for _, r := range strings.Split(cols[2], ",") {
			d, ok := readers[strings.TrimSpace(r)]
			if !ok {
				return all
			}
			apps = append(apps, d...)
		}
		slices.Sort(apps)
		return slices.Compact(apps)
	}
	return all
}

var settingNames = regexp.MustCompile("`[A-Z][A-Z0-9_]*`")

// templateContainer is one container of a Deployment's pod template: its
// env list as JSON (to put back exactly) and what it gets from ConfigMaps.
type templateContainer struct {
	Name    string          `json:"name"`
	Env     json.RawMessage `json:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `json:"name"`
		} `json:"configMapRef"`
	} `json:"envFrom"`
}

// container reads one container of a Deployment's pod template.
func (c Cluster) container(t testing.TB, deploy, name string) templateContainer {
	t.Helper()
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []templateContainer `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	require.NoError(t, json.Unmarshal([]byte(c.MustRun(t, "get", "deploy/"+deploy, "-o", "json")), &d), "deploy/%s", deploy)
	for _, ctr := range d.Spec.Template.Spec.Containers {
		if ctr.Name == name {
			if len(ctr.Env) == 0 {
				ctr.Env = json.RawMessage("[]")
			}
			return ctr
		}
	}
	t.Fatalf("deploy/%s has no container %s", deploy, name)
	return templateContainer{}
}

// effectiveEnv is the environment ctr gets from its ConfigMaps (envFrom)
// and literal values (env); a variable from a Secret or a field is left
// out, so never taken as equal.
func (c Cluster) effectiveEnv(t testing.TB, ctr templateContainer) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, from := range ctr.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		var cm struct {
			Data map[string]string `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(c.MustRun(t, "get", "configmap", from.ConfigMapRef.Name, "-o", "json")), &cm))
		maps.Copy(out, cm.Data)
	}
	var env []struct {
		Name      string          `json:"name"`
		Value     string          `json:"value"`
		ValueFrom json.RawMessage `json:"valueFrom"`
	}
	require.NoError(t, json.Unmarshal(ctr.Env, &env))
	for _, e := range env {
		if len(e.ValueFrom) > 0 {
			delete(out, e.Name)
		} else {
			out[e.Name] = e.Value
		}
	}
	return out
}

func (c Cluster) containerIndex(t testing.TB, deploy, container string) int {
	t.Helper()
	names := strings.Fields(c.MustRun(t, "get", "deploy/"+deploy, "-o", "jsonpath={.spec.template.spec.containers[*].name}"))
	i := slices.Index(names, container)
	if i < 0 {
		t.Fatalf("deploy/%s has no container %s (%v)", deploy, container, names)
	}
	return i
}

// rollouts waits until the rollouts of deploys are complete and the pods
// they replaced are gone: a terminating pod's sidecar may still take events
// from the topics, and would handle them with the old settings.
func (c Cluster) rollouts(t testing.TB, deploys []string) {
	t.Helper()
	for _, d := range deploys {
		c.MustRun(t, "rollout", "status", "deploy/"+d, "--timeout", "5m")
	}
	require.Eventually(t, func() bool {
		out, err := c.Run(context.Background(), "get", "pods", "-o",
			`jsonpath={range .items[?(@.metadata.deletionTimestamp)]}{.metadata.name}{" "}{end}`)
		return err == nil && strings.TrimSpace(out) == ""
	}, 3*time.Minute, 500*time.Millisecond, "k8s: pods still terminating after 3 minutes")
}

// LivePods returns app's pods that are ready and not being deleted (a
// terminating pod is still "Running"); none when kubectl fails, so that
// a poll (require.Eventually, whose condition runs on another goroutine)
// asks again.
func (c Cluster) LivePods(app string) []string {
	out, err := c.Run(context.Background(), "get", "pods", "-l", "app.kubernetes.io/name="+app, "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\n"}{end}`)
	if err != nil {
		return nil
	}
	var pods []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == "True" { // ready, no deletion time
			pods = append(pods, f[0])
		}
	}
	return pods
}

// inClusterDB is how pods reach the cluster's PostgreSQL (the Secret
// intellidox-database of scripts/k8s-deploy.sh names the same server).
const inClusterDB = "postgres://postgres@postgres.intellidox.svc.cluster.local:5432/"

// startK8sStack returns the cluster's deployment as a Stack. StackOptions
// map onto it: Env is set on every app (a rollout, undone at the end),
// DatabaseURL (a database of ClusterDatabase's) becomes the api's
// DATABASE_URL the same way, and Apps is satisfied by the whole
// deployment, which runs every app.
func startK8sStack(t testing.TB, opts StackOptions) *Stack {
	t.Helper()
	if opts.ConfigFile != "" || len(opts.ResourcesPaths) > 0 || opts.Redis != "" {
		t.Fatalf("E2E_PROFILE=k8s: this test needs a private stack (its own Configuration, components or Redis), which the shared cluster cannot give it")
	}
	c := K8s(t)
	env := maps.Clone(opts.Env)
	if opts.DatabaseURL != "" {
		if env == nil {
			env = map[string]string{}
		}
		env["DATABASE_URL"] = withDB(inClusterDB+"x?sslmode=disable", dbName(opts.DatabaseURL))
	}
	if len(env) > 0 || opts.Zipkin != "" {
		clusterEnv.Lock()
		t.Cleanup(clusterEnv.Unlock)
		c.SetEnv(t, env)
		c.traceTo(t, opts.Zipkin)
	} else {
		clusterEnv.RLock()
		t.Cleanup(clusterEnv.RUnlock)
	}
	s := &Stack{
		API: fmt.Sprintf("http://%s:30080", c.NodeIP),
		S3: S3{Endpoint: fmt.Sprintf("http://%s:30070", c.NodeIP), Bucket: "intellidox",
			AccessKey: c.Secret(t, "intellidox-s3", "accessKey"), SecretKey: c.Secret(t, "intellidox-s3", "secretKey")},
		DaprToken: c.Secret(t, "intellidox-dapr-api-token", "token"),
		cluster:   &c,
	}
	s.DB = opts.DatabaseURL
	if s.DB == "" {
		s.DB = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/intellidox?sslmode=disable", c.PortForward(t, "svc/postgres", 5432))
	}
	s.Redis = fmt.Sprintf("127.0.0.1:%d", c.PortForward(t, "svc/redis", 6379))
	s.DaprHTTP = fmt.Sprintf("http://127.0.0.1:%d", c.PortForward(t, "deploy/api", 3500))
	s.APIDapr = s.DaprHTTP + invokePrefix
	if APIContract != nil {
		s.API = APIContract.Proxy(t, s.API, "")
		s.APIDapr = APIContract.Proxy(t, s.DaprHTTP, invokePrefix) + invokePrefix
	}
	s.Tenant = "default"
	if opts.DatabaseURL == "" { // the shared database: a tenant of the test's own
		s.Tenant = "t-" + randomHex(6)
	}
	s.APIKey = s.createKey(t, s.Tenant, true)
	return s
}

// dbName is the database a PostgreSQL URL names.
func dbName(url string) string {
	name := url[strings.LastIndex(url, "/")+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	return name
}

// ClusterDatabase is a database of the test's own on the cluster's
// PostgreSQL, reached from here through a port-forward; StartStack's
// DatabaseURL maps it to the in-cluster address for the api.
func ClusterDatabase(t testing.TB) *ClusterDB {
	t.Helper()
	c := K8s(t)
	db := &ClusterDB{admin: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.PortForward(t, "svc/postgres", 5432))}
	db.name = "idx_" + randomHex(8)
	db.exec(t, "CREATE DATABASE "+db.name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = db.run(ctx, "DROP DATABASE IF EXISTS "+db.name+" WITH (FORCE)")
	})
	db.URL = withDB(db.admin, db.name)
	return db
}

// ClusterDB is a database of ClusterDatabase's.
type ClusterDB struct {
	URL   string
	admin string
	name  string
}

// Stop makes the database unavailable as a stopped server is to its
// clients: new connections are refused and open ones are ended.
func (db *ClusterDB) Stop(t testing.TB) {
	t.Helper()
	db.exec(t, "ALTER DATABASE "+db.name+" WITH ALLOW_CONNECTIONS false")
	db.exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+db.name+"'")
}

// Start makes it available again.
func (db *ClusterDB) Start(t testing.TB) {
	t.Helper()
	db.exec(t, "ALTER DATABASE "+db.name+" WITH ALLOW_CONNECTIONS true")
}

func (db *ClusterDB) exec(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.run(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (db *ClusterDB) run(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, db.admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// StoppableDatabase is a database a test may take away from the api and
// give back.
type StoppableDatabase interface {
	Stop(testing.TB)
	Start(testing.TB)
}

// OwnDatabase returns the URL of a database of the test's own that it may
// stop: locally a database on a throwaway server, which stopping stops; on
// the k8s profile one on the cluster's server, which stopping closes to
// every connection. Pass the URL as StackOptions.DatabaseURL.
func OwnDatabase(t testing.TB) (string, StoppableDatabase) {
	t.Helper()
	if Profile() == "k8s" {
		db := ClusterDatabase(t)
		return db.URL, db
	}
	pg := StartPostgres(t)
	return pg.Database(t, "intellidox"), pg
}

// FreshDatabase returns the URL of a new, empty database for a stack
// (StackOptions.DatabaseURL), for tests that count rows: every profile's
// stack then starts from nothing, the cluster's shared one included.
func FreshDatabase(t testing.TB) string {
	t.Helper()
	if Profile() == "k8s" {
		return ClusterDatabase(t).URL
	}
	return Database(t, nil, nil)
}

// apps lists the Deployments whose pods get a Dapr sidecar, with each
// app's port; the project's scanner images are metered.
func (c Cluster) apps(t testing.TB) []App {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Template struct {
					Metadata struct {
						Annotations map[string]string `json:"annotations"`
					} `json:"metadata"`
					Spec struct {
						Containers []struct {
							Image string `json:"image"`
						} `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.MustRun(t, "get", "deploy", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	var apps []App
	for _, d := range list.Items {
		ann := d.Spec.Template.Metadata.Annotations
		id := ann["dapr.io/app-id"]
		if ann["dapr.io/enabled"] != "true" || id == "" {
			continue
		}
		a := App{ID: id, target: "deploy/" + d.Metadata.Name}
		fmt.Sscan(ann["dapr.io/app-port"], &a.port)
		for _, ctr := range d.Spec.Template.Spec.Containers {
			// localhost/intellidox/scanner and scanner-yara hold the
			// project's scanner binary; node-scanner is the example.
			name := ctr.Image[strings.LastIndexByte(ctr.Image, '/')+1:]
			if a.Scanner() && strings.HasPrefix(name, "scanner") {
				a.Metered = true
			}
		}
		apps = append(apps, a)
	}
	slices.SortFunc(apps, func(a, b App) int { return strings.Compare(a.ID, b.ID) })
	return apps
}

// replica scales appID's Deployment to two pods, points s.API at the
// first one and returns local ports that reach the second one's app and
// sidecar, each through its own port-forward; the scale is undone when the
// test ends. Only the api has replicas in the suite, on port 8080.
func (c Cluster) replica(t testing.TB, s *Stack, appID string) (appPort, daprHTTPPort int) {
	t.Helper()
	if appID != "api" {
		t.Fatalf("k8s: replicas of %s are not supported by the suite", appID)
	}
	c.MustRun(t, "scale", "deploy/"+appID, "--replicas=2")
	t.Cleanup(func() {
		c.MustRun(t, "scale", "deploy/"+appID, "--replicas=1")
		c.MustRun(t, "rollout", "status", "deploy/"+appID, "--timeout", "5m")
	})
	c.MustRun(t, "rollout", "status", "deploy/"+appID, "--timeout", "5m")
	var pods []string
	require.Eventually(t, func() bool {
		pods = c.LivePods(appID)
		return len(pods) == 2
	}, 3*time.Minute, time.Second, "k8s: deploy/%s never had two ready pods", appID)
	first := fmt.Sprintf("http://127.0.0.1:%d", c.PortForward(t, "pod/"+pods[0], 8080))
	if APIContract != nil {
		first = APIContract.Proxy(t, first, "")
	}
	s.API = first
	return c.PortForward(t, "pod/"+pods[1], 8080), c.PortForward(t, "pod/"+pods[1], 3500)
}

// PodListeners are the sockets listening in one pod's network namespace.
type PodListeners struct {
	Pod string
	// Declared are the container ports of the pod's spec, the injected
	// daprd's included.
	Declared []int
	// Sockets are ss's "proto address:port" of each listening socket.
	Sockets []string
}

// Listeners lists, for every pod with a Dapr sidecar, the sockets listening
// in its network namespace: ss runs inside it (nsenter, as root, on the
// node this machine is), found through the pod's cgroup.
func (c Cluster) Listeners(t testing.TB) []PodListeners {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Name              string            `json:"name"`
				UID               string            `json:"uid"`
				Annotations       map[string]string `json:"annotations"`
				DeletionTimestamp *string           `json:"deletionTimestamp"`
			} `json:"metadata"`
			Spec struct {
				Containers []struct {
					Ports []struct {
						ContainerPort int `json:"containerPort"`
					} `json:"ports"`
					LivenessProbe  *probe `json:"livenessProbe"`
					ReadinessProbe *probe `json:"readinessProbe"`
					StartupProbe   *probe `json:"startupProbe"`
				} `json:"containers"`
			} `json:"spec"`
			Status struct {
				Phase string `json:"phase"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.MustRun(t, "get", "pods", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	var out []PodListeners
	for _, p := range list.Items {
		if p.Metadata.Annotations["dapr.io/enabled"] != "true" || p.Status.Phase != "Running" || p.Metadata.DeletionTimestamp != nil {
			continue
		}
		pl := PodListeners{Pod: p.Metadata.Name}
		for _, ctr := range p.Spec.Containers {
			for _, port := range ctr.Ports {
				pl.Declared = append(pl.Declared, port.ContainerPort)
			}
			// The kubelet probes the pod's address: a probed port is
			// declared too (daprd's health port, 3501, is one).
			for _, pr := range []*probe{ctr.LivenessProbe, ctr.ReadinessProbe, ctr.StartupProbe} {
				if port := pr.number(); port > 0 {
					pl.Declared = append(pl.Declared, port)
				}
			}
		}
		pid := podPID(t, p.Metadata.UID)
		ss, err := exec.Command("nsenter", "-t", pid, "-n", "ss", "-H", "-lntu").CombinedOutput()
		if err != nil {
			t.Fatalf("ss in pod %s: %v\n%s", p.Metadata.Name, err, ss)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(ss)), "\n") {
			if f := strings.Fields(line); len(f) >= 5 {
				pl.Sockets = append(pl.Sockets, f[0]+" "+f[4])
			}
		}
		out = append(out, pl)
	}
	return out
}

// probe is the part of a container probe that names a port: a number, or
// a name that the container's ports resolve (the suite needs numbers only:
// named ports are declared container ports already).
type probe struct {
	HTTPGet *struct {
		Port json.RawMessage `json:"port"`
	} `json:"httpGet"`
	TCPSocket *struct {
		Port json.RawMessage `json:"port"`
	} `json:"tcpSocket"`
}

func (p *probe) number() int {
	if p == nil {
		return 0
	}
	var raw json.RawMessage
	switch {
	case p.HTTPGet != nil:
		raw = p.HTTPGet.Port
	case p.TCPSocket != nil:
		raw = p.TCPSocket.Port
	}
	var n int
	if json.Unmarshal(raw, &n) != nil {
		return 0
	}
	return n
}

// killPod sends SIGKILL, from the node, to the processes of every container
// of app's pod (the app and its daprd) and waits until the kubelet has
// restarted them all and the pod is ready again.
func (c Cluster) killPod(t testing.TB, app string) {
	t.Helper()
	var pod string
	require.Eventually(t, func() bool {
		live := c.LivePods(app)
		if len(live) == 1 {
			pod = live[0]
		}
		return pod != ""
	}, 2*time.Minute, 250*time.Millisecond, "k8s: one live pod of %s", app)
	// The app's container and daprd's, which the injector may add as a
	// native sidecar (an init container that keeps running).
	type containerStatus struct {
		ContainerID  string          `json:"containerID"`
		RestartCount int             `json:"restartCount"`
		Ready        bool            `json:"ready"`
		State        json.RawMessage `json:"state"`
	}
	status := func() (uid string, restarts int, running []string, ready bool) {
		var p struct {
			Metadata struct {
				UID string `json:"uid"`
			} `json:"metadata"`
			Status struct {
				Conditions []struct {
					Type   string `json:"type"`
					Status string `json:"status"`
				} `json:"conditions"`
				InitContainerStatuses []containerStatus `json:"initContainerStatuses"`
				ContainerStatuses     []containerStatus `json:"containerStatuses"`
			} `json:"status"`
		}
		require.NoError(t, json.Unmarshal([]byte(c.MustRun(t, "get", "pod", pod, "-o", "json")), &p))
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			restarts += cs.RestartCount
			if strings.Contains(string(cs.State), `"running"`) {
				running = append(running, strings.TrimPrefix(cs.ContainerID, "containerd://"))
			}
		}
		for _, cond := range p.Status.Conditions {
			ready = ready || cond.Type == "Ready" && cond.Status == "True"
		}
		return p.Metadata.UID, restarts, running, ready
	}
	uid, before, ids, _ := status()
	killedIDs := 0
	for _, id := range ids {
		killed := 0
		for _, pid := range cgroupPIDs(uid, id) {
			n, err := strconv.Atoi(pid)
			require.NoError(t, err)
			if syscall.Kill(n, syscall.SIGKILL) == nil {
				killed++
			}
		}
		if killed > 0 {
			killedIDs++
		}
	}
	require.GreaterOrEqual(t, killedIDs, 2, "k8s: SIGKILL to the app and daprd of pod %s (running containers %v)", pod, ids)
	t.Logf("k8s: killed the %d running containers of pod %s (SIGKILL)", killedIDs, pod)
	require.Eventually(t, func() bool {
		_, restarts, _, ready := status()
		return ready && restarts >= before+killedIDs
	}, 3*time.Minute, 250*time.Millisecond, "k8s: pod %s restarted and ready", pod)
}

// podPID returns a process of the pod with this UID (the kubelet's
// cgroupfs hierarchy names pods pod<UID>).
func podPID(t testing.TB, uid string) string {
	t.Helper()
	if pids := cgroupPIDs(uid, "*"); len(pids) > 0 {
		return pids[0]
	}
	t.Fatalf("no process of pod %s under /sys/fs/cgroup/memory/kubepods", uid)
	return ""
}

// cgroupPIDs lists the processes of the pod with this UID, in its
// container (a containerd id, or "*" for any), from the kubelet's cgroups
// (cgroupfs; the pod's directory is under its QoS class unless Guaranteed).
func cgroupPIDs(uid, container string) []string {
	var pids []string
	for _, pattern := range []string{
		"/sys/fs/cgroup/memory/kubepods/pod" + uid + "/" + container + "/cgroup.procs",
		"/sys/fs/cgroup/memory/kubepods/*/pod" + uid + "/" + container + "/cgroup.procs",
	} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				pids = append(pids, strings.Fields(string(b))...)
			}
		}
	}
	return pids
}

// traceTo points the cluster's Dapr Configuration at a Zipkin endpoint,
// sampling every request, and restarts the apps so that their sidecars
// read it; the tracing settings and the apps come back when the test ends.
func (c Cluster) traceTo(t testing.TB, zipkin string) {
	t.Helper()
	if zipkin == "" {
		return
	}
	saved := c.MustRun(t, "get", "configuration.dapr.io/intellidox", "-o", "jsonpath={.spec.tracing}")
	set := func(tracing string) {
		c.MustRun(t, "patch", "configuration.dapr.io/intellidox", "--type=json", "-p",
			`[{"op":"replace","path":"/spec/tracing","value":`+tracing+`}]`)
		all := slices.Sorted(maps.Keys(appContainers))
		for _, d := range all {
			c.MustRun(t, "rollout", "restart", "deploy/"+d)
		}
		c.rollouts(t, all)
	}
	b, _ := json.Marshal(map[string]any{"samplingRate": "1", "zipkin": map[string]string{"endpointAddress": zipkin}})
	t.Logf("k8s: sidecars export spans to %s", zipkin)
	set(string(b))
	t.Cleanup(func() { set(saved) })
}

// CollectorHost is the address a test's own server listens on to receive
// what the sidecars send it (spans): the loopback locally, the node's
// address on the k8s profile, which the pods reach.
func CollectorHost() string {
	if Profile() == "k8s" {
		return "10.88.0.1"
	}
	return "127.0.0.1"
}
