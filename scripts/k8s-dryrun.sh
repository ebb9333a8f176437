#!/usr/bin/env bash
# Server-side dry run of every overlay against a real kube-apiserver (CI):
# etcd and kube-apiserver only, on 127.0.0.1, with the Dapr CRDs from the
# pinned chart installed, then `kubectl apply --dry-run=server -k` of each
# deploy/overlays/*. The API server validates every field against the
# real schemas (Deployments, HPAs, NetworkPolicies, Dapr Components,
# Configurations, Resiliencies) and runs admission (Pod Security on the
# namespace). Everything it started is stopped at exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin/k8s
say() { printf '\033[1;34mk8s-dryrun:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mk8s-dryrun:\033[0m %s\n' "$*" >&2; exit 1; }

"$root/scripts/k8s-build.sh" etcd kube-apiserver kubectl
dir=$(mktemp -d)
pids=()
cleanup() {
  # The API server first, etcd last: an API server whose etcd is already
  # gone can hang in its shutdown. Each gets 20 s after SIGTERM, then
  # SIGKILL, so that nothing outlives the script.
  local i p
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    p=${pids[i]}
    kill "$p" 2>/dev/null || continue
    for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=dryrun-ca" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$dir/api.key" -out "$dir/api.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$dir/api.ext"
openssl x509 -req -in "$dir/api.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 1 -extfile "$dir/api.ext" -out "$dir/api.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=dryrun-admin" -keyout "$dir/admin.key" -out "$dir/admin.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$dir/admin.ext"
openssl x509 -req -in "$dir/admin.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 1 -extfile "$dir/admin.ext" -out "$dir/admin.crt" 2>/dev/null
openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null

"$bin/etcd" --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" --initial-cluster "default=http://127.0.0.1:$peer_port" \
  --listen-metrics-urls "" --log-level error >"$dir/etcd.log" 2>&1 &
pids+=($!)
"$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 --secure-port "$api_port" --service-cluster-ip-range 10.96.0.0/16 \
  --tls-cert-file "$dir/api.crt" --tls-private-key-file "$dir/api.key" --client-ca-file "$dir/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$dir/sa.key" --service-account-signing-key-file "$dir/sa.key" \
  --authorization-mode RBAC --profiling=false --endpoint-reconciler-type none \
  >"$dir/apiserver.log" 2>&1 &
pids+=($!)
cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: dryrun, cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$dir/ca.crt"}}]
users: [{name: admin, user: {client-certificate: "$dir/admin.crt", client-key: "$dir/admin.key"}}]
contexts: [{name: dryrun, context: {cluster: dryrun, user: admin}}]
current-context: dryrun
EOF
export KUBECONFIG=$dir/kubeconfig
deadline=$((SECONDS + 120))
until "$bin/kubectl" get --raw /readyz >/dev/null 2>&1; do
  if ((SECONDS >= deadline)) || ! kill -0 "${pids[1]}" 2>/dev/null; then
    tail -20 "$dir/apiserver.log" >&2; die "kube-apiserver not ready"
  fi
  sleep 0.5
done
say "kube-apiserver $("$bin/kubectl" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])') ready"

chart=$(cd "$root/tools/daprd" && go list -m -f '{{.Dir}}' github.com/dapr/dapr)/charts/dapr
"$bin/kubectl" apply --server-side -f "$chart/crds" >/dev/null
"$bin/kubectl" wait --for condition=established --timeout 60s crd --all >/dev/null
say "Dapr CRDs installed: $("$bin/kubectl" get crd -o name | grep -c dapr.io)"

fail=0
for o in "$root"/deploy/overlays/*/; do
  name=$(basename "$o")
  # The namespace must exist for a dry run of what goes into it.
  "$bin/kubectl" kustomize "$o" | python3 -c '
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d.get("kind") == "Namespace":
        print(yaml.safe_dump(d)); print("---")' | "$bin/kubectl" apply -f - >/dev/null
  if out=$("$bin/kubectl" apply --dry-run=server -k "$o" 2>&1); then
    echo "$out" | grep -i '^warning' >&2 || true
    say "overlays/$name: $(echo "$out" | grep -vic '^warning') objects accepted by the API server (dry run)"
  else
    echo "$out" >&2
    say "overlays/$name: REJECTED"
    fail=1
  fi
done
exit $fail
