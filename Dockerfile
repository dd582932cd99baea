# Build stage: compile TypeScript with the full dependency tree.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
# The operator commands (`node dist/scripts/client.js`, `token.js`, `seed.js`) ship in the image.
COPY scripts ./scripts
COPY generator ./generator
RUN npm run build && npm prune --omit=dev

# Runtime stage: compiled code and production dependencies only, as an unprivileged user.
FROM node:22-bookworm-slim
ENV NODE_ENV=production PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# /app stays root's, so the server cannot rewrite its own code. It writes only the embedded
# Azurite's data (AZURITE_LOCATION) and the filesystem sink's files (EXPORT_FILESYSTEM_ROOT), both
# relative to this directory by default, so they are made here for the runtime user; an empty
# volume mounted on one of them takes that ownership from the image.
RUN mkdir .azurite .export-data && chown node:node .azurite .export-data
USER node
EXPOSE 8080
# node directly (not npm) so it gets SIGTERM; the flags are those of `npm run start:prod`. A small
# young generation (--max-semi-space-size=4): the export path
# allocates mostly Buffers outside the V8 heap, and 4 MB semi-spaces instead of up to 16 MB keep
# ~25 MB off every process at no measured cost (docs/performance.md).
CMD ["node", "--max-semi-space-size=4", "dist/src/main.js"]
