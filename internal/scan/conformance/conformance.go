// Package conformance checks that a scanner app, in any language, honours
// the scanner contract (docs/scanner-contract.md). Run starts the scanner
// beside a real daprd, with a private Redis and S3-compatible store, next to
// a probe app that publishes file.extracted and records scan.completed and
// dead-lettered events, and checks:
//
//   - the subscription: GET /dapr/subscribe names file.extracted on the
//     "events" pub/sub with the "deadletter" dead-letter topic;
//   - results: every case file gets the expected outcome, published as
//     scan.completed and stored under result/<engine>/<sha256> in
//     "scanresults", both valid against docs/schemas;
//   - idempotency: a redelivered event with unchanged signatures is
//     answered from the stored result (scannedAt unchanged);
//   - skips say why (a file above the size limit the scanner was given);
//   - an object missing from storage gives an error result whose detail
//     starts "unreadable: " (engines that never read content judge it);
//   - rejections and rescans addressed to other engines are acknowledged
//     without a result (read from the sidecar's ingress metrics and the
//     state store);
//   - poison (an unknown schema version) is dropped to the dead-letter topic;
//   - for scanners that start on file.uploaded (Scanner.OnUpload): the
//     cases arrive as file.uploaded; bytes that are not the claimed ones
//     leave no result; the extractor's file.extracted is acknowledged
//     without a second scan, and the api's rescans are scanned;
//   - optionally, a scanner whose engine is unreachable answers RETRY, never
//     SUCCESS, and the event reaches the dead-letter topic when the retries
//     are spent.
package conformance

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/launch"
	"github.com/intellidox/intellidox/internal/objstore"
	"github.com/intellidox/intellidox/internal/testenv"
)

// Scanner describes the app under test.
type Scanner struct {
	AppID   string            // its Dapr app-id, e.g. "scanner-yara"
	Engine  string            // the engine name its results carry
	Command []string          // the app's command; the first element is an absolute path or on PATH
	Env     map[string]string // its settings; APP_PORT and DAPR_*_PORT are added
	// ContentFree scanners judge by the event's hashes and never read the
	// object.
	ContentFree bool
	// OnUpload scanners start on file.uploaded and check the claimed
	// SHA-256 and size themselves (docs/scanner-contract.md).
	OnUpload bool
	// Cases are files with the outcome the engine must give each.
	Cases []Case
	// TooLarge, when set, is a file the scanner (as Env configures it)
	// must skip as too large.
	TooLarge []byte
	// Unavailable, when set, are settings (over Env) that leave the engine
	// unreachable at scan time, e.g. clamd's address pointing nowhere. The
	// suite then checks that such a scanner retries events and that they
	// reach the dead-letter topic, never a result.
	Unavailable map[string]string
}

// Case is one file and the expected result.
type Case struct {
	Name    string
	Content []byte
	Outcome contract.Outcome
	Threat  string // when set, some threat must contain it
}

// Timeout bounds each wait for an event.
var Timeout = 90 * time.Second

var (
	probeOnce sync.Once
	probeBin  string
	probeErr  error
)

// probe builds the probe app once per test binary.
func probe(t *testing.T) string {
	t.Helper()
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "intellidox-probe-")
		if err != nil {
			probeErr = err
			return
		}
		probeBin = filepath.Join(dir, "probe")
		cmd := exec.Command("go", "build", "-o", probeBin, "./internal/scan/conformance/probe")
		cmd.Dir = testenv.Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("build probe: %v\n%s", err, out)
		}
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return probeBin
}

