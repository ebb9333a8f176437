package testenv

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/intellidox/intellidox/internal/auth"
	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/launch"
)

// Stack is the whole IntelliDox pipeline on real sidecars, with private
// ports, Redis, bucket and database.
type Stack struct {
	API     string // base URL of the api, direct
	APIDapr string // base URL of the api through its sidecar's service invocation
	// DaprHTTP is the api sidecar's HTTP API, direct (publish, state); API
	// and APIDapr go through APIContract's proxy when it is set.
	DaprHTTP string
	APIKey   string // an administrator key of tenant Tenant
	// Tenant is APIKey's tenant: "default", or on the k8s profile, whose
	// database outlives the test, a tenant of the test's own, so that
	// every test starts with no files as on a fresh database.
	Tenant string
	// DaprToken is the api sidecar's API token: calls to APIDapr send it as
	// the dapr-api-token header.
	DaprToken string
	S3        S3
	DB        string
	Redis     string
	Launched  *launch.Stack
	LogPath   string

	runFile *launch.RunFile
	opts    launch.Options
	cluster *Cluster // the k8s profile's

	mu       sync.Mutex
	forwards map[string]int // the k8s profile's port-forwards to apps, by target and port
}

// StackOptions adjust a stack.
type StackOptions struct {
	Env            map[string]string // extra environment for every app (and, as exported variables, every sidecar)
	ResourcesPaths []string          // replaces components/local
	Redis          string            // use this Redis instead of a private one
	DatabaseURL    string            // use this database instead of a fresh one on the shared server
	ConfigFile     string            // Dapr Configuration for every sidecar instead of components/config.yaml
	Apps           []string          // start only these app-ids of dapr.yaml; every app when empty
	// Zipkin exports every sidecar's spans, every request sampled, to this
	// Zipkin v2 endpoint (on CollectorHost).
	Zipkin string
	// StorageEvents creates the bucket Protected and sends the api the
	// event notifications of objects created in it, as each profile does:
	// versitygw → NATS JetStream (a private nats-server) on local, S3 →
	// SNS → SQS on aws (docs/storage-events.md).
	StorageEvents bool
}

// Protected is the bucket StackOptions.StorageEvents creates.
const Protected = "protected"

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Binaries builds the apps once per test binary and returns their directory.
func Binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "intellidox-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", buildDir+"/", "./apps/api", "./apps/extractor", "./apps/scanner")
		cmd.Dir = Root()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// StartStack starts every app of dapr.yaml beside its own daprd.
