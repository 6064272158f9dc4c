#!/usr/bin/env bash
# Builds the local base image localhost/ferry/node-base:NODE_VERSION-bookworm,
# standing in for the upstream node:NODE_VERSION-bookworm-slim that cannot be
# pulled here: a Debian bookworm minbase root filesystem (debootstrap, from the
# Debian mirror this machine's apt already uses), ca-certificates, the Node
# binary tools/install.sh unpacked into .tools/node, and npm from the npm
# registry (the Dockerfile's build stage runs `npm ci`).
#
#   tools/image/node-base.sh NODE_VERSION NPM_VERSION
set -euo pipefail
node_version=$1 npm_version=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/image/podman-env.sh
source "$here/podman-env.sh"
build="$FERRY_ROOT/.tools/image-build"
rootfs="$build/node-base-rootfs"
ref="localhost/ferry/node-base:$node_version-bookworm"

# The first Debian archive apt is configured with for bookworm: one-line
# (`deb URL bookworm ...`) or deb822 (`URIs:` then `Suites: bookworm ...`).
debian_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk '
      /^deb[ \t]/ { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++; if ($(i + 1) == "bookworm") { print $i; exit } }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && uri != "") { print uri; exit } }
      /^$/ { uri = "" }
    ' "$f"
  done | head -1
}

make_rootfs() {
  local mirror
  mirror=$(debian_mirror)
  if [[ -z "$mirror" ]]; then
    echo "node-base: no Debian bookworm archive found in /etc/apt/sources.list*" >&2
    exit 1
  fi
  echo "node-base: debootstrap bookworm from $mirror"
  rm -rf "$rootfs" && mkdir -p "$rootfs" "$build/debs"
  debootstrap --variant=minbase --include=ca-certificates --cache-dir="$build/debs" \
    bookworm "$rootfs" "$mirror" > "$build/debootstrap.log" 2>&1 ||
    { tail -20 "$build/debootstrap.log" >&2; exit 1; }
}

add_node() {
  local node="$FERRY_ROOT/.tools/node/package/bin/node"
  if [[ "$("$node" --version)" != "v$node_version" ]]; then
    echo "node-base: $node is not v$node_version (run tools/install.sh)" >&2
    exit 1
  fi
  install -m 0755 "$node" "$rootfs/usr/local/bin/node"
  # npm laid out as the upstream image does: lib/node_modules/npm plus links.
  local lib="$rootfs/usr/local/lib/node_modules"
  rm -rf "$lib/npm" && mkdir -p "$lib/npm"
  (cd "$build" && npm pack --silent "npm@$npm_version" >/dev/null)
  tar -xzf "$build/npm-$npm_version.tgz" -C "$lib/npm" --strip-components=1
  rm "$build/npm-$npm_version.tgz"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
}

# What a container never reads: package caches and lists, documentation,
# translations, logs.
slim_rootfs() {
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/debconf/*-old \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/log/* "$rootfs"/dev/* "$rootfs"/tmp/* "$rootfs"/root/.npm
}

import_rootfs() {
  tar --numeric-owner -C "$rootfs" -c . |
    podman import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "ENV NODE_VERSION=$node_version" \
      --change 'CMD ["node"]' \
      --message "debootstrap minbase bookworm + node v$node_version + npm $npm_version" \
      - "$ref" > /dev/null
  rm -rf "$rootfs"
  podman run --rm "${FERRY_RUN_FLAGS[@]}" --network none "$ref" \
    sh -c 'echo "node-base: $(node --version), npm $(npm --version)"'
}

started=$SECONDS
make_rootfs
echo "node-base: rootfs in $((SECONDS - started))s"
add_node
slim_rootfs
import_rootfs
echo "node-base: $ref ($(podman image inspect --format '{{.Size}}' "$ref" | awk '{printf "%.0f MB", $1 / 1e6}'))"