// components writes the Dapr components the suite runs on: the contract's
// names over the private Redis and bucket, and a short retry policy so that
// dead-lettering takes seconds.
func components(t *testing.T, dir string) {
	t.Helper()
	files := map[string]string{
		"pubsub.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: ` + contract.PubSub + `}
spec:
  type: pubsub.redis
  version: v1
  metadata:
    - {name: redisHost, envRef: REDIS_ADDR}
    - {name: redisPassword, value: ""}
    - {name: processingTimeout, value: "30s"}
    - {name: redeliverInterval, value: "2s"}
`,
		"statestore.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: ` + contract.StateStore + `}
spec:
  type: state.redis
  version: v1
  metadata:
    - {name: redisHost, envRef: REDIS_ADDR}
    - {name: redisPassword, value: ""}
    - {name: keyPrefix, value: name}
`,
		"blobstore.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: ` + contract.BlobStore + `}
spec:
  type: bindings.aws.s3
  version: v1
  metadata:
    - {name: bucket, envRef: S3_BUCKET}
    - {name: region, envRef: AWS_REGION}
    - {name: endpoint, envRef: S3_ENDPOINT}
    - {name: accessKey, envRef: AWS_ACCESS_KEY_ID}
    - {name: secretKey, envRef: AWS_SECRET_ACCESS_KEY}
    - {name: forcePathStyle, value: "true"}
    - {name: disableSSL, value: "true"}
`,
		"resiliency.yaml": `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: conformance}
spec:
  policies:
    retries:
      eventDelivery: {policy: constant, duration: 200ms, maxRetries: 3}
  targets:
    components:
      ` + contract.PubSub + `:
        inbound: {retry: eventDelivery}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// env is the running suite.
type env struct {
	t         *testing.T
	sc        Scanner
	schemas   *Schemas
	store     *objstore.Store
	scanner   launch.App
	probe     launch.App
	http      *http.Client
	dir       string            // the suite's working directory
	resources string            // its components
	infra     map[string]string // Redis and S3 settings for every app
}

// app describes an app of the suite on free ports.
func (e *env) app(id string, command []string, env map[string]string) launch.App {
	t := e.t
	none := ""
	return launch.App{AppID: id, AppDirPath: e.dir, Command: command,
		AppPort: testenv.FreePort(t), DaprHTTPPort: testenv.FreePort(t), DaprGRPCPort: testenv.FreePort(t),
		DaprInternalGRPCPort: testenv.FreePort(t), MetricsPort: testenv.FreePort(t),
		Shared: launch.Shared{ResourcesPaths: []string{e.resources}, Env: env,
			// The project's daprd (loopback listeners), as dapr.yaml runs it.
			RuntimePath: filepath.Join(testenv.Root(), "tools", "dapr-runtime"), APIListenAddresses: "127.0.0.1",
			PlacementHostAddress: &none, SchedulerHostAddress: &none, LogLevel: "info",
			DaprdLogDestination: launch.LogConsole, AppLogDestination: launch.LogConsole}}
}

// start writes a run file for apps and starts them through the launcher,
// each beside its daprd, until the test ends. Free ports are only free when
// they are picked: if another test took one meanwhile, the apps get new
// ones and start again.
func (e *env) start(t *testing.T, name string, apps ...*launch.App) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		st, logf, logPath, err := e.launch(t, name, apps)
		if err == nil {
			t.Cleanup(func() {
				st.Stop()
				logf.Close()
				if t.Failed() {
					t.Logf("log of %s and its sidecar:\n%s", apps[0].AppID, readTail(logPath))
				}
			})
			return
		}
		logf.Close()
		log := readTail(logPath)
		if taken := err.Error() + log; attempt == 3 || !(strings.Contains(taken, "in use") || strings.Contains(taken, "could not listen")) {
			t.Fatalf("start %s: %v\n%s", apps[0].AppID, err, log)
		}
		t.Logf("start %s: a port was taken meanwhile (%v); trying other ports", apps[0].AppID, err)
		for _, a := range apps {
			*a = e.app(a.AppID, a.Command, a.Env)
		}
	}
}

func (e *env) launch(t *testing.T, name string, apps []*launch.App) (*launch.Stack, *os.File, string, error) {
	t.Helper()
	rf := launch.RunFile{Version: 1}
	for _, a := range apps {
		rf.Apps = append(rf.Apps, *a)
	}
	b, err := yaml.Marshal(rf)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, name+".yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := launch.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(e.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := launch.Start(ctx, loaded, launch.Options{Log: logf, Env: e.infra})
	return st, logf, logPath, err
}

