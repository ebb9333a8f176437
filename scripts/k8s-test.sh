#!/usr/bin/env bash
# `make k8s-test`: images, the local cluster, Dapr, IntelliDox from
# deploy/overlays/local-k8s, then the suites on it:
#   1. the cluster-only checks (./e2e/k8s, -tags k8s);
#   2. the end-to-end suite with E2E_PROFILE=k8s (./e2e);
#   3. the chaos runs with Kubernetes faults: pod deletion and rolling
#      updates under CHAOS_N files (./e2e/chaos, -tags k8s).
# Prints each phase's time and the cluster's memory at rest and after the
# load, and tears the cluster down at the end (K8S_KEEP=1 keeps it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export KUBECONFIG=/var/lib/intellidox-k8s/pki/admin.kubeconfig
export E2E_PROFILE=k8s
export CHAOS_N=${CHAOS_N:-200}
# The 200 files go up over 30 s (6.7 a second, the chaos default's 3.3
# doubled): the cluster keeps up, and the faults fall closer together.
export CHAOS_FLOW=${CHAOS_FLOW:-30s}
# One round of faults per run: each app's pod deleted, each worker rolled,
# while work waits for it (CHAOS_ROUNDS=3 for the longer run docs/k8s-local.md
# reports too).
export CHAOS_ROUNDS=${CHAOS_ROUNDS:-1}
say() { printf '\033[1;34mk8s-test:\033[0m %s\n' "$*" >&2; }
t0=$SECONDS
phase() { say "$1: $(($SECONDS - $2)) s"; echo "$1 $(($SECONDS - $2))" >>"$report"; }
report=$(mktemp)
trap 'rm -f "$report"' EXIT

# memory: resident memory of the cluster's processes and its pods, in MiB.
memory() {
  local procs pods
  procs=$(ps -eo rss=,comm= | awk '$2 ~ /^(etcd|kube-apiserver|kube-controller|kube-scheduler|kubelet|kube-proxy|containerd|containerd-shim)/ {s+=$1} END {print int(s/1024)}')
  pods=$(awk '/^total_rss /{print int($2/1048576)}' /sys/fs/cgroup/memory/kubepods/memory.stat 2>/dev/null || echo "?")
  say "memory ($1): control plane and node processes ${procs} MiB, pods ${pods} MiB (cgroup kubepods, rss)"
}

# The host side of the suite: the browser test drives Chromium from Node.
# shellcheck source=scripts/apt.sh
. "$root/scripts/apt.sh"
command -v chromium >/dev/null || apt_install chromium
command -v node >/dev/null || apt_install nodejs npm

s=$SECONDS; scripts/k8s.sh up; phase "images + cluster up" $s
# The suite adds versitygw users with versitygw's own admin CLI
# (testenv.CreateS3User): the static build the image carries runs here too.
if [[ ! -x bin/versitygw ]]; then
  cache=${INTELLIDOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intellidox}
  ln -sf "$(ls "$cache"/versitygw-*-static/versitygw | tail -1)" bin/versitygw
fi
s=$SECONDS; scripts/k8s-deploy.sh; phase "Dapr + IntelliDox deployed" $s
memory "at rest"
# Every phase runs; the script fails at the end if one did.
fail=0
s=$SECONDS; go test -tags k8s -count=1 -v ./e2e/k8s 2>&1 | tee /tmp/k8s-test-cluster.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|cluster_test' || fail=1; phase "cluster checks" $s
s=$SECONDS; go test -count=1 -v -timeout 30m ./e2e 2>&1 | tee /tmp/k8s-test-e2e.log | grep -E '^(--- |PASS|FAIL|ok)' || fail=1; phase "end-to-end suite (E2E_PROFILE=k8s)" $s
s=$SECONDS; go test -tags k8s -count=1 -v -timeout 60m -run 'TestK8s' ./e2e/chaos 2>&1 | tee /tmp/k8s-test-chaos.log | grep -E '^(--- |PASS|FAIL|ok)|fault:|summary|lost|duplicat' || fail=1; phase "pod deletion and rolling update under load" $s
memory "after the load"
"$root/bin/k8s/kubectl" get pods -A -o wide
if [[ -z ${K8S_KEEP:-} ]]; then s=$SECONDS; scripts/k8s.sh down; phase "cluster down" $s; fi
say "total $((SECONDS - t0)) s"
cat "$report" >&2
exit $fail
