# Switchboard in one container: docker build -t switchboard . && docker run -p 3000:3000 -v sb-data:/data switchboard
# compose.yaml does the same with the config mounted and secrets from .env (docs/deploy.md).

# Dependencies are installed where a compiler is at hand: better-sqlite3's install script
# downloads a prebuilt binary or, failing that, builds one (python3, make, g++: in this image,
# not in the slim one). Same Debian release below, so the binary runs there.
FROM node:20-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY adapters ./adapters
COPY bots ./bots
# The operator console's page (built and committed: npm run build:console).
COPY console/dist ./console/dist
COPY scripts/source-cache.js scripts/source-build.js scripts/bundle.js scripts/cjs-bundles.js ./scripts/
COPY deploy/switchboard.yaml ./deploy/switchboard.yaml
# Compiled to JavaScript once, here (bin/switchboard.js would do it at the first start, into a
# folder the node user cannot write): every start then runs it as it is.
RUN node scripts/source-build.js
# The store lives on the volume; the image's node user (uid 1000) owns it, and a new named
# volume starts with that ownership.
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 3000
# Liveness: /healthz answers 200 while the process serves, during a graceful shutdown too.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop): stop taking messages, finish those in flight within server.shutdownTimeout, exit 0.
STOPSIGNAL SIGTERM
CMD ["node", "bin/switchboard.js", "start", "--config", "deploy/switchboard.yaml"]
