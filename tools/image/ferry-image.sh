#!/usr/bin/env bash
# `make image`: builds the Ferry image from the project's Dockerfile with
# podman on a local base image (no registry is reachable here), then exports
# it for containerd (.tools/images/ferry.oci.tar).
#
#   tools/image/ferry-image.sh IMAGE BASE
#
# The build stage's `npm ci` reaches the npm registry over the host's network,
# as every other step of the bed does; nothing else leaves the machine, and
# --pull never keeps the base from ever being looked up in a registry.
set -euo pipefail
image=$1 base=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/image/podman-env.sh
source "$here/podman-env.sh"

if ! podman image exists "$base"; then
  echo "image: base image $base is missing; run 'make tools' (tools/install.sh builds it)" >&2
  exit 1
fi
# The host's CA bundle, which is how this machine trusts its way to the npm
# registry (it may hold an egress proxy's CA): lent to the build stage only.
trust=()
host_ca=${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
if [[ -f "$host_ca" ]]; then
  trust=(-v "$host_ca:/run/build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt)
fi
started=$SECONDS
podman build "${FERRY_BUILD_FLAGS[@]}" --network host "${trust[@]}" --build-arg "BASE=$base" \
  -t "$image" -f "$FERRY_ROOT/Dockerfile" "$FERRY_ROOT"
echo "image: $image built in $((SECONDS - started))s" \
  "($(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}'))"
"$here/export-image.sh" ferry "$image"
