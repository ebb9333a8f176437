package deploy

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// apps are the Dapr app-ids that run in the cluster, and the components
// each needs: its scopes must grant exactly these.
// baseApps are the app-ids of the base, each with the components it may
// use.
var baseApps = map[string][]string{
	"api":                {"blobstore", "events", "live", "reconcile", "secrets", "storage"},
	"extractor":          {"blobstore", "events", "secrets"},
	"scanner-clamav":     {"blobstore", "events", "scanresults"},
	"scanner-yara":       {"blobstore", "events", "scanresults", "secrets"},
	"scanner-reputation": {"blobstore", "events", "scanresults", "secrets"},
}

// projectScanner reports whether app runs the project's scanner binary
// (SCANNER_ENGINE, SCAN_CONCURRENCY, SCAN_TIMEOUT), as the base's scanners
// do; a scanner an overlay adds in another language has its own settings.
func projectScanner(app string) bool {
	_, base := baseApps[app]
	return base && strings.HasPrefix(app, "scanner-")
}

// stagingEngines are the engines that write the object or its archive
// members to TMPDIR while scanning.
var stagingEngines = map[string]bool{"yara": true, "reputation": true}

// writableTmp reports whether ctr has TMPDIR=/tmp backed by an emptyDir.
func writableTmp(spec *corev1.PodSpec, ctr *corev1.Container) bool {
	tmpdir := "/tmp"
	for _, e := range ctr.Env {
		if e.Name == "TMPDIR" {
			tmpdir = e.Value
		}
	}
	for _, m := range ctr.VolumeMounts {
		if m.MountPath != tmpdir || m.ReadOnly {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil {
				return true
			}
		}
	}
	return false
}

// appReadiness is the readiness path per app; /healthz where not listed.
var appReadiness = map[string]string{"api": "/readyz"}

// requiredAnnotations must be set on every app's pod template.
var requiredAnnotations = []string{
	"dapr.io/enabled", "dapr.io/app-id", "dapr.io/app-port", "dapr.io/config",
	"dapr.io/sidecar-cpu-request", "dapr.io/sidecar-cpu-limit",
	"dapr.io/sidecar-memory-request", "dapr.io/sidecar-memory-limit",
	"dapr.io/enable-api-logging", "dapr.io/api-token-secret", "dapr.io/app-token-secret",
}

// placeholders are the base's stand-ins that an overlay must replace.
var placeholders = []string{"AWS_REGION", "S3_BUCKET", "DYNAMODB_TABLE", "000000000000"}

// componentDifferences are the metadata items where the cluster's
// components may differ from components/aws: endpoint overrides exist only
// for emulators, and queue names carry the intellidox- prefix.
var componentDifferences = map[string]string{
	"endpoint":   "dropped",
	"consumerID": "prefixed",
}

// credentialNames are component metadata or env names that hold secrets;
// they may appear only as references, never as literal values.
var credentialNames = regexp.MustCompile(`(?i)^(accessKey|secretKey|sessionToken|password|redisPassword|connectionString|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|.*PASSWORD.*|.*_TOKEN|.*SECRET.*)$`)

