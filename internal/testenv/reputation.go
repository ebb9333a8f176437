package testenv

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ReputationList is a known-bad list of the test's own that the stack's
// reputation engine reads (StackOptions.Env gets Env), and that the test
// may change while the stack runs: locally a file, on the k8s profile a
// ConfigMap mounted into the reputation scanner's pod, which the kubelet
// updates in place.
type ReputationList struct {
	Env     map[string]string
	path    string   // local
	cluster *Cluster // k8s
}

// The ConfigMap, volume and mount of the k8s profile's list.
const (
	reputationConfigMap = "intellidox-test-reputation"
	reputationMount     = "/var/run/intellidox-test/reputation"
)

// NewReputationList starts a list with content. Pass its Env to
// StartStack, after this call.
func NewReputationList(t testing.TB, content []byte) *ReputationList {
	t.Helper()
	if Profile() != "k8s" {
		l := &ReputationList{path: filepath.Join(t.TempDir(), "known-bad.csv")}
		l.Env = map[string]string{"REPUTATION_LISTS": l.path}
		l.Set(t, content)
		return l
	}
	c := K8s(t)
	l := &ReputationList{cluster: &c, Env: map[string]string{"REPUTATION_LISTS": reputationMount + "/known-bad.csv"}}
	l.Set(t, content)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = c.Run(ctx, "delete", "configmap", reputationConfigMap, "--ignore-not-found")
	})
	// The volume and mount, on the pod template (a rollout); the
	// template's volumes and mounts come back when the test ends.
	spec := c.MustRun(t, "get", "deploy/scanner-reputation", "-o", "jsonpath={.spec.template.spec}")
	var s struct {
		Volumes    json.RawMessage `json:"volumes"`
		Containers []struct {
			Name         string          `json:"name"`
			VolumeMounts json.RawMessage `json:"volumeMounts"`
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatal(err)
	}
	i := c.containerIndex(t, "scanner-reputation", "scanner")
	orEmpty := func(b json.RawMessage) string {
		if len(b) == 0 {
			return "[]"
		}
		return string(b)
	}
	volumes, mounts := orEmpty(s.Volumes), orEmpty(s.Containers[i].VolumeMounts)
	patch := func(volumes, mounts string) {
		c.MustRun(t, "patch", "deploy/scanner-reputation", "--type=json", "-p", `[
			{"op":"add","path":"/spec/template/spec/volumes","value":`+volumes+`},
			{"op":"add","path":"/spec/template/spec/containers/`+strconv.Itoa(i)+`/volumeMounts","value":`+mounts+`}]`)
		c.MustRun(t, "rollout", "status", "deploy/scanner-reputation", "--timeout", "5m")
	}
	withVolume := strings.TrimSuffix(strings.TrimSpace(volumes), "]")
	withMount := strings.TrimSuffix(strings.TrimSpace(mounts), "]")
	if withVolume != "[" {
		withVolume += ","
	}
	if withMount != "[" {
		withMount += ","
	}
	// Registered first: the template comes back even if the rollout fails.
	t.Cleanup(func() { patch(volumes, mounts) })
	patch(withVolume+`{"name":"test-reputation","configMap":{"name":"`+reputationConfigMap+`"}}]`,
		withMount+`{"name":"test-reputation","mountPath":"`+reputationMount+`","readOnly":true}]`)
	return l
}

// Set replaces the list's content. The engine notices by itself: at once
// for a file, within the kubelet's sync period for a ConfigMap.
func (l *ReputationList) Set(t testing.TB, content []byte) {
	t.Helper()
	if l.cluster == nil {
		next := l.path + ".next"
		if err := os.WriteFile(next, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(next, l.path); err != nil {
			t.Fatal(err)
		}
		return
	}
	cm, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]string{"name": reputationConfigMap, "namespace": l.cluster.Namespace},
		"data":     map[string]string{"known-bad.csv": string(content)},
	})
	cmd := exec.Command(l.cluster.Kubectl, "--kubeconfig", l.cluster.Kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(string(cm))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply the reputation list: %v\n%s", err, out)
	}
}