// Run starts sc with its sidecar and checks the contract.
func Run(t *testing.T, sc Scanner) {
	t.Helper()
	root := testenv.Root()
	schemas, err := LoadSchemas(filepath.Join(root, "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	daprd, err := launch.FindDaprd(root)
	if err != nil {
		t.Fatal(err)
	}
	redis := testenv.Redis(t)
	s3 := testenv.StartS3(t)
	store, err := objstore.New(context.Background(), s3.Config())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res := filepath.Join(dir, "components")
	if err := os.MkdirAll(res, 0o755); err != nil {
		t.Fatal(err)
	}
	components(t, res)

	e := &env{t: t, sc: sc, schemas: schemas, store: store, http: &http.Client{Timeout: 30 * time.Second},
		dir: dir, resources: res, infra: map[string]string{"DAPRD": daprd,
			"REDIS_ADDR": redis, "S3_ENDPOINT": s3.Endpoint, "S3_BUCKET": s3.Bucket, "AWS_REGION": "us-east-1",
			"AWS_ACCESS_KEY_ID": s3.AccessKey, "AWS_SECRET_ACCESS_KEY": s3.SecretKey, "LOG_LEVEL": "debug",
		}}
	e.scanner = e.app(sc.AppID, sc.Command, sc.Env)
	e.probe = e.app("conformance-probe", []string{probe(t)}, nil)
	e.start(t, "stack", &e.scanner, &e.probe)

	t.Run("subscribes to file.extracted with a dead-letter topic", e.checkSubscription)
	if sc.OnUpload {
		t.Run("subscribes to file.uploaded with a dead-letter topic", e.checkUploadSubscription)
	}
	e.waitSubscribed(t)
	t.Run("results", e.checkCases)
	t.Run("redelivery does not rescan", e.checkIdempotency)
	if sc.TooLarge != nil {
		t.Run("skips say why", e.checkTooLarge)
	}
	t.Run("missing object", e.checkMissingObject)
	t.Run("rejections and rescans for other engines get no result", e.checkIgnored)
	if sc.OnUpload {
		t.Run("bytes that are not the claimed ones get no result", e.checkUnclaimed)
		t.Run("the extractor's event is not scanned again, a rescan is", e.checkRescan)
	}
	if sc.Unavailable != nil {
		t.Run("an unavailable engine's events are retried, then dead-lettered", e.checkUnavailable)
	}
	t.Run("poison goes to the dead-letter topic", e.checkPoison)
}

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\n")
	return strings.Join(lines[max(0, len(lines)-150):], "\n")
}

// state reads one key of the state store through the probe's sidecar (bulk
// get: keys hold slashes, which the single-key URL cannot carry).
func (e *env) state(t *testing.T, key string) json.RawMessage {
	t.Helper()
	data := e.maybeState(t, key)
	if data == nil {
		t.Fatalf("state key %s is not set", key)
	}
	return data
}

// maybeState is state, returning nil for a key that is not set.
func (e *env) maybeState(t *testing.T, key string) json.RawMessage {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"keys": []string{key}})
	url := fmt.Sprintf("http://127.0.0.1:%d/v1.0/state/%s/bulk", e.probe.DaprHTTPPort, contract.StateStore)
	resp, err := e.http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var items []struct {
		Key   string          `json:"key"`
		Data  json.RawMessage `json:"data"`
		Error string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&items); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("state bulk get: %s %v", resp.Status, err)
	}
	if len(items) != 1 || items[0].Error != "" {
		t.Fatalf("state key %s: %+v", key, items)
	}
	if len(items[0].Data) == 0 || string(items[0].Data) == "null" {
		return nil
	}
	return items[0].Data
}

// waitSubscribed publishes a warm-up file until the scanner answers one: a
// sidecar reports healthy before its subscriptions consume, and an event
// published in between would wait for the redelivery interval.
// A scanner that starts on file.uploaded is warmed up on both topics, the
// second through a rescan.
func (e *env) waitSubscribed(t *testing.T) {
	f := e.upload(t, []byte("conformance: warm-up"))
	first := contract.TopicFileExtracted
	if e.sc.OnUpload {
		first = contract.TopicFileUploaded
	}
	e.warmUp(t, f.event.FileID, first, func() { e.deliver(t, f) })
	if e.sc.OnUpload {
		rescan := f.event
		rescan.FileID += "-rescan"
		rescan.Rescan = true
		e.warmUp(t, rescan.FileID, contract.TopicFileExtracted, func() { e.extracted(t, rescan) })
	}
}

