package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// overlay is the kustomization the mutation test breaks: what a user
// applies to EKS. TestRenderedManifests checks every overlays/* directory.
const overlay = "overlays/aws"

// render builds a kustomization in-process, as `kubectl apply -k` would,
// and returns each resource as a generic document.
func render(t *testing.T, dir string) []map[string]any {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var docs []map[string]any
	for _, r := range resources.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %v", r.CurId(), err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", r.CurId(), err)
		}
		docs = append(docs, doc)
	}
	return docs
}

// cluster is a rendered set of manifests, decoded into typed objects.
type cluster struct {
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	serviceAccounts []*corev1.ServiceAccount
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	namespaces      []*corev1.Namespace
	jobs            []*batchv1.Job
	cronJobs        []*batchv1.CronJob
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	pdbs            []*policyv1.PodDisruptionBudget
	networkPolicies []*networkingv1.NetworkPolicy
	ingresses       []*networkingv1.Ingress
	components      []*daprComponent
	configurations  []*daprConfiguration
	resiliencies    []*daprResiliency
	// text is every document as YAML, for the credential scan.
	text string
	// unnamespaced lists the objects the overlay left without a namespace.
	unnamespaced []string
}

// decode decodes every document strictly: an unknown field, a wrong type
// or an unknown kind is an error.
func decode(docs []map[string]any) (*cluster, error) {
	c := &cluster{}
	var text strings.Builder
	for i, doc := range docs {
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		y, _ := yaml.JSONToYAML(b)
		text.Write(y)
		text.WriteString("---\n")
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(b, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		name, _ := doc["metadata"].(map[string]any)["name"].(string)
		id := tm.APIVersion + " " + tm.Kind + " " + name
		if ns, _ := doc["metadata"].(map[string]any)["namespace"].(string); ns == "" && tm.Kind != "Namespace" {
			c.unnamespaced = append(c.unnamespaced, id)
		}
		into, err := c.slot(tm)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		if err := yaml.UnmarshalStrict(b, into); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
	}
	c.text = text.String()
	return c, nil
}

// slot returns a new typed object for the document's kind, already
// appended to the cluster.
func (c *cluster) slot(tm metav1.TypeMeta) (any, error) {
	switch tm.APIVersion + "/" + tm.Kind {
	case "apps/v1/Deployment":
		return add(&c.deployments), nil
	case "v1/Service":
		return add(&c.services), nil
	case "v1/ServiceAccount":
		return add(&c.serviceAccounts), nil
	case "v1/ConfigMap":
		return add(&c.configMaps), nil
	case "v1/Secret":
		return add(&c.secrets), nil
	case "v1/Namespace":
		return add(&c.namespaces), nil
	case "batch/v1/Job":
		return add(&c.jobs), nil
	case "batch/v1/CronJob":
		return add(&c.cronJobs), nil
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return add(&c.hpas), nil
	case "policy/v1/PodDisruptionBudget":
		return add(&c.pdbs), nil
	case "networking.k8s.io/v1/NetworkPolicy":
		return add(&c.networkPolicies), nil
	case "networking.k8s.io/v1/Ingress":
		return add(&c.ingresses), nil
	case "dapr.io/v1alpha1/Component":
		return add(&c.components), nil
	case "dapr.io/v1alpha1/Configuration":
		return add(&c.configurations), nil
	case "dapr.io/v1alpha1/Resiliency":
		return add(&c.resiliencies), nil
	}
	return nil, fmt.Errorf("unexpected kind %s %s: add it to the render test", tm.APIVersion, tm.Kind)
}

func add[T any](list *[]*T) *T {
	v := new(T)
	*list = append(*list, v)
	return v
}

// The Dapr resources, shaped as the CRDs of Dapr 1.18 define them
// (charts/dapr/crds): strict decoding rejects a field the API server would
// reject.

type daprComponent struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Type         string         `json:"type"`
		Version      string         `json:"version"`
		IgnoreErrors bool           `json:"ignoreErrors,omitempty"`
		InitTimeout  string         `json:"initTimeout,omitempty"`
		Metadata     []daprMetadata `json:"metadata"`
	} `json:"spec"`
	Auth *struct {
		SecretStore string `json:"secretStore"`
	} `json:"auth,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
}

type daprMetadata struct {
	Name         string `json:"name"`
	Value        any    `json:"value,omitempty"`
	EnvRef       string `json:"envRef,omitempty"`
	SecretKeyRef *struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	} `json:"secretKeyRef,omitempty"`
}

// value returns the metadata item's literal value as a string.
func (m daprMetadata) value() string {
	if m.Value == nil {
		return ""
	}
	if s, ok := m.Value.(string); ok {
		return s
	}
	return fmt.Sprint(m.Value)
}

func (c *daprComponent) meta(name string) (daprMetadata, bool) {
	for _, m := range c.Spec.Metadata {
		if m.Name == name {
			return m, true
		}
	}
	return daprMetadata{}, false
}

type daprConfiguration struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Tracing *struct {
			SamplingRate string `json:"samplingRate"`
			Stdout       *bool  `json:"stdout,omitempty"`
			Zipkin       *struct {
				EndpointAddress string `json:"endpointAddress"`
			} `json:"zipkin,omitempty"`
			Otel *struct {
				Protocol        string            `json:"protocol"`
				EndpointAddress string            `json:"endpointAddress"`
				IsSecure        *bool             `json:"isSecure"`
				Headers         []json.RawMessage `json:"headers,omitempty"`
				Timeout         string            `json:"timeout,omitempty"`
			} `json:"otel,omitempty"`
		} `json:"tracing,omitempty"`
		Metric  *daprMetricSpec `json:"metric,omitempty"`
		Metrics *daprMetricSpec `json:"metrics,omitempty"`
		MTLS    *struct {
			Enabled                 *bool             `json:"enabled"`
			WorkloadCertTTL         string            `json:"workloadCertTTL,omitempty"`
			AllowedClockSkew        string            `json:"allowedClockSkew,omitempty"`
			SentryAddress           string            `json:"sentryAddress,omitempty"`
			ControlPlaneTrustDomain string            `json:"controlPlaneTrustDomain,omitempty"`
			TokenValidators         []json.RawMessage `json:"tokenValidators,omitempty"`
		} `json:"mtls,omitempty"`
		Logging *struct {
			APILogging *struct {
				Enabled          *bool `json:"enabled,omitempty"`
				ObfuscateURLs    *bool `json:"obfuscateURLs,omitempty"`
				OmitHealthChecks *bool `json:"omitHealthChecks,omitempty"`
			} `json:"apiLogging,omitempty"`
		} `json:"logging,omitempty"`
		AccessControl *struct {
			DefaultAction string            `json:"defaultAction,omitempty"`
			TrustDomain   string            `json:"trustDomain,omitempty"`
			Policies      []json.RawMessage `json:"policies,omitempty"`
		} `json:"accessControl,omitempty"`
		Features []struct {
			Name    string `json:"name"`
			Enabled *bool  `json:"enabled"`
		} `json:"features,omitempty"`
		Secrets         json.RawMessage `json:"secrets,omitempty"`
		API             json.RawMessage `json:"api,omitempty"`
		Components      json.RawMessage `json:"components,omitempty"`
		NameResolution  json.RawMessage `json:"nameResolution,omitempty"`
		HTTPPipeline    json.RawMessage `json:"httpPipeline,omitempty"`
		AppHTTPPipeline json.RawMessage `json:"appHttpPipeline,omitempty"`
	} `json:"spec"`
}

type daprMetricSpec struct {
	Enabled *bool           `json:"enabled"`
	HTTP    json.RawMessage `json:"http,omitempty"`
}

type daprResiliency struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Policies struct {
			Timeouts map[string]string `json:"timeouts,omitempty"`
			Retries  map[string]struct {
				Policy      string `json:"policy,omitempty"`
				Duration    string `json:"duration,omitempty"`
				MaxInterval string `json:"maxInterval,omitempty"`
				MaxRetries  *int   `json:"maxRetries,omitempty"`
				Matching    *struct {
					HTTPStatusCodes string `json:"httpStatusCodes,omitempty"`
					GRPCStatusCodes string `json:"gRPCStatusCodes,omitempty"`
				} `json:"matching,omitempty"`
			} `json:"retries,omitempty"`
			CircuitBreakers map[string]struct {
				MaxRequests int    `json:"maxRequests,omitempty"`
				Interval    string `json:"interval,omitempty"`
				Timeout     string `json:"timeout,omitempty"`
				Trip        string `json:"trip,omitempty"`
			} `json:"circuitBreakers,omitempty"`
		} `json:"policies"`
		Targets struct {
			Apps       map[string]daprPolicyNames `json:"apps,omitempty"`
			Actors     map[string]json.RawMessage `json:"actors,omitempty"`
			Components map[string]struct {
				Inbound  daprPolicyNames `json:"inbound,omitempty"`
				Outbound daprPolicyNames `json:"outbound,omitempty"`
			} `json:"components,omitempty"`
		} `json:"targets"`
	} `json:"spec"`
	Scopes []string `json:"scopes,omitempty"`
}

type daprPolicyNames struct {
	Timeout                 string `json:"timeout,omitempty"`
	Retry                   string `json:"retry,omitempty"`
	CircuitBreaker          string `json:"circuitBreaker,omitempty"`
	CircuitBreakerCacheSize int    `json:"circuitBreakerCacheSize,omitempty"`
}

// awsProfile is EKS: components/aws, freshclam, IRSA, no NodePorts.
func awsProfile(t *testing.T) profile {
	return profile{name: "aws", ref: readComponents(t, "aws"),
		differences: map[string]string{"endpoint": "dropped", "consumerID": "prefixed"},
		queue:       "messageVisibilityTimeout", freshclam: true, irsa: true, minReplicas: 2, apps: baseApps,
		collector: true}
}

// localK8sProfile is the local cluster of scripts/k8s.sh: components/local
// (Redis, versitygw), with the api's environment as "secrets"
// (components/local has none: local runs read no secrets), the project's
// signature set, and NodePorts on the node address for the host.
func localK8sProfile(t *testing.T) profile {
	ref := readComponents(t, "local")
	secrets := &daprComponent{}
	secrets.Metadata.Name = "secrets"
	secrets.Spec.Type, secrets.Spec.Version = "secretstores.local.env", "v1"
	ref["secrets"] = secrets
	apps := withApp(baseApps, "scanner-node-example", "blobstore", "events", "scanresults")
	return profile{name: "local", ref: ref,
		// No password on the cluster's own Redis, as on the local one. The
		// servers' addresses and credentials are the cluster's (its NATS
		// for storage events too), where components/local has the literal
		// ones of make infra.
		differences: map[string]string{"consumerID": "prefixed", "redisPassword": "optional",
			"redisHost": "located", "endpoint": "located", "accessKey": "located", "secretKey": "located",
			"natsURL": "located"},
		queue: "processingTimeout", nodePorts: []string{"api-node", "versitygw-node"},
		// One replica each on a two-core node.
		minReplicas: 1,
		// The Node example scanner (node-example.yaml), as in dapr.yaml.
		apps: apps}
}

// withApp returns apps with one more app-id and its components.
func withApp(apps map[string][]string, id string, components ...string) map[string][]string {
	out := maps.Clone(apps)
	out[id] = components
	return out
}

// profileFor is the environment an overlay directory targets.
func profileFor(t *testing.T, dir string) profile {
	if filepath.Base(dir) == "local-k8s" {
		return localK8sProfile(t)
	}
	return awsProfile(t)
}

// readComponents reads components/<env>, the reference the cluster's
// components must match by name and type.
func readComponents(t *testing.T, env string) map[string]*daprComponent {
	t.Helper()
	files, err := filepath.Glob("../components/" + env + "/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("components/%s: %v (%d files)", env, err, len(files))
	}
	out := map[string]*daprComponent{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(b, []byte("\n---")) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if tm.Kind != "Component" {
				continue
			}
			c := &daprComponent{}
			if err := yaml.UnmarshalStrict(doc, c); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[c.Metadata.Name] = c
		}
	}
	return out
}

// TestRenderedManifests checks every overlay, so that an environment's
// copy of overlays/aws (staging, prod) is held to the same invariants.
func TestRenderedManifests(t *testing.T) {
	dirs, err := filepath.Glob("overlays/*")
	if err != nil || !slices.Contains(dirs, overlay) {
		t.Fatalf("overlays: %v %v", dirs, err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c, err := decode(render(t, dir))
			if err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			for _, err := range c.check(profileFor(t, dir)) {
				t.Error(err)
			}
		})
	}
}

// TestBaseRenders keeps the base buildable on its own, for overlays other
// than AWS.
func TestBaseRenders(t *testing.T) {
	if _, err := decode(render(t, "base")); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
}

// TestChecksCatchMutations proves the checks can fail: each mutation of
// the rendered overlay breaks one invariant and must be reported.
func TestChecksCatchMutations(t *testing.T) {
	ref := awsProfile(t)
	rendered := render(t, overlay)
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			docs := deepCopy(t, rendered)
			m.mutate(t, &docs)
			c, err := decode(docs)
			var errs []error
			if err != nil {
				errs = []error{err}
			} else {
				errs = c.check(ref)
			}
			if len(errs) == 0 {
				t.Fatalf("mutation not caught; want an error mentioning %q", m.want)
			}
			for _, e := range errs {
				if strings.Contains(e.Error(), m.want) {
					t.Logf("caught: %v", e)
					return
				}
			}
			t.Fatalf("want an error mentioning %q, got %v", m.want, errs)
		})
	}
}

// TestLocalK8sChecksCatchMutations proves the local cluster's own checks
// can fail, as TestChecksCatchMutations does for overlays/aws.
func TestLocalK8sChecksCatchMutations(t *testing.T) {
	p := localK8sProfile(t)
	rendered := render(t, "overlays/local-k8s")
	if c, err := decode(rendered); err != nil || len(c.check(p)) != 0 {
		t.Fatalf("unmutated overlay: %v %v", err, c.check(p))
	}
	metadata := func(docs []map[string]any, comp, name string) map[string]any {
		for _, m := range dig(find(t, docs, "Component", comp), "spec", "metadata").([]any) {
			if m.(map[string]any)["name"] == name {
				return m.(map[string]any)
			}
		}
		t.Fatalf("Component %s has no %s", comp, name)
		return nil
	}
	for _, m := range []mutation{
		{"component type of AWS", "components/local has", func(t *testing.T, docs *[]map[string]any) {
			find(t, *docs, "Component", "scanresults")["spec"].(map[string]any)["type"] = "state.aws.dynamodb"
		}},
		{"literal S3 key in a component", "credential", func(t *testing.T, docs *[]map[string]any) {
			m := metadata(*docs, "blobstore", "accessKey")
			delete(m, "secretKeyRef")
			m["value"] = "intellidox"
		}},
		{"processingTimeout below SCAN_TIMEOUT", "visibility", func(t *testing.T, docs *[]map[string]any) {
			metadata(*docs, "events", "processingTimeout")["value"] = "10s"
		}},
		{"another Service as NodePort", "type NodePort", func(t *testing.T, docs *[]map[string]any) {
			find(t, *docs, "Service", "redis")["spec"].(map[string]any)["type"] = "NodePort"
		}},
		{"spans exported to no collector", "no collector", func(t *testing.T, docs *[]map[string]any) {
			find(t, *docs, "Configuration", "intellidox")["spec"].(map[string]any)["tracing"] = map[string]any{
				"samplingRate": "1", "otel": map[string]any{"endpointAddress": "otel-collector.observability.svc.cluster.local:4317", "protocol": "grpc"}}
		}},
		{"signatures not from the ConfigMap", "signatures ConfigMap", func(t *testing.T, docs *[]map[string]any) {
			for _, v := range podSpec(find(t, *docs, "Deployment", "scanner-clamav"))["volumes"].([]any) {
				if v := v.(map[string]any); v["name"] == "clamav-db" {
					delete(v, "configMap")
					v["emptyDir"] = map[string]any{}
				}
			}
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			docs := deepCopy(t, rendered)
			m.mutate(t, &docs)
			c, err := decode(docs)
			errs := []error{err}
			if err == nil {
				errs = c.check(p)
			}
			for _, e := range errs {
				if e != nil && strings.Contains(e.Error(), m.want) {
					t.Logf("caught: %v", e)
					return
				}
			}
			t.Fatalf("want an error mentioning %q, got %v", m.want, errs)
		})
	}
}

func deepCopy(t *testing.T, docs []map[string]any) []map[string]any {
	t.Helper()
	b, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// find returns the rendered document of kind and name.
func find(t *testing.T, docs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, d := range docs {
		if d["kind"] == kind && strings.HasPrefix(dig(d, "metadata", "name").(string), name) {
			return d
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

// remove deletes the rendered document of kind and name.
func remove(t *testing.T, docs *[]map[string]any, kind, name string) {
	t.Helper()
	d := find(t, *docs, kind, name)
	*docs = slices.DeleteFunc(*docs, func(x map[string]any) bool { return fmt.Sprint(x) == fmt.Sprint(d) })
}

// dig walks maps by key and lists by index.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// podSpec returns a Deployment's or Job's pod spec.
func podSpec(d map[string]any) map[string]any {
	return dig(d, "spec", "template", "spec").(map[string]any)
}

// container returns the named container (or init container) of a pod spec.
func container(t *testing.T, spec map[string]any, name string) map[string]any {
	t.Helper()
	for _, list := range []string{"containers", "initContainers"} {
		cs, _ := spec[list].([]any)
		for _, c := range cs {
			if c.(map[string]any)["name"] == name {
				return c.(map[string]any)
			}
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

func annotations(d map[string]any) map[string]any {
	return dig(d, "spec", "template", "metadata", "annotations").(map[string]any)
}

func setEnv(c map[string]any, name string, value any) {
	envs, _ := c["env"].([]any)
	for i, e := range envs {
		if e.(map[string]any)["name"] == name {
			envs[i] = map[string]any{"name": name, "value": value}
			return
		}
	}
	c["env"] = append(envs, map[string]any{"name": name, "value": value})
}

type mutation struct {
	name   string
	want   string // a substring of the error that must be reported
	mutate func(t *testing.T, docs *[]map[string]any)
}

var mutations = []mutation{
	{"unknown field in a Deployment", "unknown field", func(t *testing.T, docs *[]map[string]any) {
		find(t, *docs, "Deployment", "api")["spec"].(map[string]any)["replica"] = 3
	}},
	{"unknown field in a container", "unknown field", func(t *testing.T, docs *[]map[string]any) {
		container(t, podSpec(find(t, *docs, "Deployment", "extractor")), "extractor")["readinesProbe"] = map[string]any{}
	}},
	{"unknown field in a Component", "unknown field", func(t *testing.T, docs *[]map[string]any) {
		find(t, *docs, "Component", "events")["spec"].(map[string]any)["scopes"] = []any{"api"}
	}},
	{"initialInterval in Resiliency (not in the CRD)", "unknown field", func(t *testing.T, docs *[]map[string]any) {
		r := dig(find(t, *docs, "Resiliency", "intellidox"), "spec", "policies", "retries", "eventDelivery").(map[string]any)
		r["initialInterval"] = "200ms"
	}},
	{"unexpected kind", "unexpected kind", func(t *testing.T, docs *[]map[string]any) {
		*docs = append(*docs, map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "x"}})
	}},
	{"Dapr not enabled", "dapr.io/enabled", func(t *testing.T, docs *[]map[string]any) {
		annotations(find(t, *docs, "Deployment", "extractor"))["dapr.io/enabled"] = "false"
	}},
	{"clamd probed on the pod IP (it listens on loopback)", "probe with exec", func(t *testing.T, docs *[]map[string]any) {
		spec := podSpec(find(t, *docs, "Deployment", "scanner-clamav"))
		for _, c := range spec["initContainers"].([]any) {
			if c := c.(map[string]any); c["name"] == "clamd" {
				c["startupProbe"] = map[string]any{"tcpSocket": map[string]any{"port": 3310}}
			}
		}
	}},
	{"reputation scanner without a writable /tmp (it stages archives)", "stages files", func(t *testing.T, docs *[]map[string]any) {
		delete(container(t, podSpec(find(t, *docs, "Deployment", "scanner-reputation")), "scanner"), "volumeMounts")
	}},
	{"clamd logs to /dev/stdout (a symlink clamd refuses)", "LogFile", func(t *testing.T, docs *[]map[string]any) {
		data := find(t, *docs, "ConfigMap", "clamav-config")["data"].(map[string]any)
		data["clamd.conf"] = "LogFile /dev/stdout\n" + data["clamd.conf"].(string)
	}},
	{"daprd's ports not reserved (an outbound connection takes 50002)", "ip_local_reserved_ports does not reserve it", func(t *testing.T, docs *[]map[string]any) {
		delete(podSpec(find(t, *docs, "Deployment", "api"))["securityContext"].(map[string]any), "sysctls")
	}},
	{"app-id missing", "dapr.io/app-id", func(t *testing.T, docs *[]map[string]any) {
		delete(annotations(find(t, *docs, "Deployment", "scanner-yara")), "dapr.io/app-id")
	}},
	{"app-port not the container port", "app-port", func(t *testing.T, docs *[]map[string]any) {
		annotations(find(t, *docs, "Deployment", "api"))["dapr.io/app-port"] = "9999"
	}},
	{"config names no Configuration", "dapr.io/config", func(t *testing.T, docs *[]map[string]any) {
		annotations(find(t, *docs, "Deployment", "api"))["dapr.io/config"] = "other"
	}},
	{"sidecar memory limit missing", "dapr.io/sidecar-memory-limit", func(t *testing.T, docs *[]map[string]any) {
		delete(annotations(find(t, *docs, "Deployment", "scanner-reputation")), "dapr.io/sidecar-memory-limit")
	}},
	{"API logging on", "dapr.io/enable-api-logging", func(t *testing.T, docs *[]map[string]any) {
		annotations(find(t, *docs, "Deployment", "api"))["dapr.io/enable-api-logging"] = "true"
	}},
	{"Dapr API token off", "dapr.io/api-token-secret", func(t *testing.T, docs *[]map[string]any) {
		delete(annotations(find(t, *docs, "Deployment", "extractor")), "dapr.io/api-token-secret")
	}},
	{"app without DAPR_API_TOKEN", "DAPR_API_TOKEN", func(t *testing.T, docs *[]map[string]any) {
		c := container(t, podSpec(find(t, *docs, "Deployment", "scanner-clamav")), "scanner")
		c["env"] = slices.DeleteFunc(c["env"].([]any), func(e any) bool { return e.(map[string]any)["name"] == "DAPR_API_TOKEN" })
	}},
	{"scanner concurrency above SCAN_CONCURRENCY", "app-max-concurrency", func(t *testing.T, docs *[]map[string]any) {
		annotations(find(t, *docs, "Deployment", "scanner-yara"))["dapr.io/app-max-concurrency"] = "8"
	}},
	{"api readiness on /healthz", "/readyz", func(t *testing.T, docs *[]map[string]any) {
		dig(container(t, podSpec(find(t, *docs, "Deployment", "api")), "api"), "readinessProbe", "httpGet").(map[string]any)["path"] = "/healthz"
	}},
	{"no liveness probe", "liveness", func(t *testing.T, docs *[]map[string]any) {
		delete(container(t, podSpec(find(t, *docs, "Deployment", "scanner-reputation")), "scanner"), "livenessProbe")
	}},
	{"probe on another port", "probe", func(t *testing.T, docs *[]map[string]any) {
		dig(container(t, podSpec(find(t, *docs, "Deployment", "extractor")), "extractor"), "livenessProbe", "httpGet").(map[string]any)["port"] = 9999
	}},
	{"no limits", "limits", func(t *testing.T, docs *[]map[string]any) {
		delete(dig(container(t, podSpec(find(t, *docs, "Deployment", "scanner-yara")), "scanner"), "resources").(map[string]any), "limits")
	}},
	{"init container without requests", "requests", func(t *testing.T, docs *[]map[string]any) {
		delete(dig(container(t, podSpec(find(t, *docs, "Deployment", "scanner-clamav")), "freshclam-init"), "resources").(map[string]any), "requests")
	}},
	{"request above limit", "exceeds", func(t *testing.T, docs *[]map[string]any) {
		dig(container(t, podSpec(find(t, *docs, "Deployment", "api")), "api"), "resources", "requests").(map[string]any)["memory"] = "4Gi"
	}},
	{"writable root filesystem", "readOnlyRootFilesystem", func(t *testing.T, docs *[]map[string]any) {
		dig(container(t, podSpec(find(t, *docs, "Deployment", "scanner-clamav")), "clamd"), "securityContext").(map[string]any)["readOnlyRootFilesystem"] = false
	}},
	{"privilege escalation", "allowPrivilegeEscalation", func(t *testing.T, docs *[]map[string]any) {
		dig(container(t, podSpec(find(t, *docs, "Deployment", "extractor")), "extractor"), "securityContext").(map[string]any)["allowPrivilegeEscalation"] = true
	}},
	{"may run as root", "runAsNonRoot", func(t *testing.T, docs *[]map[string]any) {
		spec := podSpec(find(t, *docs, "Deployment", "api"))
		delete(spec["securityContext"].(map[string]any), "runAsNonRoot")
		delete(container(t, spec, "api")["securityContext"].(map[string]any), "runAsNonRoot")
	}},
	{"capabilities kept", "capabilities", func(t *testing.T, docs *[]map[string]any) {
		delete(dig(container(t, podSpec(find(t, *docs, "Deployment", "scanner-yara")), "scanner"), "securityContext").(map[string]any), "capabilities")
	}},
	{"no seccomp profile", "seccomp", func(t *testing.T, docs *[]map[string]any) {
		delete(podSpec(find(t, *docs, "Deployment", "extractor"))["securityContext"].(map[string]any), "seccompProfile")
	}},
	{"no HPA", "HorizontalPodAutoscaler", func(t *testing.T, docs *[]map[string]any) {
		remove(t, docs, "HorizontalPodAutoscaler", "scanner-yara")
	}},
	{"HPA on a missing container", "container", func(t *testing.T, docs *[]map[string]any) {
		dig(find(t, *docs, "HorizontalPodAutoscaler", "scanner-clamav"), "spec", "metrics", 0, "containerResource").(map[string]any)["container"] = "clamav"
	}},
	{"replicas fight the HPA", "replicas", func(t *testing.T, docs *[]map[string]any) {
		find(t, *docs, "Deployment", "extractor")["spec"].(map[string]any)["replicas"] = 3
	}},
	{"no PDB", "PodDisruptionBudget", func(t *testing.T, docs *[]map[string]any) {
		remove(t, docs, "PodDisruptionBudget", "extractor")
	}},
	{"component not scoped", "scopes", func(t *testing.T, docs *[]map[string]any) {
		delete(find(t, *docs, "Component", "scanresults"), "scopes")
	}},
	{"app sees a component it does not need", "extractor", func(t *testing.T, docs *[]map[string]any) {
		d := find(t, *docs, "Component", "secrets")
		d["scopes"] = append(d["scopes"].([]any), "extractor")
	}},
	{"app misses a component it needs", "api", func(t *testing.T, docs *[]map[string]any) {
		d := find(t, *docs, "Component", "live")
		d["scopes"] = []any{"scanner-clamav"}
	}},
	{"component renamed", "events", func(t *testing.T, docs *[]map[string]any) {
		find(t, *docs, "Component", "events")["metadata"].(map[string]any)["name"] = "pubsub"
	}},
	{"component type changed", "type", func(t *testing.T, docs *[]map[string]any) {
		find(t, *docs, "Component", "scanresults")["spec"].(map[string]any)["type"] = "state.redis"
	}},
	{"access key in a component", "credential", func(t *testing.T, docs *[]map[string]any) {
		spec := find(t, *docs, "Component", "blobstore")["spec"].(map[string]any)
		spec["metadata"] = append(spec["metadata"].([]any), map[string]any{"name": "accessKey", "value": "AKIAABCDEFGHIJKLMNOP"})
	}},
	{"AWS key in an env var", "credential", func(t *testing.T, docs *[]map[string]any) {
		setEnv(container(t, podSpec(find(t, *docs, "Deployment", "extractor")), "extractor"), "AWS_SECRET_ACCESS_KEY", "abc")
	}},
	{"database password in a manifest", "DATABASE_URL", func(t *testing.T, docs *[]map[string]any) {
		setEnv(container(t, podSpec(find(t, *docs, "Deployment", "api")), "api"), "DATABASE_URL", "postgres://app:hunter2@db:5432/intellidox")
	}},
	{"Secret with data", "Secret", func(t *testing.T, docs *[]map[string]any) {
		*docs = append(*docs, map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata":   map[string]any{"name": "intellidox-database", "namespace": "intellidox"},
			"stringData": map[string]any{"url": "postgres://x"}})
	}},
	{"placeholder left", "placeholder", func(t *testing.T, docs *[]map[string]any) {
		spec := find(t, *docs, "Component", "blobstore")["spec"].(map[string]any)
		for _, m := range spec["metadata"].([]any) {
			if m.(map[string]any)["name"] == "bucket" {
				m.(map[string]any)["value"] = "S3_BUCKET"
			}
		}
	}},
	{"endpoint override left in", "endpoint", func(t *testing.T, docs *[]map[string]any) {
		spec := find(t, *docs, "Component", "events")["spec"].(map[string]any)
		spec["metadata"] = append(spec["metadata"].([]any), map[string]any{"name": "endpoint", "value": "http://localhost:5000"})
	}},
	{"visibility timeout below scan timeout", "visibility", func(t *testing.T, docs *[]map[string]any) {
		spec := find(t, *docs, "Component", "events")["spec"].(map[string]any)
		for _, m := range spec["metadata"].([]any) {
			if m.(map[string]any)["name"] == "messageVisibilityTimeout" {
				m.(map[string]any)["value"] = "300"
			}
		}
	}},
	{"scan timeout raised in one scanner", "visibility", func(t *testing.T, docs *[]map[string]any) {
		setEnv(container(t, podSpec(find(t, *docs, "Deployment", "scanner-yara")), "scanner"), "SCAN_TIMEOUT", "10m")
	}},
	{"no migration Job", "migration", func(t *testing.T, docs *[]map[string]any) {
		remove(t, docs, "Job", "intellidox-migrate")
	}},
	{"migration Job without -migrate-only", "-migrate-only", func(t *testing.T, docs *[]map[string]any) {
		container(t, podSpec(find(t, *docs, "Job", "intellidox-migrate")), "migrate")["command"] = []any{"/app/api"}
	}},
	{"no freshclam", "freshclam", func(t *testing.T, docs *[]map[string]any) {
		spec := podSpec(find(t, *docs, "Deployment", "scanner-clamav"))
		spec["initContainers"] = slices.DeleteFunc(spec["initContainers"].([]any), func(c any) bool {
			return c.(map[string]any)["name"] == "freshclam"
		})
	}},
	{"image on latest", "latest", func(t *testing.T, docs *[]map[string]any) {
		container(t, podSpec(find(t, *docs, "Deployment", "extractor")), "extractor")["image"] = "intellidox/extractor:latest"
	}},
	{"IRSA role missing", "eks.amazonaws.com/role-arn", func(t *testing.T, docs *[]map[string]any) {
		delete(find(t, *docs, "ServiceAccount", "scanner-yara")["metadata"].(map[string]any), "annotations")
	}},
	{"no default-deny NetworkPolicy", "NetworkPolicy", func(t *testing.T, docs *[]map[string]any) {
		remove(t, docs, "NetworkPolicy", "default-deny-ingress")
	}},
	{"no tracing", "tracing", func(t *testing.T, docs *[]map[string]any) {
		delete(find(t, *docs, "Configuration", "intellidox")["spec"].(map[string]any), "tracing")
	}},
}
