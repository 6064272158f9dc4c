# One image for the operator and the workers (two entrypoints):
#   operator: node operator/main.js      worker: node worker/main.js
# Build: make docker-build (needs a Docker engine).

FROM node:24.21.0-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY api api
COPY common common
COPY storage storage
COPY operator operator
COPY worker worker
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/ ./
# A fixed non-root UID, matching the pods' runAsUser.
USER 65532:65532
CMD ["node", "operator/main.js"]
