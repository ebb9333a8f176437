#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, without Docker:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy (iptables), containerd (Debian) with the CNI bridge plugin, and
# CoreDNS. Versions are pinned in tools/k8s (scripts/k8s-build.sh).
#
#   scripts/k8s.sh up      build what is missing, start the cluster, import the images
#   scripts/k8s.sh down    stop it and remove everything it made
#   scripts/k8s.sh status
#   scripts/k8s.sh env     print KUBECONFIG=… for the shell
#
# Network: nothing listens on 0.0.0.0. The host side uses 127.0.0.1 and
# 10.88.0.1, the address of the bridge idxbr0 this script creates (the node
# IP: pods reach the API server there). Pods live in network namespaces on
# that bridge (10.88.0.0/16); services are 10.96.0.0/16, routed onto the
# bridge so that no packet for them leaves the machine. FORWARD rules drop
# anything between the bridge and any other interface: pods reach nothing
# outside this machine, and CoreDNS has no upstream.
#
# Needs root. See docs/k8s-local.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${INTELLIDOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/intellidox}
state=${K8S_STATE:-/var/lib/intellidox-k8s}
run=/run/intellidox-k8s
bin=$root/bin/k8s
images=$cache/images
node=intellidox-node
bridge=idxbr0
node_ip=10.88.0.1
pod_cidr=10.88.0.0/16
svc_cidr=10.96.0.0/16
dns_ip=10.96.0.10
api=https://$node_ip:6443
etcd_client=127.0.0.1:23790
etcd_peer=127.0.0.1:23800
tag="intellidox-k8s"
export KUBECONFIG=$state/pki/admin.kubeconfig
export CONTAINERD_ADDRESS=$run/containerd/containerd.sock
ctr=(ctr --address "$CONTAINERD_ADDRESS" -n k8s.io)

say() { printf '\033[1;34mk8s:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mk8s:\033[0m %s\n' "$*" >&2; exit 1; }
kubectl() { "$bin/kubectl" "$@"; }

# wait_for DESCRIPTION SECONDS COMMAND…: polls until COMMAND succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what: not ready after ${secs}s (logs in $state/logs)"
    sleep 0.5
  done
}

# shellcheck source=scripts/apt.sh
. "$root/scripts/apt.sh"

# start NAME COMMAND…: runs a daemon in its own session, logs and PID under $state.
start() {
  local name=$1; shift
  setsid "$@" >"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$run/$name.pid"
}

