#!/usr/bin/env bash
# Installs the Dapr control plane and IntelliDox on the cluster of
# scripts/k8s.sh:
#   dapr   Dapr 1.18.2 from its official Helm chart, the one inside the
#          pinned module (tools/daprd), with the images `make images` built;
#          mTLS on (sentry), injector, operator, placement, scheduler; the
#          values docs/deploy-aws.md uses for Pod Security "restricted".
#   app    Secrets (fresh random tokens and S3 keys), the signatures
#          ConfigMap, then `kubectl apply -k deploy/overlays/local-k8s`, the
#          bucket, and waits for every rollout and the migration Job.
#   all    both (default)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin/k8s
export KUBECONFIG=${KUBECONFIG:-/var/lib/intellidox-k8s/pki/admin.kubeconfig}
ns=intellidox
node_ip=10.88.0.1
dapr_version=1.18.2
say() { printf '\033[1;34mk8s-deploy:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mk8s-deploy:\033[0m %s\n' "$*" >&2; exit 1; }
kubectl() { "$bin/kubectl" "$@"; }

dapr() {
  local chart t0=$SECONDS
  chart=$(cd "$root/tools/daprd" && go list -m -f '{{.Dir}}' github.com/dapr/dapr)/charts/dapr
  [[ -f $chart/Chart.yaml ]] || die "no chart at $chart"
  say "installing Dapr $dapr_version from $chart (helm $("$bin/helm" version --short))"
  "$bin/helm" upgrade --install dapr "$chart" --namespace dapr-system --create-namespace \
    --wait --timeout 10m \
    --set global.registry=localhost/dapr --set global.tag=$dapr_version \
    --set global.imagePullPolicy=Never --set dapr_sidecar_injector.sidecarImagePullPolicy=Never \
    --set global.mtls.enabled=true --set global.logAsJson=true \
    --set global.seccompProfile=RuntimeDefault \
    --set dapr_sidecar_injector.sidecarDropALLCapabilities=true \
    --set dapr_scheduler.cluster.inMemoryStorage=true \
    --set dapr_placement.cluster.forceInMemoryLog=true >/dev/null
  say "Dapr ready in $((SECONDS - t0)) s"
}

secret() { # name key=value…
  local name=$1; shift
  kubectl -n "$ns" get secret "$name" >/dev/null 2>&1 && return
  local args=()
  for kv in "$@"; do args+=(--from-literal="$kv"); done
  kubectl -n "$ns" create secret generic "$name" "${args[@]}" >/dev/null
}

app() {
  local t0=$SECONDS
  say "secrets and signatures"
  kubectl apply -f "$root/deploy/overlays/local-k8s/namespace.yaml" >/dev/null
  secret intellidox-database "url=postgres://postgres@postgres.$ns.svc.cluster.local:5432/intellidox?sslmode=disable"
  secret intellidox-dapr-api-token "token=$(openssl rand -hex 24)"
  secret intellidox-app-api-token "token=$(openssl rand -hex 24)"
  secret intellidox-s3 accessKey=intellidox "secretKey=$(openssl rand -hex 20)"
  secret intellidox-archive-passwords "key=$(openssl rand -base64 32)"
  kubectl -n "$ns" create configmap clamav-signatures --from-file="$root/clamav/db" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl -n "$ns" create configmap versitygw-events --from-file=events.json="$root/components/local/versitygw-events.json" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  say "kubectl apply -k deploy/overlays/local-k8s"
  kubectl apply -k "$root/deploy/overlays/local-k8s" >/dev/null
  kubectl -n "$ns" rollout status deploy/nats --timeout 5m >/dev/null
  say "JetStream stream for storage events"
  go -C "$root" run ./cmd/devtool stream -nats "$(kubectl -n "$ns" get svc nats -o jsonpath='{.spec.clusterIP}'):4222"
  kubectl -n "$ns" rollout status deploy/versitygw --timeout 5m >/dev/null
  say "bucket"
  AWS_ACCESS_KEY_ID=intellidox \
    AWS_SECRET_ACCESS_KEY=$(kubectl -n "$ns" get secret intellidox-s3 -o jsonpath='{.data.secretKey}' | base64 -d) \
    go -C "$root" run ./cmd/devtool bucket -endpoint "http://$node_ip:30070" -bucket intellidox -cors '*'
  say "waiting for the migration Job and every rollout"
  kubectl -n "$ns" wait --for=condition=complete job/intellidox-migrate --timeout 5m >/dev/null
  local d
  for d in $(kubectl -n "$ns" get deploy -o name); do
    kubectl -n "$ns" rollout status "$d" --timeout 10m >/dev/null || die "$d did not roll out"
  done
  say "IntelliDox ready in $((SECONDS - t0)) s"
  kubectl get pods -A
}

case ${1:-all} in
  dapr) dapr ;;
  app) app ;;
  all) dapr; app ;;
  *) die "usage: $0 [dapr|app|all]" ;;
esac
