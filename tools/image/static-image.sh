#!/usr/bin/env bash
# Packages one static binary as an image FROM scratch (the pod sandbox and the
# bundled servers), then exports it for containerd (export-image.sh).
#
#   tools/image/static-image.sh NAME REF BINARY PATH_IN_IMAGE [USER]
#
# NAME names the archive (.tools/images/NAME.oci.tar); REF is the local image
# reference (always localhost/ferry/..., never an upstream name). The image is
# the binary alone: its entrypoint, PATH holding it, and an optional USER.
set -euo pipefail
name=$1 ref=$2 binary=$3 target=$4 user=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/image/podman-env.sh
source "$here/podman-env.sh"

# A scratch image has no loader or libc: a dynamically linked binary would
# fail only when a pod starts, so refuse it here.
if readelf -l "$binary" | grep -q 'program interpreter'; then
  echo "static-image: $binary is dynamically linked; build it with CGO_ENABLED=0 (or gcc -static)" >&2
  exit 1
fi

ctr=$(buildah from --pull=never scratch)
trap 'buildah rm "$ctr" >/dev/null' EXIT
buildah copy --chmod 0755 "$ctr" "$binary" "$target" >/dev/null
config=(--entrypoint "[\"$target\"]" --cmd '' --env "PATH=$(dirname "$target")" --label "org.opencontainers.image.title=$name")
[[ -n "$user" ]] && config+=(--user "$user")
buildah config "${config[@]}" "$ctr"
buildah commit --quiet --format oci --rm "$ctr" "$ref" >/dev/null
trap - EXIT
"$here/export-image.sh" "$name" "$ref"