// warmUp sends until a scan.completed for fileID arrives.
func (e *env) warmUp(t *testing.T, fileID, topic string, send func()) {
	deadline := time.Now().Add(Timeout)
	for {
		send()
		wait := time.Now().Add(time.Second)
		for time.Now().Before(wait) {
			for _, raw := range e.received(t, contract.TopicScanCompleted) {
				var sc contract.ScanCompleted
				if json.Unmarshal(raw, &sc) == nil && sc.FileID == fileID {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scanner answered no %s within %s", topic, Timeout)
		}
	}
}

func (e *env) checkSubscription(t *testing.T) { e.subscribed(t, contract.TopicFileExtracted) }

func (e *env) checkUploadSubscription(t *testing.T) { e.subscribed(t, contract.TopicFileUploaded) }

// subscribed checks the scanner's subscription to topic.
func (e *env) subscribed(t *testing.T, topic string) {
	var subs []struct {
		PubSubName      string `json:"pubsubname"`
		Topic           string `json:"topic"`
		Route           string `json:"route"`
		DeadLetterTopic string `json:"deadLetterTopic"`
	}
	e.getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/dapr/subscribe", e.scanner.AppPort), &subs)
	i := slices.IndexFunc(subs, func(s struct {
		PubSubName      string `json:"pubsubname"`
		Topic           string `json:"topic"`
		Route           string `json:"route"`
		DeadLetterTopic string `json:"deadLetterTopic"`
	}) bool {
		return s.Topic == topic
	})
	if i < 0 {
		t.Fatalf("GET /dapr/subscribe has no %s subscription: %+v", topic, subs)
	}
	if subs[i].PubSubName != contract.PubSub || subs[i].DeadLetterTopic != contract.TopicDeadLetter || subs[i].Route == "" {
		t.Errorf("subscription %+v: want pubsubname %q, a route and deadLetterTopic %q", subs[i], contract.PubSub, contract.TopicDeadLetter)
	}
}

// file is one uploaded object and the event that announces it.
type file struct {
	content []byte
	event   contract.FileExtracted
}

// upload stores content under a fresh key and returns its file.extracted.
func (e *env) upload(t *testing.T, content []byte) file {
	t.Helper()
	s2, s1, m5 := sha256.Sum256(content), sha1.Sum(content), md5.Sum(content)
	sha := hex.EncodeToString(s2[:])
	key := fmt.Sprintf("conformance/%s/%d", sha, time.Now().UnixNano())
	up, err := e.store.PresignPut(context.Background(), key, int64(len(content)), sha, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(content))
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	req.ContentLength = int64(len(content))
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %s", resp.Status)
	}
	return file{content: content, event: contract.FileExtracted{Version: contract.SchemaVersion,
		FileID: fmt.Sprintf("conformance-%d", time.Now().UnixNano()), SHA256: sha,
		MD5: hex.EncodeToString(m5[:]), SHA1: hex.EncodeToString(s1[:]), Size: int64(len(content)),
		ObjectKey: key, MIMEType: http.DetectContentType(content)}}
}

// publish sends v to topic through the probe's sidecar.
func (e *env) publish(t *testing.T, topic string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/v1.0/publish/%s/%s", e.probe.DaprHTTPPort, contract.PubSub, topic)
	resp, err := e.http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("publish %s: %s %s", topic, resp.Status, body)
	}
}

// extracted publishes ev (checking it against its schema first).
func (e *env) extracted(t *testing.T, ev contract.FileExtracted) {
	t.Helper()
	if err := e.schemas.Validate(SchemaFileExtracted, ev); err != nil {
		t.Fatalf("the suite built an invalid event: %v", err)
	}
	e.publish(t, contract.TopicFileExtracted, ev)
}

func (e *env) getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := e.http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// received returns the data of the events the probe got on topic.
func (e *env) received(t *testing.T, topic string) []json.RawMessage {
	t.Helper()
	var evs []struct {
		Data       json.RawMessage `json:"data"`
		DataBase64 string          `json:"data_base64"`
	}
	e.getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/received?topic=%s", e.probe.AppPort, topic), &evs)
	out := make([]json.RawMessage, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.Data)
	}
	return out
}