func StartStack(t testing.TB, opts StackOptions) *Stack {
	t.Helper()
	if Profile() == "k8s" {
		return startK8sStack(t, opts)
	}
	root := Root()
	daprd, err := launch.FindDaprd(root)
	if err != nil {
		t.Fatalf("%v", err)
	}
	bins := Binaries(t)
	rf, err := launch.Load(filepath.Join(root, "dapr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Apps) > 0 {
		rf.Apps = slices.DeleteFunc(rf.Apps, func(a launch.App) bool { return !slices.Contains(opts.Apps, a.AppID) })
	}
	s := &Stack{Redis: opts.Redis, DB: opts.DatabaseURL, Tenant: "default"}
	if s.DB == "" {
		s.DB = Database(t, nil, nil)
	}
	s.APIKey = auth.NewKey()
	// appEnv is what the run file's env gets (the apps only); shellEnv is
	// what the launcher's environment gets, which daprd inherits too, as
	// variables exported before `dapr run -f` would be.
	appEnv := map[string]string{
		"DATABASE_URL":      s.DB,
		"CLAMD_ADDR":        ClamdAddr(t),
		"LOG_LEVEL":         "debug",
		"BOOTSTRAP_API_KEY": s.APIKey,
		// dapr.yaml protects a bucket for `make run`; a test stack protects
		// what its test says (StorageEvents, PROTECTED_BUCKETS in Env).
		"PROTECTED_BUCKETS": "",
	}
	shellEnv := map[string]string{"DAPRD": daprd}
	switch Profile() {
	case "aws":
		// components/aws against the emulator: the profile supplies only
		// endpoints and credentials, from the environment like the AWS
		// credential chain.
		emu := StartAWSEmulator(t)
		s.S3 = emu.S3()
		if opts.StorageEvents {
			emu.NotifyStorageEvents(t, Protected)
		}
		maps.Copy(appEnv, emu.Env())
		maps.Copy(shellEnv, emu.Env())
		if len(opts.ResourcesPaths) == 0 {
			opts.ResourcesPaths = []string{filepath.Join(root, "components", "aws")}
		}
	case "local":
		if s.Redis == "" {
			s.Redis = Redis(t)
		}
		set := map[string]map[string]string{}
		if opts.StorageEvents {
			nats := StartStorageEvents(t)
			s.S3 = StartS3Events(t, nats, "*")
			set["storage"] = map[string]string{"natsURL": "nats://" + nats}
			if _, err := S3Client(t, s.S3).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(Protected)}); err != nil {
				t.Fatalf("create bucket %s: %v", Protected, err)
			}
		} else {
			s.S3 = StartS3(t, "*")
		}
		maps.Copy(appEnv, map[string]string{
			"REDIS_ADDR":            s.Redis,
			"S3_ENDPOINT":           s.S3.Endpoint,
			"S3_BUCKET":             s.S3.Bucket,
			"AWS_ACCESS_KEY_ID":     s.S3.AccessKey,
			"AWS_SECRET_ACCESS_KEY": s.S3.SecretKey,
		})
		if len(opts.ResourcesPaths) == 0 {
			redis := map[string]string{"redisHost": s.Redis}
			maps.Copy(set, map[string]map[string]string{
				"events": redis, "live": redis, "scanresults": redis,
				"blobstore": {"endpoint": s.S3.Endpoint, "bucket": s.S3.Bucket,
					"accessKey": s.S3.AccessKey, "secretKey": s.S3.SecretKey},
			})
			opts.ResourcesPaths = []string{LocalComponents(t, set)}
		}
	default:
		t.Fatalf("E2E_PROFILE=%q: want local, aws or k8s", Profile())
	}
	maps.Copy(appEnv, opts.Env)
	maps.Copy(shellEnv, opts.Env)
	if opts.Zipkin != "" {
		opts.ConfigFile = zipkinConfig(t, opts.Zipkin)
	}
	for i := range rf.Apps {
		a := &rf.Apps[i]
		if strings.HasPrefix(a.Command[0], "../../bin/") { // the project's binaries, built for this test run
			a.Command = append([]string{filepath.Join(bins, filepath.Base(a.Command[0]))}, a.Command[1:]...)
		}
		if opts.ConfigFile != "" {
			a.ConfigFilePath = opts.ConfigFile
		}
		a.ResourcesPaths = opts.ResourcesPaths
		maps.Copy(a.Env, appEnv)
		// Everything into the stack's log, none into the repository's
		// apps/*/.dapr/logs.
		a.DaprdLogDestination, a.AppLogDestination, a.LogLevel = launch.LogConsole, launch.LogConsole, "info"
	}
	s.LogPath = filepath.Join(t.TempDir(), "stack.log")
	logf, err := os.Create(s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	lopts := launch.Options{Env: shellEnv, Log: logf, TokenAuth: true}
	// Free ports are free when picked, not necessarily when a sidecar binds
	// them a moment later (other test packages run at the same time): a
	// start that fails is tried again on fresh ports. A real fault fails
	// every attempt, and the log keeps them all.
	var st *launch.Stack
	for attempt := 1; ; attempt++ {
		for i := range rf.Apps {
			a := &rf.Apps[i]
			a.AppPort, a.DaprHTTPPort, a.DaprGRPCPort = FreePort(t), FreePort(t), FreePort(t)
			a.MetricsPort, a.DaprInternalGRPCPort = FreePort(t), FreePort(t)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		st, err = launch.Start(ctx, rf, lopts)
		cancel()
		if err == nil {
			break
		}
		if attempt == 3 {
			logf.Close()
			t.Fatalf("start stack: %v\n%s", err, tail(s.LogPath, 120))
		}
		t.Logf("start stack, attempt %d: %v; retrying on fresh ports", attempt, err)
		fmt.Fprintf(logf, "----- attempt %d failed: %v -----\n", attempt, err)
	}
	s.Launched, s.runFile, s.opts = st, rf, lopts
	t.Cleanup(func() {
		st.Stop()
		logf.Close()
		if t.Failed() {
			t.Logf("stack log (last lines of %s):\n%s", s.LogPath, tail(s.LogPath, 120))
		}
	})
	if api := rf.App("api"); api != nil { // StackOptions.Apps may leave it out
		s.API = fmt.Sprintf("http://127.0.0.1:%d", api.AppPort)
		s.DaprHTTP = fmt.Sprintf("http://127.0.0.1:%d", api.DaprHTTPPort)
		s.APIDapr = s.DaprHTTP + invokePrefix
		s.DaprToken = st.Tokens("api").Dapr
		if APIContract != nil {
			s.API = APIContract.Proxy(t, s.API, "")
			s.APIDapr = APIContract.Proxy(t, s.DaprHTTP, invokePrefix) + invokePrefix
		}
	}
	return s
}

// Client returns an API client with the stack's administrator key.
func (s *Stack) Client() *client.Client {
	c := client.New(s.API)
	c.APIKey = s.APIKey
	return c
}

// Key creates an API key for tenant with the api's admin command and
// returns its secret.
func (s *Stack) Key(t testing.TB, tenant string) string {
	t.Helper()
	return s.createKey(t, tenant, false)
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// invokePrefix starts the path of a call to the api through Dapr service
// invocation.
const invokePrefix = "/v1.0/invoke/api/method"

// APIURL returns the base URL of an api instance on appPort (a replica's),
// through APIContract's proxy when it is set.
func (s *Stack) APIURL(t testing.TB, appPort int) string {
	u := fmt.Sprintf("http://127.0.0.1:%d", appPort)
	if APIContract != nil {
		u = APIContract.Proxy(t, u, "")
	}
	return u
}

// KillApp kills appID and its sidecar without warning (SIGKILL) and starts
// them again: locally the launcher's processes; on the k8s profile the
// processes of every container of the app's pod, which the kubelet
// restarts in the same pod, as it does after a crash.
func (s *Stack) KillApp(t testing.TB, appID string) {
	t.Helper()
	if s.cluster != nil {
		s.cluster.killPod(t, appID)
		return
	}
	s.Launched.Kill(appID, true)
	if err := s.Launched.StartApp(appID); err != nil {
		t.Fatalf("start %s again: %v", appID, err)
	}
}

// StartReplica starts one more replica of appID, with its own sidecar and
// ports, and returns the replica's app port and sidecar HTTP port. On the
// k8s profile the Deployment scales to two pods: s.API then reaches the
// first one only, and the ports returned reach the second.
func (s *Stack) StartReplica(t testing.TB, appID string) (appPort, daprHTTPPort int) {
	t.Helper()
	if s.cluster != nil {
		return s.cluster.replica(t, s, appID)
	}
	a := *s.runFile.App(appID)
	a.AppPort, a.DaprHTTPPort, a.DaprGRPCPort = FreePort(t), FreePort(t), FreePort(t)
	a.MetricsPort, a.DaprInternalGRPCPort = FreePort(t), FreePort(t)
	rf := *s.runFile
	rf.Apps = []launch.App{a}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := launch.Start(ctx, &rf, s.opts)
	if err != nil {
		t.Fatalf("start replica of %s: %v\n%s", appID, err, tail(s.LogPath, 60))
	}
	t.Cleanup(st.Stop)
	return a.AppPort, a.DaprHTTPPort
}

// App is one app of a running stack.
type App struct {
	ID string
	// Metered is true for the project's own scanner binary, whose /metrics
	// counts the scans its engine ran (intellidox_scan_duration_seconds).
	Metered bool
	port    int    // local: the app port
	target  string // k8s: what kubectl port-forwards to
}

// Scanner reports whether the app is a scanner.
func (a App) Scanner() bool { return strings.HasPrefix(a.ID, "scanner-") }

// Apps lists the stack's apps: the launched run file's, or the cluster's
// Deployments that have a Dapr app id.
func (s *Stack) Apps(t testing.TB) []App {
	t.Helper()
	if s.cluster != nil {
		return s.cluster.apps(t)
	}
	if s.Launched == nil {
		t.Fatalf("E2E_PROFILE=%s: the stack has no apps to list", Profile())
	}
	var apps []App
	for _, a := range s.Launched.RunFile().Apps {
		apps = append(apps, App{ID: a.AppID, port: a.AppPort,
			Metered: strings.HasPrefix(a.AppID, "scanner-") && strings.HasSuffix(a.Command[0], "/scanner")})
	}
	return apps
}

// AppURL returns a base URL that reaches app's own port from here: the
// app directly, or a port-forward to its Deployment.
func (s *Stack) AppURL(t testing.TB, a App) string {
	t.Helper()
	if s.cluster != nil {
		// One port-forward per app for the stack's life: a test that polls
		// an app's metrics must not start a kubectl per poll.
		key := fmt.Sprintf("%s:%d", a.target, a.port)
		s.mu.Lock()
		defer s.mu.Unlock()
		port, ok := s.forwards[key]
		if !ok {
			port = s.cluster.PortForward(t, a.target, a.port)
			if s.forwards == nil {
				s.forwards = map[string]int{}
			}
			s.forwards[key] = port
		}
		return fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", a.port)
}

// zipkinConfig writes components/config.yaml with a Zipkin exporter to
// endpoint and returns its path.
func zipkinConfig(t testing.TB, endpoint string) string {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join(Root(), "components", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	withExporter := strings.Replace(string(cfg), `    samplingRate: "1"`,
		`    samplingRate: "1"
    zipkin:
      endpointAddress: "`+endpoint+`"`, 1)
	if withExporter == string(cfg) {
		t.Fatal("components/config.yaml must sample every request (samplingRate: \"1\")")
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(withExporter), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