# stop NAME: TERM, then KILL after 20 s, the PID this script recorded.
stop() {
  local f=$run/$1.pid pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null && [[ $(cat /proc/"$pid"/cmdline 2>/dev/null | tr '\0' ' ') == *"$2"* ]]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

pki() {
  local d=$state/pki
  mkdir -p "$d"
  say "certificates (a fresh CA for this cluster)"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=intellidox-k8s-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  # cert NAME SUBJECT [SANS]
  cert() {
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
    local ext=$d/$1.ext
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' >"$ext"
    [[ -n ${3:-} ]] && echo "subjectAltName=$3" >>"$ext"
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
      -extfile "$ext" -out "$d/$1.crt" 2>/dev/null
    rm -f "$d/$1.csr" "$ext"
  }
  cert apiserver "/CN=kube-apiserver" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:$node_ip,IP:10.96.0.1,IP:127.0.0.1"
  cert admin "/O=system:masters/CN=intellidox-admin"
  cert kubelet "/O=system:nodes/CN=system:node:$node" "DNS:$node,IP:$node_ip"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kube-proxy "/CN=system:kube-proxy"
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  for who in admin kubelet controller-manager scheduler kube-proxy; do
    cat >"$d/$who.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: intellidox
  cluster: {server: "$api", certificate-authority: "$d/ca.crt"}
users:
- name: $who
  user: {client-certificate: "$d/$who.crt", client-key: "$d/$who.key"}
contexts:
- name: intellidox
  context: {cluster: intellidox, user: $who}
current-context: intellidox
EOF
  done
  chmod 600 "$d"/*.key "$d"/*.kubeconfig
}

network_up() {
  cat /proc/sys/net/ipv4/ip_forward >"$state/ip_forward.saved"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$node_ip/16" dev "$bridge"
  fi
  ip link set "$bridge" up
  ip route replace "$svc_cidr" dev "$bridge"
  # Nothing crosses between the cluster's bridge and any other interface.
  iptables -w -C FORWARD -i "$bridge" ! -o "$bridge" -m comment --comment "$tag" -j DROP 2>/dev/null ||
    iptables -w -I FORWARD 1 -i "$bridge" ! -o "$bridge" -m comment --comment "$tag" -j DROP
  iptables -w -C FORWARD -o "$bridge" ! -i "$bridge" -m comment --comment "$tag" -j DROP 2>/dev/null ||
    iptables -w -I FORWARD 1 -o "$bridge" ! -i "$bridge" -m comment --comment "$tag" -j DROP
  # Pod → ClusterIP → pod is routed through the host (kube-proxy DNAT).
  echo 1 >/proc/sys/net/ipv4/ip_forward
  mkdir -p "$state/cni/net.d" "$state/cni/ipam"
  cat >"$state/cni/net.d/10-intellidox.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "intellidox",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$state/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr", "rangeStart": "10.88.1.0", "rangeEnd": "10.88.255.254", "gateway": "$node_ip"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
}

containerd_up() {
  mkdir -p "$run/containerd" "$state/containerd"
  cat >"$state/containerd.toml" <<EOF
version = 2
root = "$state/containerd"
state = "$run/containerd/state"
[grpc]
  address = "$CONTAINERD_ADDRESS"
[ttrpc]
  address = "$run/containerd/containerd.sock.ttrpc"
[metrics]
  address = ""
[debug]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/k8s/pause:local"
  # This VM drops CAP_SYS_RESOURCE: runc cannot lower oom_score_adj.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
EOF
  start containerd containerd --config "$state/containerd.toml"
  wait_for containerd 30 "${ctr[@]}" version
}

# import_images: every image into containerd's k8s.io namespace, as one
# docker-archive that holds each layer once (cmd/images -bundle): the Debian
# userland under six images is read and stored once, not six times. up runs
# it in the background while the control plane starts: only pods need images.
import_images() {
  local start=$SECONDS
  (cd "$root" && go run ./cmd/images -bundle) | "${ctr[@]}" images import --no-unpack=false - >/dev/null ||
    die "importing the images failed"
  say "imported $("${ctr[@]}" images ls -q | grep -vc '^sha256:') images into containerd in $((SECONDS - start)) s"
}

control_plane_up() {
  local d=$state/pki
  start etcd "$bin/etcd" --name default --data-dir "$state/etcd" \
    --listen-client-urls "http://$etcd_client" --advertise-client-urls "http://$etcd_client" \
    --listen-peer-urls "http://$etcd_peer" --initial-advertise-peer-urls "http://$etcd_peer" \
    --initial-cluster "default=http://$etcd_peer" --listen-metrics-urls "" --log-level warn
  wait_for etcd 30 curl -sf "http://$etcd_client/health"
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://$etcd_client" --bind-address "$node_ip" --advertise-address "$node_ip" \
    --secure-port 6443 --service-cluster-ip-range "$svc_cidr" \
    --tls-cert-file "$d/apiserver.crt" --tls-private-key-file "$d/apiserver.key" --client-ca-file "$d/ca.crt" \
    --kubelet-client-certificate "$d/admin.crt" --kubelet-client-key "$d/admin.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$d/sa.pub" --service-account-signing-key-file "$d/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --enable-aggregator-routing=true --profiling=false --allow-privileged=false
  wait_for kube-apiserver 90 kubectl get --raw /readyz
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$d/controller-manager.kubeconfig" --authentication-kubeconfig "$d/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$d/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --cluster-signing-cert-file "$d/ca.crt" --cluster-signing-key-file "$d/ca.key" --root-ca-file "$d/ca.crt" \
    --service-account-private-key-file "$d/sa.key" --service-cluster-ip-range "$svc_cidr" \
    --cluster-cidr "$pod_cidr" --allocate-node-cidrs=false --profiling=false
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$d/scheduler.kubeconfig" \
    --authentication-kubeconfig "$d/scheduler.kubeconfig" --authorization-kubeconfig "$d/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false
}

node_up() {
  local d=$state/pki
  : >"$state/resolv.conf" # no upstream for the node's pods: cluster DNS only
  cat >"$state/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$d/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$d/kubelet.crt"
tlsPrivateKeyFile: "$d/kubelet.key"
containerRuntimeEndpoint: "unix://$CONTAINERD_ADDRESS"
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
clusterDNS: ["$dns_ip"]
clusterDomain: cluster.local
resolvConf: "$state/resolv.conf"
# Imported images must not be collected (imagePullPolicy: Never).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {"memory.available": "200Mi", "nodefs.available": "2%", "imagefs.available": "2%"}
serializeImagePulls: false
# ConfigMap volumes follow their ConfigMap within this period (default 1m):
# the suite changes a mounted reputation list while the scanner runs.
syncFrequency: 10s
maxPods: 110
EOF
  start kubelet "$bin/kubelet" --config "$state/kubelet.yaml" --kubeconfig "$d/kubelet.kubeconfig" \
    --root-dir "$state/kubelet" --hostname-override "$node" --node-ip "$node_ip" --v 1
  cat >"$state/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$d/kube-proxy.kubeconfig"}
hostnameOverride: $node
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: $pod_cidr
nodePortAddresses: ["$node_ip/32"]
iptables: {masqueradeAll: true}
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  start kube-proxy "$bin/kube-proxy" --config "$state/kube-proxy.yaml"
  wait_for "node $node Ready" 120 sh -c "'$bin/kubectl' get node $node -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}

dns_up() {
  sed "s/@DNS_IP@/$dns_ip/" "$root/deploy/k8s-local/coredns.yaml" | kubectl apply -f - >/dev/null
  wait_for "CoreDNS" 120 kubectl -n kube-system rollout status deploy/coredns --timeout 5s
}

up() {
  [[ $(id -u) == 0 ]] || die "needs root (network namespaces, bridge, iptables, containerd)"
  if [[ -f $run/kube-apiserver.pid ]] && kill -0 "$(cat "$run/kube-apiserver.pid")" 2>/dev/null; then
    say "already up (scripts/k8s.sh down first to start afresh)"; return
  fi
  local t0=$SECONDS
  apt_install containerd runc containernetworking-plugins iptables conntrack openssl curl
  if [[ -z ${K8S_NO_BUILD:-} ]]; then # K8S_NO_BUILD=1: use what is built
    "$root/scripts/k8s-build.sh"
    "$root/scripts/images.sh"
  fi
  mkdir -p "$state/logs" "$run"
  pki
  network_up
  containerd_up
  import_images &
  local importing=$!
  control_plane_up
  node_up
  wait "$importing" || die "importing the images failed"
  say "node $node Ready after $((SECONDS - t0)) s"
  [[ -n ${K8S_NO_DNS:-} ]] || dns_up
  say "up in $((SECONDS - t0)) s; export KUBECONFIG=$KUBECONFIG (or: eval \$(scripts/k8s.sh env))"
}

down() {
  local t0=$SECONDS
  if [[ -f $run/kube-apiserver.pid ]] && kubectl get --raw /readyz >/dev/null 2>&1 && [[ -f $run/kubelet.pid ]]; then
    say "deleting workloads (the kubelet tears down each pod's network)"
    kubectl delete namespace --wait=false $(kubectl get ns -o name | grep -v -e /default -e /kube-system -e /kube-public -e /kube-node-lease | cut -d/ -f2) >/dev/null 2>&1 || true
    kubectl -n kube-system delete deploy,ds --all --wait=false >/dev/null 2>&1 || true
    kubectl delete pods --all -A --grace-period=3 --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 90))
    while ((SECONDS < deadline)) && [[ -n $(kubectl get pods -A -o name 2>/dev/null) ]]; do sleep 1; done
    say "workloads gone after $((SECONDS - t0)) s"
  fi
  # The node's and the controllers' processes at once (none waits for
  # another), then the API server before etcd: stopped the other way round,
  # the API server hung minutes in its shutdown.
  local p
  for p in kube-proxy kubelet kube-scheduler kube-controller-manager; do stop "$p" "$p" & done
  wait
  for p in kube-apiserver etcd; do stop "$p" "$p"; done
  say "cluster processes stopped after $((SECONDS - t0)) s"
  if [[ -f $run/containerd.pid ]]; then
    # What the kubelet did not stop: tasks, then sandboxes' shims.
    local id
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
      "${ctr[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
      "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    stop containerd containerd
    local pid
    for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_ADDRESS" || true); do kill -9 "$pid" 2>/dev/null || true; done
  fi
  # Network namespaces and veths the CNI plugin made, if a pod outlived us.
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-' || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null || true
  done
  if ip link show "$bridge" >/dev/null 2>&1; then
    local v
    for v in $(ip -o link show master "$bridge" | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link delete "$v" 2>/dev/null || true; done
    ip link delete "$bridge"
  fi
  ip route del "$svc_cidr" 2>/dev/null || true
  [[ -x $bin/kube-proxy ]] && "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # The kubelet's own chains, which kube-proxy --cleanup leaves.
  local ipt tbl
  for ipt in iptables ip6tables; do
    while $ipt -w -D INPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
    while $ipt -w -D OUTPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
    $ipt -w -F KUBE-FIREWALL 2>/dev/null && $ipt -w -X KUBE-FIREWALL 2>/dev/null || true
    for tbl in filter nat mangle; do
      $ipt -w -t $tbl -F KUBE-KUBELET-CANARY 2>/dev/null && $ipt -w -t $tbl -X KUBE-KUBELET-CANARY 2>/dev/null || true
    done
    $ipt -w -t mangle -X KUBE-IPTABLES-HINT 2>/dev/null || true
  done
  while iptables -w -D FORWARD -i "$bridge" ! -o "$bridge" -m comment --comment "$tag" -j DROP 2>/dev/null; do :; done
  while iptables -w -D FORWARD -o "$bridge" ! -i "$bridge" -m comment --comment "$tag" -j DROP 2>/dev/null; do :; done
  if [[ -f $state/ip_forward.saved ]]; then cat "$state/ip_forward.saved" >/proc/sys/net/ipv4/ip_forward; fi
  # Mounts under the cluster's directories (kubelet volumes, containerd rootfs), deepest first.
  local m
  for m in $(awk -v s="$state" -v r="$run" '$2 ~ "^"s || $2 ~ "^"r {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  if [[ -d $state/logs ]]; then
    mkdir -p "$cache/k8s-logs" && rm -rf "$cache/k8s-logs/last" && cp -r "$state/logs" "$cache/k8s-logs/last"
  fi
  rm -rf "$state" "$run"
  say "down in $((SECONDS - t0)) s (last logs kept in $cache/k8s-logs/last)"
}

status() {
  local p
  for p in containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    if [[ -f $run/$p.pid ]] && kill -0 "$(cat "$run/$p.pid")" 2>/dev/null; then echo "$p: running (pid $(cat "$run/$p.pid"))"; else echo "$p: stopped"; fi
  done
  kubectl get nodes 2>/dev/null || true
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$KUBECONFIG" ;;
  *) die "usage: $0 up|down|status|env" ;;
esac