// completions returns the scan.completed events for fileID, raw and
// decoded, waiting until there are at least n.
func (e *env) completions(t *testing.T, fileID string, n int) ([]json.RawMessage, []contract.ScanCompleted) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		var raws []json.RawMessage
		var evs []contract.ScanCompleted
		for _, raw := range e.received(t, contract.TopicScanCompleted) {
			var sc contract.ScanCompleted
			if json.Unmarshal(raw, &sc) == nil && sc.FileID == fileID {
				raws, evs = append(raws, raw), append(evs, sc)
			}
		}
		if len(evs) >= n {
			return raws, evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d scan.completed for file %s, want %d", Timeout, len(evs), fileID, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deliver publishes the event that starts f's scan: file.uploaded for
// scanners that start on it, file.extracted for the others.
func (e *env) deliver(t *testing.T, f file) {
	t.Helper()
	if !e.sc.OnUpload {
		e.extracted(t, f.event)
		return
	}
	e.uploaded(t, uploadedOf(f.event))
}

func uploadedOf(ev contract.FileExtracted) contract.FileUploaded {
	return contract.FileUploaded{Version: ev.Version, FileID: ev.FileID, SHA256: ev.SHA256, Size: ev.Size,
		ObjectKey: ev.ObjectKey, Passwords: ev.Passwords}
}

// uploaded publishes ev (checking it against its schema first).
func (e *env) uploaded(t *testing.T, ev contract.FileUploaded) {
	t.Helper()
	if err := e.schemas.Validate(SchemaFileUploaded, ev); err != nil {
		t.Fatalf("the suite built an invalid event: %v", err)
	}
	e.publish(t, contract.TopicFileUploaded, ev)
}

// result publishes f's event and returns the scanner's result, checked
// against the contract.
func (e *env) result(t *testing.T, f file) contract.Result {
	t.Helper()
	e.deliver(t, f)
	raws, evs := e.completions(t, f.event.FileID, 1)
	return e.checkCompleted(t, f.event, raws[0], evs[0])
}

// checkCompleted checks one scan.completed against the schema, the event
// that caused it and the state store.
func (e *env) checkCompleted(t *testing.T, ev contract.FileExtracted, raw json.RawMessage, sc contract.ScanCompleted) contract.Result {
	t.Helper()
	if err := e.schemas.Validate(SchemaScanCompleted, []byte(raw)); err != nil {
		t.Errorf("scan.completed breaks its schema: %v\n%s", err, raw)
	}
	if sc.SHA256 != ev.SHA256 || sc.Result.Engine != e.sc.Engine {
		t.Errorf("scan.completed for sha256 %s engine %q, want %s and %q", sc.SHA256, sc.Result.Engine, ev.SHA256, e.sc.Engine)
	}
	stored := e.state(t, "result/"+e.sc.Engine+"/"+ev.SHA256)
	if err := e.schemas.Validate(SchemaScanResult, []byte(stored)); err != nil {
		t.Errorf("stored result breaks its schema: %v\n%s", err, stored)
	}
	var st contract.Result
	if err := json.Unmarshal(stored, &st); err != nil {
		t.Fatal(err)
	}
	if !st.ScannedAt.Equal(sc.Result.ScannedAt) || st.Result != sc.Result.Result || st.SignatureVersion != sc.Result.SignatureVersion {
		t.Errorf("stored result %+v differs from the published one %+v", st, sc.Result)
	}
	return sc.Result
}

func (e *env) checkCases(t *testing.T) {
	if len(e.sc.Cases) == 0 {
		t.Fatal("a scanner needs at least one case")
	}
	for _, c := range e.sc.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := e.result(t, e.upload(t, c.Content))
			if r.Result != c.Outcome {
				t.Errorf("result %q (%s), want %q", r.Result, r.Detail, c.Outcome)
			}
			if c.Threat != "" && !slices.ContainsFunc(r.Threats, func(s string) bool { return strings.Contains(s, c.Threat) }) {
				t.Errorf("threats %q, want one containing %q", r.Threats, c.Threat)
			}
		})
	}
}

