#!/usr/bin/env bash
# Exports a local image as an OCI archive for containerd
# (`ctr -n k8s.io images import .tools/images/NAME.oci.tar`) and records
# NAME -> REF in .tools/images/images.json, the list the cluster tier reads.
#
#   tools/image/export-image.sh NAME REF
set -euo pipefail
name=$1 ref=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/image/podman-env.sh
source "$here/podman-env.sh"

archive="$FERRY_IMAGES/$name.oci.tar"
rm -f "$archive.new"
# The archive's index names the image by its full reference
# (org.opencontainers.image.ref.name), which is what ctr import tags it as.
podman save --quiet --format oci-archive -o "$archive.new" "$ref"
mv "$archive.new" "$archive"

node - "$FERRY_IMAGES/images.json" "$name" "$ref" <<'JS'
const fs = require('node:fs');
const [file, name, ref] = process.argv.slice(2);
const images = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
images[name] = ref;
const sorted = Object.fromEntries(Object.entries(images).sort(([a], [b]) => a.localeCompare(b)));
fs.writeFileSync(`${file}.new`, `${JSON.stringify(sorted, null, 2)}\n`);
fs.renameSync(`${file}.new`, file);
JS
echo "image: $ref -> $archive ($(du -h "$archive" | cut -f1))"
