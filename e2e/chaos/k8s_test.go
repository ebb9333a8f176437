//go:build k8s

package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/testenv"
)

// The same chaos runs on the local cluster (E2E_PROFILE=k8s, `make
// k8s-test`): the faults are Kubernetes' own. Build tag k8s: they need the
// cluster of scripts/k8s.sh with deploy/overlays/local-k8s applied.

func loadK8sConfig(t *testing.T) (config, testenv.Cluster) {
	t.Helper()
	if p := testenv.Profile(); p != "k8s" {
		t.Fatalf("built with -tags k8s, these tests need E2E_PROFILE=k8s (have %q)", p)
	}
	return sizes(t), testenv.K8s(t)
}

// TestK8sDeletePods deletes the pod of the extractor, of each scanner and of
// the api during the load (`kubectl delete pod`, the default 30-60 s grace:
// what a node drain or an eviction does), and checks that no file is lost
// or duplicated. The Deployment starts a new pod with a new sidecar each
// time; work the old one had taken is redelivered.
func TestK8sDeletePods(t *testing.T) {
	cfg, k := loadK8sConfig(t)
	// A database of its own: the suite before it leaves judged content behind.
	r := newRun(t, cfg, "kubectl delete pod", testenv.StackOptions{DatabaseURL: testenv.FreshDatabase(t)})
	apps := []string{"extractor", "scanner-clamav", "scanner-yara", "scanner-reputation", "api"}
	waitsFor := map[string]string{"extractor": "extractor", "scanner-clamav": "clamav",
		"scanner-yara": "yara", "scanner-reputation": "reputation", "api": ""}
	var plan []string
	for range cfg.rounds {
		order := append([]string(nil), apps...)
		r.rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		plan = append(plan, order...)
	}
	moments := r.moments(len(plan))
	r.startPush()
	for i, app := range plan {
		r.at(moments[i])
		// A pod still terminating from an earlier fault is "Running" too,
		// and its replacement may not be ready yet: the fault goes to a
		// live pod, once there is one. It is found before the work is
		// awaited, so that nothing (require.Eventually waits a tick before
		// its first look) stands between the work seen in flight and the
		// deletion: small files finish in well under a second.
		var pod string
		require.Eventually(t, func() bool {
			live := k.LivePods(app)
			if len(live) > 0 {
				pod = live[0]
			}
			return pod != ""
		}, 2*time.Minute, 250*time.Millisecond, "no live pod of %s", app)
		processing, waiting, ids := r.ready(waitsFor[app])
		deleted := time.Now()
		k.MustRun(t, "delete", "pod", pod, "--wait=false")
		hit := r.struck("kubectl delete pod "+pod, ids, deleted)
		k.MustRun(t, "rollout", "status", "deploy/"+app, "--timeout", "5m")
		r.injected(deleted, "kubectl delete pod %s (%d uploads processing, %d waiting for %s, %d of them unfinished); replaced and ready after %s",
			pod, processing, waiting, app, hit, time.Since(deleted).Round(100*time.Millisecond))
	}
	r.finish(time.Now(), nil)
}

// TestK8sRollingUpdate rolls the scanner Deployments (a new pod template,
// as a release does) while files flow, and checks that nothing is lost or
// duplicated: maxUnavailable 0, the sidecar's graceful shutdown, and
// redelivery of what an old pod had taken.
func TestK8sRollingUpdate(t *testing.T) {
	cfg, k := loadK8sConfig(t)
	// A database of its own, as above.
	r := newRun(t, cfg, "rolling update", testenv.StackOptions{DatabaseURL: testenv.FreshDatabase(t)})
	scanners := []string{"scanner-clamav", "scanner-yara", "scanner-reputation", "extractor"}
	// Each is rolled while work waits for it, not merely while files flow.
	waitsFor := map[string]string{"extractor": "extractor", "scanner-clamav": "clamav",
		"scanner-yara": "yara", "scanner-reputation": "reputation"}
	moments := r.moments(len(scanners) * cfg.rounds)
	r.startPush()
	for i := range moments {
		app := scanners[i%len(scanners)]
		r.at(moments[i])
		processing, waiting, ids := r.ready(waitsFor[app])
		started := time.Now()
		k.MustRun(t, "patch", "deploy/"+app, "--type", "merge", "-p",
			fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"intellidox.dev/rollout":"%d"}}}}}`, started.UnixNano()))
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Minute)
		_, err := k.Run(ctx, "rollout", "status", "deploy/"+app, "--timeout", "5m")
		cancel()
		require.NoError(t, err)
		hit := r.struck("rolling update of "+app, ids, started)
		r.injected(started, "rolling update of %s (%d uploads processing, %d waiting for it, %d of them unfinished), done after %s",
			app, processing, waiting, hit, time.Since(started).Round(100*time.Millisecond))
	}
	r.finish(time.Now(), nil)
}
