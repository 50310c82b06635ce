# flowmap image: one image, every role; the command picks it (start | collector | worker | api | migrate).
# Built on the current Node.js LTS; flowmap itself supports Node >= 20.
FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY core ./core
COPY collector ./collector
COPY store ./store
COPY inventory ./inventory
COPY analyzer ./analyzer
COPY api ./api
COPY cli ./cli
COPY simulator ./simulator
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:26-bookworm-slim
WORKDIR /app
# Headless Chromium renders PDF reports (GET /api/v1/reports/{id}?format=pdf, flowmap report
# --out x.pdf). Build with --build-arg PDF=0 for a smaller image; PDF requests then answer 501.
ARG PDF=1
RUN if [ "$PDF" = "1" ]; then apt-get update && apt-get install -y --no-install-recommends chromium fonts-dejavu-core && rm -rf /var/lib/apt/lists/*; fi
ENV NODE_ENV=production \
    FLOWMAP_API_HOST=0.0.0.0 \
    FLOWMAP_CHROMIUM=/usr/bin/chromium \
    FLOWMAP_DATA=/data
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY migrations ./migrations
# Embedded mode (`start` without CLICKHOUSE_URL) keeps its DuckDB file in /data: mount a volume
# there (docker run -v flowmap-data:/data …). The collector role keeps its spool (batches waiting
# for ClickHouse) and learnt templates there too; the api and worker roles write nothing locally.
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080 2055/udp 4739/udp 6343/udp
# Probes the API; the worker role serves no HTTP, so its container disables this check.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.FLOWMAP_API_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["start"]