// credentialValues are credentials recognizable in any text.
var credentialValues = []*regexp.Regexp{
	regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`),             // AWS access key ids
	regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`), // user:password@ in a URL
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`),
}

type checker struct {
	errs []error
	p    profile
}

func (c *checker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// profile is what differs between the environments an overlay targets:
// the components it must match, how clamd gets signatures, whether pods
// carry IAM roles, and which Services may be NodePorts.
type profile struct {
	name string
	// ref holds the components the cluster's must match by name, type
	// and literal metadata.
	ref map[string]*daprComponent
	// differences are the metadata items allowed to differ from ref.
	differences map[string]string
	// queue names the events metadata that must outlast a scan: SQS's
	// messageVisibilityTimeout (seconds) or Redis's processingTimeout.
	queue string
	// freshclam: clamd's signatures come from freshclam (AWS) or from
	// the project's set in a ConfigMap (no internet on the local cluster).
	freshclam bool
	// irsa: every app's ServiceAccount names an IAM role.
	irsa bool
	// nodePorts are the Services that may be NodePorts.
	nodePorts []string
	// minReplicas is the least an HPA may scale an app to.
	minReplicas int32
	// collector: a trace collector runs where the sidecars export spans
	// (EKS: the operator's). The local cluster runs none, and its sidecars
	// must not export: retrying a dead endpoint held each sidecar's stop
	// for seconds, and so every rollout.
	collector bool
	// apps are the app-ids the environment runs, each with the
	// components it may use: baseApps, plus any the overlay adds.
	apps map[string][]string
}

// check returns every broken invariant.
func (cl *cluster) check(p profile) []error {
	c := &checker{p: p}
	cl.checkApps(c)
	cl.checkWorkloads(c)
	cl.checkComponents(c, p)
	cl.checkDaprConfig(c, p)
	cl.checkVisibility(c, p)
	cl.checkCredentials(c)
	cl.checkMigration(c)
	cl.checkClamAV(c, p)
	if p.irsa {
		cl.checkServiceAccounts(c)
	}
	cl.checkNetwork(c, p)
	for _, id := range cl.unnamespaced {
		c.errorf("%s: no namespace", id)
	}
	return c.errs
}

func (cl *cluster) deployment(name string) *appsv1.Deployment {
	for _, d := range cl.deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// appContainer is the container listening on the Dapr app port.
func appContainer(spec *corev1.PodSpec, port string) (*corev1.Container, error) {
	var found []*corev1.Container
	for i := range spec.Containers {
		for _, p := range spec.Containers[i].Ports {
			if strconv.Itoa(int(p.ContainerPort)) == port {
				found = append(found, &spec.Containers[i])
			}
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("dapr.io/app-port %s matches %d container ports, want exactly 1", port, len(found))
	}
	return found[0], nil
}

// env resolves a container's environment: envFrom ConfigMaps, then env
// literals. Values from Secrets resolve to "secret:<name>/<key>".
func (cl *cluster) env(ctr *corev1.Container) map[string]string {
	out := map[string]string{}
	for _, from := range ctr.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		for _, cm := range cl.configMaps {
			if cm.Name == from.ConfigMapRef.Name {
				maps.Copy(out, cm.Data)
			}
		}
	}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			out[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom != nil:
			out[e.Name] = "ref"
		default:
			out[e.Name] = e.Value
		}
	}
	return out
}

// checkApps: every app-id has a Deployment with the Dapr annotations, a
// container on the app port, probes, token wiring, an HPA and a PDB.
func (cl *cluster) checkApps(c *checker) {
	for _, app := range slices.Sorted(maps.Keys(c.p.apps)) {
		d := cl.deployment(app)
		if d == nil {
			c.errorf("app %s: no Deployment", app)
			continue
		}
		id := "Deployment " + app
		ann := d.Spec.Template.Annotations
		for _, k := range requiredAnnotations {
			if ann[k] == "" {
				c.errorf("%s: annotation %s missing", id, k)
			}
		}
		if ann["dapr.io/enabled"] != "true" {
			c.errorf("%s: dapr.io/enabled is %q, want \"true\"", id, ann["dapr.io/enabled"])
		}
		if ann["dapr.io/app-id"] != "" && ann["dapr.io/app-id"] != app {
			c.errorf("%s: dapr.io/app-id is %q", id, ann["dapr.io/app-id"])
		}
		if ann["dapr.io/enable-api-logging"] != "false" {
			c.errorf("%s: dapr.io/enable-api-logging is %q, want \"false\"", id, ann["dapr.io/enable-api-logging"])
		}
		if name := ann["dapr.io/config"]; name != "" && !slices.ContainsFunc(cl.configurations, func(x *daprConfiguration) bool { return x.Metadata.Name == name }) {
			c.errorf("%s: dapr.io/config %q names no Configuration", id, name)
		}
		for _, r := range []string{"cpu", "memory"} {
			req, lim := ann["dapr.io/sidecar-"+r+"-request"], ann["dapr.io/sidecar-"+r+"-limit"]
			if req == "" || lim == "" {
				continue
			}
			rq, err1 := resource.ParseQuantity(req)
			lq, err2 := resource.ParseQuantity(lim)
			if err1 != nil || err2 != nil {
				c.errorf("%s: sidecar %s request %q / limit %q: not quantities", id, r, req, lim)
			} else if rq.Cmp(lq) > 0 {
				c.errorf("%s: sidecar %s request %s exceeds its limit %s", id, r, req, lim)
			}
		}
		checkReservedPorts(c, id, &d.Spec.Template.Spec, ann)
		ctr, err := appContainer(&d.Spec.Template.Spec, ann["dapr.io/app-port"])
		if err != nil {
			c.errorf("%s: %v", id, err)
			continue
		}
		env := cl.env(ctr)
		for k, want := range map[string]string{
			"DAPR_API_TOKEN": "secret:" + ann["dapr.io/api-token-secret"] + "/token",
			"APP_API_TOKEN":  "secret:" + ann["dapr.io/app-token-secret"] + "/token",
			"APP_PORT":       ann["dapr.io/app-port"],
			"LISTEN_HOST":    "0.0.0.0",
		} {
			if env[k] != want {
				c.errorf("%s: container %s: %s is %q, want %q", id, ctr.Name, k, env[k], want)
			}
		}
		if projectScanner(app) {
			if got, want := ann["dapr.io/app-max-concurrency"], env["SCAN_CONCURRENCY"]; got == "" || got != want {
				c.errorf("%s: dapr.io/app-max-concurrency %q must equal SCAN_CONCURRENCY %q: events waiting for a scan slot spend their visibility timeout", id, got, want)
			}
			if env["SCANNER_ENGINE"] != strings.TrimPrefix(app, "scanner-") {
				c.errorf("%s: SCANNER_ENGINE is %q", id, env["SCANNER_ENGINE"])
			}
			if stagingEngines[env["SCANNER_ENGINE"]] && !writableTmp(&d.Spec.Template.Spec, ctr) {
				c.errorf("%s: container %s stages files in TMPDIR but has no emptyDir at %q (TMPDIR %q); the root filesystem is read-only", id, ctr.Name, "/tmp", env["TMPDIR"])
			}
		}
		checkProbe(c, id, ctr, "liveness", ctr.LivenessProbe, "/healthz")
		ready := appReadiness[app]
		if ready == "" {
			ready = "/healthz"
		}
		checkProbe(c, id, ctr, "readiness", ctr.ReadinessProbe, ready)
		if d.Spec.Replicas != nil {
			c.errorf("%s: replicas is set; the HorizontalPodAutoscaler owns the count", id)
		}
		cl.checkHPA(c, d)
		cl.checkPDB(c, d)
	}
}

// checkReservedPorts: every port the pod listens on inside Linux's
// ephemeral range (32768-60999) must be in net.ipv4.ip_local_reserved_ports.
// Otherwise an outbound connection made before the listener starts can take
// it: on the local cluster the api's PostgreSQL connection took 50002 and
// its daprd crash-looped on "address already in use".
func checkReservedPorts(c *checker, id string, spec *corev1.PodSpec, ann map[string]string) {
	var spans [][2]int // the reserved ranges, inclusive
	if sc := spec.SecurityContext; sc != nil {
		for _, s := range sc.Sysctls {
			if s.Name != "net.ipv4.ip_local_reserved_ports" {
				continue
			}
			for _, r := range strings.Split(s.Value, ",") {
				lo, hi, isRange := strings.Cut(strings.TrimSpace(r), "-")
				if !isRange {
					hi = lo
				}
				a, err1 := strconv.Atoi(lo)
				b, err2 := strconv.Atoi(hi)
				if err1 != nil || err2 != nil {
					c.errorf("%s: net.ipv4.ip_local_reserved_ports %q: not a port list", id, s.Value)
					continue
				}
				spans = append(spans, [2]int{a, b})
			}
		}
	}
	reserved := func(p int) bool {
		return slices.ContainsFunc(spans, func(s [2]int) bool { return s[0] <= p && p <= s[1] })
	}
	ports := map[string]int{"daprd's gRPC API (dapr.io/sidecar-grpc-port)": 50001, "daprd's internal gRPC (dapr.io/sidecar-internal-grpc-port)": 50002}
	for _, k := range []string{"dapr.io/app-port", "dapr.io/metrics-port"} {
		if p, err := strconv.Atoi(ann[k]); err == nil {
			ports[k] = p
		}
	}
	for _, ctr := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		for _, p := range ctr.Ports {
			ports["container "+ctr.Name+" port "+p.Name] = int(p.ContainerPort)
		}
	}
	for _, what := range slices.Sorted(maps.Keys(ports)) {
		if p := ports[what]; p >= 32768 && p <= 60999 && !reserved(p) {
			c.errorf("%s: %s listens on %d, in the ephemeral range, and net.ipv4.ip_local_reserved_ports does not reserve it", id, what, p)
		}
	}
}

func checkProbe(c *checker, id string, ctr *corev1.Container, kind string, p *corev1.Probe, path string) {
	if p == nil || p.HTTPGet == nil {
		c.errorf("%s: container %s: no HTTP %s probe", id, ctr.Name, kind)
		return
	}
	if p.HTTPGet.Path != path {
		c.errorf("%s: container %s: %s probe on %s, want %s", id, ctr.Name, kind, p.HTTPGet.Path, path)
	}
	if !portOf(ctr, p.HTTPGet.Port.String()) {
		c.errorf("%s: container %s: %s probe on port %s, which the container does not expose", id, ctr.Name, kind, p.HTTPGet.Port.String())
	}
}

// portOf reports whether port (a number or a name) is one of ctr's ports.
func portOf(ctr *corev1.Container, port string) bool {
	for _, p := range ctr.Ports {
		if p.Name == port || strconv.Itoa(int(p.ContainerPort)) == port {
			return true
		}
	}
	return false
}

func (cl *cluster) checkHPA(c *checker, d *appsv1.Deployment) {
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	for _, h := range cl.hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name && h.Spec.ScaleTargetRef.APIVersion == "apps/v1" {
			hpa = h
		}
	}
	if hpa == nil {
		c.errorf("Deployment %s: no HorizontalPodAutoscaler", d.Name)
		return
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < c.p.minReplicas || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		c.errorf("HorizontalPodAutoscaler %s: want %d <= minReplicas <= maxReplicas", hpa.Name, c.p.minReplicas)
	}
	if len(hpa.Spec.Metrics) == 0 {
		c.errorf("HorizontalPodAutoscaler %s: no metrics", hpa.Name)
	}
	names := map[string]bool{}
	for _, ctr := range slices.Concat(d.Spec.Template.Spec.Containers, d.Spec.Template.Spec.InitContainers) {
		names[ctr.Name] = true
	}
	for _, m := range hpa.Spec.Metrics {
		switch {
		case m.ContainerResource != nil:
			if !names[m.ContainerResource.Container] {
				c.errorf("HorizontalPodAutoscaler %s: container %q is not in the pod", hpa.Name, m.ContainerResource.Container)
			}
			if m.ContainerResource.Name != corev1.ResourceCPU {
				c.errorf("HorizontalPodAutoscaler %s: scales on %s, want cpu", hpa.Name, m.ContainerResource.Name)
			}
		case m.Resource != nil:
			if m.Resource.Name != corev1.ResourceCPU {
				c.errorf("HorizontalPodAutoscaler %s: scales on %s, want cpu", hpa.Name, m.Resource.Name)
			}
		}
	}
}

func (cl *cluster) checkPDB(c *checker, d *appsv1.Deployment) {
	for _, p := range cl.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			return
		}
	}
	c.errorf("Deployment %s: no PodDisruptionBudget selects its pods", d.Name)
}

// checkWorkloads: every pod (Deployments and Jobs) runs as non-root with
// read-only root filesystems, no privilege escalation, no capabilities, the
// runtime's seccomp profile, requests and limits, and tagged images.
func (cl *cluster) checkWorkloads(c *checker) {
	type pod struct {
		id   string
		spec *corev1.PodSpec
	}
	var pods []pod
	for _, d := range cl.deployments {
		pods = append(pods, pod{"Deployment " + d.Name, &d.Spec.Template.Spec})
	}
	for _, j := range cl.jobs {
		pods = append(pods, pod{"Job " + j.Name, &j.Spec.Template.Spec})
	}
	for _, j := range cl.cronJobs {
		pods = append(pods, pod{"CronJob " + j.Name, &j.Spec.JobTemplate.Spec.Template.Spec})
	}
	for _, p := range pods {
		psc := p.spec.SecurityContext
		if psc == nil {
			psc = &corev1.PodSecurityContext{}
		}
		if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			c.errorf("%s: pod seccompProfile is not RuntimeDefault", p.id)
		}
		if p.spec.HostNetwork || p.spec.HostPID || p.spec.HostIPC {
			c.errorf("%s: shares a host namespace", p.id)
		}
		if p.spec.AutomountServiceAccountToken == nil || *p.spec.AutomountServiceAccountToken {
			c.errorf("%s: automountServiceAccountToken is not false", p.id)
		}
		for _, v := range p.spec.Volumes {
			if v.HostPath != nil {
				c.errorf("%s: hostPath volume %s", p.id, v.Name)
			}
		}
		for _, ctr := range slices.Concat(p.spec.InitContainers, p.spec.Containers) {
			id := p.id + ": container " + ctr.Name
			sc := ctr.SecurityContext
			if sc == nil {
				c.errorf("%s: no securityContext", id)
				continue
			}
			if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
				c.errorf("%s: runAsNonRoot is not true", id)
			}
			if (sc.RunAsUser != nil && *sc.RunAsUser == 0) || (psc.RunAsUser != nil && *psc.RunAsUser == 0) {
				c.errorf("%s: runAsUser 0", id)
			}
			if !isTrue(sc.ReadOnlyRootFilesystem) {
				c.errorf("%s: readOnlyRootFilesystem is not true", id)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				c.errorf("%s: allowPrivilegeEscalation is not false", id)
			}
			if isTrue(sc.Privileged) {
				c.errorf("%s: privileged", id)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				c.errorf("%s: capabilities must drop ALL and add none", id)
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := ctr.Resources.Requests[r]
				lim, okLim := ctr.Resources.Limits[r]
				if !okReq {
					c.errorf("%s: no %s requests", id, r)
				}
				if !okLim {
					c.errorf("%s: no %s limits", id, r)
				}
				if okReq && okLim && req.Cmp(lim) > 0 {
					c.errorf("%s: %s request %s exceeds the limit %s", id, r, req.String(), lim.String())
				}
			}
			_, tag, ok := strings.Cut(ctr.Image[strings.LastIndex(ctr.Image, "/")+1:], ":")
			if !ok || tag == "" || tag == "latest" || !strings.Contains(ctr.Image, "/") {
				c.errorf("%s: image %q needs a registry and a tag that is not latest", id, ctr.Image)
			}
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkComponents: the same component names and types as components/aws,
// each scoped, each app scoped to exactly what it needs, and the metadata
// of components/aws with literal values instead of envRef.
func (cl *cluster) checkComponents(c *checker, p profile) {
	ref, componentDifferences := p.ref, p.differences
	got := map[string]*daprComponent{}
	for _, comp := range cl.components {
		if got[comp.Metadata.Name] != nil {
			c.errorf("Component %s: defined twice", comp.Metadata.Name)
		}
		got[comp.Metadata.Name] = comp
	}
	if a, b := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(ref)); !slices.Equal(a, b) {
		c.errorf("components are %v, components/%s has %v: names must match (events, live, scanresults, blobstore, secrets)", a, p.name, b)
	}
	access := map[string][]string{}
	for name, comp := range got {
		if len(comp.Scopes) == 0 {
			c.errorf("Component %s: no scopes; every component is scoped to the apps that use it", name)
		}
		for _, s := range comp.Scopes {
			if _, ok := p.apps[s]; !ok {
				c.errorf("Component %s: scope %q is not an app-id", name, s)
			}
			access[s] = append(access[s], name)
		}
		r := ref[name]
		if r == nil {
			continue
		}
		if comp.Spec.Type != r.Spec.Type || comp.Spec.Version != r.Spec.Version {
			c.errorf("Component %s: type %s/%s, components/%s has %s/%s", name, comp.Spec.Type, comp.Spec.Version, p.name, r.Spec.Type, r.Spec.Version)
		}
		for _, m := range comp.Spec.Metadata {
			if m.EnvRef != "" {
				c.errorf("Component %s: metadata %s uses envRef; daprd in the cluster has no such variable", name, m.Name)
			}
			if slices.Contains(placeholders, m.value()) {
				c.errorf("Component %s: metadata %s is still the placeholder %q", name, m.Name, m.value())
			}
			rm, ok := r.meta(m.Name)
			switch {
			case componentDifferences[m.Name] == "dropped":
				c.errorf("Component %s: metadata %s is for emulators only (endpoint is empty in AWS)", name, m.Name)
			case componentDifferences[m.Name] == "located":
				// Where this environment's server is, or its credentials:
				// components/local names the one on 127.0.0.1.
			case componentDifferences[m.Name] == "prefixed":
				if !strings.HasPrefix(m.value(), "intellidox-") {
					c.errorf("Component %s: consumerID %q lacks the intellidox- prefix", name, m.value())
				}
			case !ok:
				c.errorf("Component %s: metadata %s is not in components/%s", name, m.Name, p.name)
			case rm.EnvRef == "" && rm.value() != m.value():
				c.errorf("Component %s: metadata %s is %q, components/%s has %q", name, m.Name, m.value(), p.name, rm.value())
			}
		}
		for _, rm := range r.Spec.Metadata {
			if _, ok := comp.meta(rm.Name); !ok && componentDifferences[rm.Name] != "dropped" && componentDifferences[rm.Name] != "optional" {
				c.errorf("Component %s: metadata %s of components/%s is missing", name, rm.Name, p.name)
			}
		}
	}
	for app, want := range p.apps {
		have := slices.Sorted(slices.Values(access[app]))
		if !slices.Equal(have, want) {
			c.errorf("app %s is in the scopes of %v, want exactly %v", app, have, want)
		}
	}
	for _, r := range cl.resiliencies {
		for _, s := range r.Scopes {
			if _, ok := p.apps[s]; !ok {
				c.errorf("Resiliency %s: scope %q is not an app-id", r.Metadata.Name, s)
			}
		}
		for target := range r.Spec.Targets.Components {
			if got[target] == nil {
				c.errorf("Resiliency %s: target component %s does not exist", r.Metadata.Name, target)
			}
		}
	}
}

func (cl *cluster) checkDaprConfig(c *checker, p profile) {
	if len(cl.configurations) != 1 {
		c.errorf("want one Dapr Configuration, got %d", len(cl.configurations))
		return
	}
	conf := cl.configurations[0]
	tr := conf.Spec.Tracing
	exports := tr != nil && (tr.Otel != nil || tr.Zipkin != nil)
	switch {
	case tr == nil || tr.SamplingRate == "":
		c.errorf("Configuration %s: tracing with a sampling rate is required (trace context through every hop)", conf.Metadata.Name)
	case p.collector && !exports:
		c.errorf("Configuration %s: tracing with an exporter is required", conf.Metadata.Name)
	case !p.collector && exports:
		c.errorf("Configuration %s: tracing exports spans where no collector runs", conf.Metadata.Name)
	}
	if len(cl.resiliencies) != 1 {
		c.errorf("want one Dapr Resiliency, got %d", len(cl.resiliencies))
	}
}

// retryBudget is the longest time the sidecar can spend retrying one
// delivery under the policy: Dapr's exponential backoff starts at 500 ms
// (the CRD cannot change it), grows by 1.5, is capped at maxInterval, and
// each wait is randomized by up to +50%.
func (r *daprResiliency) retryBudget(component string) (time.Duration, error) {
	name := r.Spec.Targets.Components[component].Inbound.Retry
	if name == "" {
		return 0, nil
	}
	p, ok := r.Spec.Policies.Retries[name]
	if !ok {
		return 0, fmt.Errorf("retry policy %s is not defined", name)
	}
	if p.MaxRetries == nil || *p.MaxRetries < 0 {
		return 0, fmt.Errorf("retry policy %s retries forever", name)
	}
	var total time.Duration
	switch p.Policy {
	case "constant", "":
		d := 5 * time.Second
		if p.Duration != "" {
			var err error
			if d, err = time.ParseDuration(p.Duration); err != nil {
				return 0, err
			}
		}
		total = time.Duration(*p.MaxRetries) * d
	case "exponential":
		maxI := time.Minute
		if p.MaxInterval != "" {
			var err error
			if maxI, err = time.ParseDuration(p.MaxInterval); err != nil {
				return 0, err
			}
		}
		for i := range *p.MaxRetries {
			wait := time.Duration(float64(500*time.Millisecond) * math.Pow(1.5, float64(i)))
			total += time.Duration(1.5 * float64(min(wait, maxI)))
		}
	default:
		return 0, fmt.Errorf("retry policy %s: unknown policy %q", name, p.Policy)
	}
	return total, nil
}

// checkVisibility: an SQS message must stay invisible for longer than the
// slowest scan plus the sidecar's retries, or a second replica gets it.
func (cl *cluster) checkVisibility(c *checker, p profile) {
	var events *daprComponent
	for _, comp := range cl.components {
		if comp.Metadata.Name == "events" {
			events = comp
		}
	}
	if events == nil || len(cl.resiliencies) == 0 {
		return
	}
	m, _ := events.meta(p.queue)
	var visibility time.Duration
	var err error
	if p.queue == "messageVisibilityTimeout" {
		var secs int
		secs, err = strconv.Atoi(m.value())
		visibility = time.Duration(secs) * time.Second
	} else {
		visibility, err = time.ParseDuration(m.value())
	}
	if err != nil {
		c.errorf("Component events: %s %q: %v", p.queue, m.value(), err)
		return
	}
	budget, err := cl.resiliencies[0].retryBudget("events")
	if err != nil {
		c.errorf("Resiliency: %v", err)
		return
	}
	if p.queue != "messageVisibilityTimeout" {
		// Redis streams: the sidecar acknowledges after its retries, but a
		// pending message is claimed by another consumer only after
		// processingTimeout of silence, so the scan alone must fit.
		budget = 0
	}
	for app := range c.p.apps {
		d := cl.deployment(app)
		if d == nil || !projectScanner(app) {
			continue
		}
		ctr, err := appContainer(&d.Spec.Template.Spec, d.Spec.Template.Annotations["dapr.io/app-port"])
		if err != nil {
			continue
		}
		st := cl.env(ctr)["SCAN_TIMEOUT"]
		timeout, err := time.ParseDuration(st)
		if err != nil {
			c.errorf("Deployment %s: SCAN_TIMEOUT %q: %v", app, st, err)
			continue
		}
		if timeout+budget >= visibility {
			c.errorf("Deployment %s: the events visibility timeout (%s) %s must exceed SCAN_TIMEOUT %s plus the retry backoff %s", app, p.queue, visibility, timeout, budget.Round(time.Second))
		}
	}
}

// checkCredentials: no credential in any manifest. Secrets are created
// outside the manifests (kubectl, External Secrets); the manifests only
// reference them.
func (cl *cluster) checkCredentials(c *checker) {
	for _, s := range cl.secrets {
		if len(s.Data) > 0 || len(s.StringData) > 0 {
			c.errorf("Secret %s carries data; create secrets outside the manifests", s.Name)
		}
	}
	for _, comp := range cl.components {
		for _, m := range comp.Spec.Metadata {
			if credentialNames.MatchString(m.Name) && (m.Value != nil || m.EnvRef != "") {
				c.errorf("Component %s: credential %s in metadata; daprd takes AWS credentials from the pod's IAM role", comp.Metadata.Name, m.Name)
			}
		}
	}
	for _, d := range cl.deployments {
		for _, ctr := range slices.Concat(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers) {
			checkEnvCredentials(c, "Deployment "+d.Name, ctr)
		}
	}
	for _, j := range cl.jobs {
		for _, ctr := range j.Spec.Template.Spec.Containers {
			checkEnvCredentials(c, "Job "+j.Name, ctr)
		}
	}
	for _, cm := range cl.configMaps {
		for k := range cm.Data {
			if credentialNames.MatchString(k) || k == "DATABASE_URL" {
				c.errorf("ConfigMap %s: credential %s", cm.Name, k)
			}
		}
	}
	for _, re := range credentialValues {
		if m := re.FindString(cl.text); m != "" {
			c.errorf("a credential-like value %q appears in the manifests", m)
		}
	}
}

func checkEnvCredentials(c *checker, id string, ctr corev1.Container) {
	for _, e := range ctr.Env {
		if (credentialNames.MatchString(e.Name) || e.Name == "DATABASE_URL") && e.ValueFrom == nil {
			c.errorf("%s: container %s: %s is a literal value; credentials come from a Secret (secretKeyRef)", id, ctr.Name, e.Name)
		}
	}
}

// checkMigration: a Job runs `/app/api -migrate-only` with the database
// URL from a Secret.
func (cl *cluster) checkMigration(c *checker) {
	for _, j := range cl.jobs {
		for _, ctr := range j.Spec.Template.Spec.Containers {
			if !slices.Contains(slices.Concat(ctr.Command, ctr.Args), "/app/api") {
				continue
			}
			if !slices.Contains(slices.Concat(ctr.Command, ctr.Args), "-migrate-only") {
				c.errorf("Job %s: the api must run with -migrate-only", j.Name)
			}
			if !strings.HasPrefix(cl.env(&ctr)["DATABASE_URL"], "secret:") {
				c.errorf("Job %s: DATABASE_URL must come from a Secret", j.Name)
			}
			if j.Spec.Template.Annotations["dapr.io/enabled"] == "true" {
				c.errorf("Job %s: a sidecar would keep the migration Job from completing", j.Name)
			}
			return
		}
	}
	c.errorf("no migration Job running /app/api")
}

// checkClamAV: clamd runs beside the clamav scanner, and freshclam keeps
// its signature directory current.
func (cl *cluster) checkClamAV(c *checker, p profile) {
	d := cl.deployment("scanner-clamav")
	if d == nil {
		return
	}
	spec := d.Spec.Template.Spec
	all := slices.Concat(spec.InitContainers, spec.Containers)
	var clamd, fresh *corev1.Container
	for i := range all {
		cmd := strings.Join(slices.Concat(all[i].Command, all[i].Args), " ")
		switch {
		case strings.HasPrefix(cmd, "clamd"):
			clamd = &all[i]
		case strings.HasPrefix(cmd, "freshclam") && strings.Contains(cmd, "--daemon"):
			fresh = &all[i]
		}
	}
	if clamd == nil {
		c.errorf("Deployment scanner-clamav: no clamd container")
	}
	if !p.freshclam {
		// The project's signature set, read-only from a ConfigMap.
		if fresh != nil {
			c.errorf("Deployment scanner-clamav: freshclam runs, but %s has no internet to update from", p.name)
		}
		if clamd != nil && !slices.ContainsFunc(clamd.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.MountPath == "/var/lib/clamav" && slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool {
				return v.Name == m.Name && v.ConfigMap != nil
			})
		}) {
			c.errorf("Deployment scanner-clamav: clamd's /var/lib/clamav is not the signatures ConfigMap")
		}
	} else if fresh == nil {
		c.errorf("Deployment scanner-clamav: no freshclam daemon keeping the official signatures current")
	} else if !slices.ContainsFunc(spec.InitContainers, func(x corev1.Container) bool {
		return x.Name == fresh.Name && x.RestartPolicy != nil && *x.RestartPolicy == corev1.ContainerRestartPolicyAlways
	}) && !slices.ContainsFunc(spec.Containers, func(x corev1.Container) bool { return x.Name == fresh.Name }) {
		c.errorf("Deployment scanner-clamav: freshclam must run for the pod's lifetime")
	}
	if clamd != nil && fresh != nil && !sharesMount(clamd, fresh) {
		c.errorf("Deployment scanner-clamav: freshclam and clamd share no signature volume")
	}
	if clamd != nil {
		// The kubelet probes the pod IP; clamd on loopback never answers there.
		for _, p := range []*corev1.Probe{clamd.StartupProbe, clamd.LivenessProbe, clamd.ReadinessProbe} {
			if p != nil && (p.TCPSocket != nil || p.HTTPGet != nil) {
				c.errorf("Deployment scanner-clamav: clamd listens on 127.0.0.1 only, which a tcpSocket or httpGet probe (dialing the pod IP) never reaches; probe with exec")
			}
		}
	}
	for _, cm := range cl.configMaps {
		for file, conf := range cm.Data {
			// clamd and freshclam refuse a symlinked log file, and
			// /dev/stdout is one in every container runtime.
			if m := regexp.MustCompile(`(?m)^\s*(LogFile|UpdateLogFile)\s+/dev/`).FindString(conf); m != "" {
				c.errorf("ConfigMap %s: %s sets %q; clamd and freshclam then fail at start (log to stdout by leaving it out)", cm.Name, file, strings.TrimSpace(m))
			}
		}
	}
	if ctr, err := appContainer(&spec, d.Spec.Template.Annotations["dapr.io/app-port"]); err == nil {
		if addr := cl.env(ctr)["CLAMD_ADDR"]; !strings.HasPrefix(addr, "127.0.0.1:") {
			c.errorf("Deployment scanner-clamav: CLAMD_ADDR %q should be clamd on the pod's loopback", addr)
		}
	}
}

func sharesMount(a, b *corev1.Container) bool {
	for _, x := range a.VolumeMounts {
		for _, y := range b.VolumeMounts {
			if x.Name == y.Name && x.MountPath == y.MountPath && !x.ReadOnly && !y.ReadOnly {
				return true
			}
		}
	}
	return false
}

// checkServiceAccounts: each app runs under its own ServiceAccount with an
// IRSA role in the configured account.
func (cl *cluster) checkServiceAccounts(c *checker) {
	arn := regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:role/intellidox-[a-z-]+$`)
	for app := range c.p.apps {
		d := cl.deployment(app)
		if d == nil {
			continue
		}
		sa := d.Spec.Template.Spec.ServiceAccountName
		var found *corev1.ServiceAccount
		for _, s := range cl.serviceAccounts {
			if s.Name == sa {
				found = s
			}
		}
		if sa == "" || sa == "default" || found == nil {
			c.errorf("Deployment %s: runs as ServiceAccount %q, want its own", app, sa)
			continue
		}
		role := found.Annotations["eks.amazonaws.com/role-arn"]
		if !arn.MatchString(role) || strings.Contains(role, "000000000000") {
			c.errorf("ServiceAccount %s: eks.amazonaws.com/role-arn %q is not an IntelliDox role in the configured account", sa, role)
		}
	}
}

func (cl *cluster) checkNetwork(c *checker, p profile) {
	deny := slices.ContainsFunc(cl.networkPolicies, func(p *networkingv1.NetworkPolicy) bool {
		return len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 &&
			len(p.Spec.Ingress) == 0 && slices.Contains(p.Spec.PolicyTypes, "Ingress")
	})
	if !deny {
		c.errorf("no default-deny ingress NetworkPolicy")
	}
	for _, s := range cl.services {
		if s.Spec.Type == corev1.ServiceTypeNodePort && slices.Contains(p.nodePorts, s.Name) {
			continue
		}
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer || s.Spec.Type == corev1.ServiceTypeNodePort {
			c.errorf("Service %s: type %s; expose the api through the Ingress", s.Name, s.Spec.Type)
		}
	}
}
