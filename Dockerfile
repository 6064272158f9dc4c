# One image for the operator and the workers (two entrypoints):
#   operator: node operator/main.js      worker: node worker/main.js
#
# Build anywhere with a registry:   docker build -t ferry:dev .   (or podman build)
# Build here, with no registry:     make image
#   (builds the local base localhost/ferry/node-base with tools/install.sh and
#   passes it as BASE; see docs/development.md).
#
# BASE is any Debian-based image with Node 24 and npm on PATH; both stages use
# it, so the build's Node is the one that runs the compiled output.
ARG BASE=node:24.21.0-bookworm-slim

FROM ${BASE} AS build
# Behind a TLS-intercepting proxy, pass its CA bundle for `npm ci` (build stage
# only, never in the image): mount it and name it, e.g. with podman
#   -v /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt
ARG NODE_EXTRA_CA_CERTS
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY api api
COPY common common
COPY storage storage
COPY operator operator
COPY worker worker
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

FROM ${BASE}
ENV NODE_ENV=production
WORKDIR /app
# package.json carries "type": "module": the compiled entrypoints are ES modules.
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/ ./
# A fixed non-root UID, matching the pods' runAsUser. Nothing under /app is
# writable by it: the pods run with a read-only root filesystem.
USER 65532:65532
CMD ["node", "operator/main.js"]