func (e *env) checkIdempotency(t *testing.T) {
	f := e.upload(t, e.sc.Cases[0].Content)
	first := e.result(t, f)
	e.deliver(t, f) // the same event again: a redelivery
	raws, evs := e.completions(t, f.event.FileID, 2)
	again := e.checkCompleted(t, f.event, raws[1], evs[1])
	if !again.ScannedAt.Equal(first.ScannedAt) || again.SignatureVersion != first.SignatureVersion || again.Result != first.Result {
		t.Errorf("redelivery rescanned: first %+v, then %+v", first, again)
	}
}

func (e *env) checkTooLarge(t *testing.T) {
	r := e.result(t, e.upload(t, e.sc.TooLarge))
	if r.Result != contract.Skipped || !strings.HasPrefix(r.Detail, "too large: ") {
		t.Errorf("result %q with detail %q, want skipped with \"too large: …\"", r.Result, r.Detail)
	}
}

func (e *env) checkMissingObject(t *testing.T) {
	f := e.upload(t, []byte("conformance: an object that is deleted before the scan "+time.Now().String()))
	f.event.ObjectKey += "-missing"
	r := e.result(t, f)
	switch {
	case e.sc.ContentFree:
		if r.Result != contract.Clean {
			t.Errorf("a content-free engine judges by hash: result %q (%s), want clean", r.Result, r.Detail)
		}
	case r.Result != contract.Error || !strings.HasPrefix(r.Detail, "unreadable: "):
		t.Errorf("result %q with detail %q, want error with \"unreadable: …\"", r.Result, r.Detail)
	}
}

