#!/usr/bin/env bash
# Builds the pod sandbox image localhost/ferry/pause:VERSION from pause.c
# (static, FROM scratch), the image containerd's CRI pins as sandbox_image.
#
#   tools/image/pause.sh VERSION
set -euo pipefail
version=$1
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../.tools/image-build"
mkdir -p "$out"
gcc -static -O2 -s -Wall -Wextra -Werror -o "$out/pause" "$here/pause.c"
# 65535 is the UID upstream's pause image runs as: it needs no privilege.
"$here/static-image.sh" pause "localhost/ferry/pause:$version" "$out/pause" /pause 65535:65535
