#!/usr/bin/env bash
# The real-node tier, after `make image`: the image as built, the cluster
# tier's own tests, then Ferry installed by its chart (the e2e suite). One
# project at a time and in band: each starts a cluster on the one bridge.
set -euo pipefail
cd "$(dirname "$0")/../.."
jest() {
  node --experimental-vm-modules --disable-warning=ExperimentalWarning node_modules/jest/bin/jest.js --runInBand "$@"
}
for project in image cluster e2e; do
  started=$SECONDS
  echo "e2e: jest project '$project'"
  jest --selectProjects "$project"
  echo "e2e: project '$project' passed in $((SECONDS - started))s"
done