func (e *env) checkPoison(t *testing.T) {
	f := e.upload(t, []byte("conformance: poison"))
	poison := map[string]any{"version": 99, "fileId": f.event.FileID, "sha256": f.event.SHA256,
		"size": f.event.Size, "objectKey": f.event.ObjectKey}
	e.publish(t, contract.TopicFileExtracted, poison)
	deadline := time.Now().Add(Timeout)
	for {
		for _, raw := range e.received(t, contract.TopicDeadLetter) {
			var got struct {
				FileID string `json:"fileId"`
			}
			if json.Unmarshal(raw, &got) == nil && got.FileID == f.event.FileID {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the poison event was not on the %q topic", Timeout, contract.TopicDeadLetter)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) checkIgnored(t *testing.T) {
	f := e.upload(t, []byte("conformance: not to be scanned "+time.Now().String()))
	before := e.acknowledged(t)
	rejected := f.event
	rejected.Rejection = &contract.Rejection{Code: contract.RejectHashMismatch, Reason: "conformance: the bytes differ"}
	e.extracted(t, rejected)
	other := f.event
	other.Engines = []string{"not-" + e.sc.Engine}
	e.extracted(t, other)
	want := before + 2
	if e.sc.OnUpload {
		e.extracted(t, f.event) // the extractor's description: scanned on upload already
		want++
	}
	deadline := time.Now().Add(Timeout)
	for e.acknowledged(t) < want {
		if time.Now().After(deadline) {
			t.Fatalf("after %s the scanner had not acknowledged the events", Timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A scanner stores a result before it acknowledges the event.
	if got := e.maybeState(t, "result/"+e.sc.Engine+"/"+f.event.SHA256); got != nil {
		t.Errorf("a rejection, a rescan for another engine or an event scanned on upload was scanned: %s", got)
	}
}

// checkUnclaimed sends file.uploaded naming stored bytes with the SHA-256
// of other content: a scanner that starts on upload must find out, and
// keep no result under the claimed hash.
func (e *env) checkUnclaimed(t *testing.T) {
	f := e.upload(t, e.sc.Cases[0].Content)
	claimed := sha256.Sum256([]byte("conformance: other content " + time.Now().String()))
	ev := uploadedOf(f.event)
	ev.SHA256 = hex.EncodeToString(claimed[:])
	before := ingress(t, e.http, e.scanner.MetricsPort, "success", contract.TopicFileUploaded)
	e.uploaded(t, ev)
	deadline := time.Now().Add(Timeout)
	for ingress(t, e.http, e.scanner.MetricsPort, "success", contract.TopicFileUploaded) < before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("after %s the scanner had not acknowledged the event", Timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := e.maybeState(t, "result/"+e.sc.Engine+"/"+ev.SHA256); got != nil {
		t.Errorf("stored a result for bytes that are not the claimed ones: %s", got)
	}
	for _, raw := range e.received(t, contract.TopicScanCompleted) {
		var sc contract.ScanCompleted
		if json.Unmarshal(raw, &sc) == nil && sc.SHA256 == ev.SHA256 {
			t.Errorf("announced a result for bytes that are not the claimed ones: %s", raw)
		}
	}
}

// checkRescan: after a scan on upload, the api's rescan of the same
// content (file.extracted with rescan set) is answered; with unchanged
// signatures, from the stored result.
func (e *env) checkRescan(t *testing.T) {
	f := e.upload(t, []byte("conformance: rescanned "+time.Now().String()))
	first := e.result(t, f)
	rescan := f.event
	rescan.Rescan = true
	e.extracted(t, rescan)
	raws, evs := e.completions(t, f.event.FileID, 2)
	again := e.checkCompleted(t, f.event, raws[1], evs[1])
	if again.Result != first.Result || !again.ScannedAt.Equal(first.ScannedAt) {
		t.Errorf("rescan with unchanged signatures: first %+v, then %+v", first, again)
	}
}

// acknowledged reads from the scanner's sidecar how many file.extracted
// deliveries the app answered with SUCCESS.
func (e *env) acknowledged(t *testing.T) float64 {
	return ingress(t, e.http, e.scanner.MetricsPort, "success", contract.TopicFileExtracted)
}

// ingress reads from a sidecar's metrics how many deliveries of topic its
// app answered with status ("success", "retry" or "drop").
func ingress(t *testing.T, client *http.Client, metricsPort int, status, topic string) float64 {
	t.Helper()
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "dapr_component_pubsub_ingress_count{") &&
			strings.Contains(line, `process_status="`+status+`"`) && strings.Contains(line, `topic="`+topic+`"`) {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
				n += v
			}
		}
	}
	return n
}

func (e *env) checkUnavailable(t *testing.T) {
	env := maps.Clone(e.sc.Env)
	maps.Copy(env, e.sc.Unavailable)
	// A Redis of its own, with a probe of its own: the consumer group of a
	// new app-id reads a topic's history, and this instance must see only
	// the event below.
	sub := *e
	sub.infra = maps.Clone(e.infra)
	sub.infra["REDIS_ADDR"] = testenv.Redis(t)
	down := sub.app(e.sc.AppID+"-unavailable", e.sc.Command, env)
	sub.probe = sub.app("conformance-probe-unavailable", []string{probe(t)}, nil)
	sub.start(t, "unavailable", &down, &sub.probe)

	f := sub.upload(t, []byte("conformance: the engine is down "+time.Now().String()))
	sub.deliver(t, f)
	topic := contract.TopicFileExtracted
	if e.sc.OnUpload {
		topic = contract.TopicFileUploaded
	}
	deadline := time.Now().Add(Timeout)
	for !slices.ContainsFunc(sub.received(t, contract.TopicDeadLetter), func(raw json.RawMessage) bool {
		var got struct {
			FileID string `json:"fileId"`
		}
		return json.Unmarshal(raw, &got) == nil && got.FileID == f.event.FileID
	}) {
		// An acknowledged delivery of an event that could not be scanned
		// is a lost message: no retry or dead letter will follow.
		if n := ingress(t, e.http, down.MetricsPort, "success", topic); n != 0 {
			t.Fatalf("the unavailable scanner acknowledged %v deliveries of an event it could not scan: the message is lost", n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the event was not on the %q topic", Timeout, contract.TopicDeadLetter)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Dropping at once would reach the dead-letter topic too; retrying
	// first is what keeps an outage from losing work. (The sidecar counts
	// the delivery that exhausts the retries as a drop.)
	if n := ingress(t, e.http, down.MetricsPort, "retry", topic); n == 0 {
		t.Error("the unavailable scanner never answered RETRY")
	}
	if n := ingress(t, e.http, down.MetricsPort, "success", topic); n != 0 {
		t.Errorf("the unavailable scanner acknowledged %v deliveries of an event it could not scan", n)
	}
	if got := sub.maybeState(t, "result/"+e.sc.Engine+"/"+f.event.SHA256); got != nil {
		t.Errorf("the unavailable scanner stored a result: %s", got)
	}
}
