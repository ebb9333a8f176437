#!/usr/bin/env bash
# Builds the pinned binaries the local Kubernetes cluster needs, each only when
# its cached copy is missing, and links them under bin/k8s/.
#   tools/k8s   : kube-apiserver, kube-controller-manager, kube-scheduler,
#                 kubelet, kube-proxy, kubectl (k8s.io/kubernetes), etcd,
#                 helm, coredns (a minimal plugin set) and pause
#   tools/daprd : the Dapr control plane (operator, sentry, injector,
#                 placement, scheduler), the same pinned module as daprd
# A cold build is about 40 CPU-minutes and a 12-15 GB Go build cache; later
# runs only check that the files exist. Usage: k8s-build.sh [name...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${INTELLIDOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intellidox}
out=$root/bin/k8s
mkdir -p "$out"
# The toolchain the Makefile pins, so that the Dapr binaries share daprd's
# build cache (scripts/daprd.sh runs under make too).
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.26.10}

k8s_version=v1.37.2
etcd_version=v3.7.0
helm_version=v3.22.0
coredns_version=$(awk '$1=="github.com/coredns/coredns"{print $2; exit}' "$root/tools/k8s/go.mod" 2>/dev/null || true)
dapr_version=1.18.2

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version -X k8s.io/component-base/version/verflag.programName=kubernetes"

# name|module dir|package|cache dir|ldflags|tags
targets=(
  "etcd|tools/k8s|./etcd|etcd-$etcd_version|-s -w|"
  "kube-apiserver|tools/k8s|k8s.io/kubernetes/cmd/kube-apiserver|kubernetes-$k8s_version|$kube_ldflags|"
  "kubectl|tools/k8s|k8s.io/kubernetes/cmd/kubectl|kubernetes-$k8s_version|$kube_ldflags|"
  "kube-controller-manager|tools/k8s|k8s.io/kubernetes/cmd/kube-controller-manager|kubernetes-$k8s_version|$kube_ldflags|"
  "kube-scheduler|tools/k8s|k8s.io/kubernetes/cmd/kube-scheduler|kubernetes-$k8s_version|$kube_ldflags|"
  "kubelet|tools/k8s|k8s.io/kubernetes/cmd/kubelet|kubernetes-$k8s_version|$kube_ldflags|"
  "kube-proxy|tools/k8s|k8s.io/kubernetes/cmd/kube-proxy|kubernetes-$k8s_version|$kube_ldflags|"
  "helm|tools/k8s|helm.sh/helm/v3/cmd/helm|helm-$helm_version|-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version|"
  "coredns|tools/k8s|./coredns|coredns-$coredns_version|-s -w|"
  "pause|tools/k8s|./pause|pause-1|-s -w|"
  "operator|tools/daprd|github.com/dapr/dapr/cmd/operator|dapr-$dapr_version|-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$dapr_version|allcomponents"
  "sentry|tools/daprd|github.com/dapr/dapr/cmd/sentry|dapr-$dapr_version|-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$dapr_version|allcomponents"
  "injector|tools/daprd|github.com/dapr/dapr/cmd/injector|dapr-$dapr_version|-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$dapr_version|allcomponents"
  "placement|tools/daprd|github.com/dapr/dapr/cmd/placement|dapr-$dapr_version|-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$dapr_version|allcomponents"
  "scheduler|tools/daprd|github.com/dapr/dapr/cmd/scheduler|dapr-$dapr_version|-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$dapr_version|allcomponents"
)

want=("$@")
selected() {
  [[ ${#want[@]} -eq 0 ]] && return 0
  local w
  for w in "${want[@]}"; do [[ $w == "$1" ]] && return 0; done
  return 1
}

# The missing binaries, grouped by module, cache directory, ldflags and
# tags: each group is one `go build` of all its packages, so that the Go
# scheduler keeps both cores busy across them (a link of one overlaps the
# compiles of another) instead of one binary after the other.
declare -A group_pkgs group_names
order=()
for t in "${targets[@]}"; do
  IFS='|' read -r name dir pkg sub ldflags tags <<<"$t"
  selected "$name" || continue
  if [[ ! -x $cache/$sub/$name ]]; then
    key="$dir|$sub|$ldflags|$tags"
    [[ -n ${group_pkgs[$key]+x} ]] || order+=("$key")
    group_pkgs[$key]+=" $pkg"
    group_names[$key]+=" $name"
  fi
done
for key in "${order[@]}"; do
  IFS='|' read -r dir sub ldflags tags <<<"$key"
  echo "k8s-build: building${group_names[$key]} ($sub) into $cache/$sub" >&2
  start=$SECONDS
  tmp=$cache/$sub/.build
  rm -rf "$tmp" && mkdir -p "$tmp"
  # shellcheck disable=SC2086 # the package list splits on spaces
  (cd "$root/$dir" && CGO_ENABLED=0 nice go build -trimpath ${tags:+-tags "$tags"} \
    -ldflags "$ldflags" -o "$tmp/" ${group_pkgs[$key]})
  for name in ${group_names[$key]}; do mv "$tmp/$name" "$cache/$sub/$name"; done
  rmdir "$tmp"
  echo "k8s-build:${group_names[$key]} built in $((SECONDS - start)) s" >&2
done
for t in "${targets[@]}"; do
  IFS='|' read -r name _ _ sub _ _ <<<"$t"
  selected "$name" || continue
  ln -sfn "$cache/$sub/$name" "$out/$name"
done
# daprd is found or built by scripts/daprd.sh (the same cache).
if selected daprd; then
  "$root/scripts/daprd.sh"
  ln -sfn "$(readlink -f "$root/bin/daprd")" "$out/daprd"
fi
