# syntax=docker/dockerfile:1
# The api: REST, the web app and migrations in one static binary on distroless.
# Build from the repository root (BuildKit sends only the paths COPY names):
#   docker build -f deploy/docker/api.Dockerfile -t <registry>/intellidox/api:<tag> .

# --- Go: a static binary (no cgo) for the target platform.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY apps/ apps/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/api ./apps/api

# --- Web: the React app, built once into static files (WEB_DIR).
FROM --platform=$BUILDPLATFORM node:22-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY web/index.html web/tsconfig.json web/vite.config.ts ./
COPY web/src/ src/
COPY web/test/ test/
RUN npm run build

# --- Runtime: no shell, no package manager, user 65532.
FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/api /app/api
COPY --from=web /web/dist /app/web
ENV WEB_DIR=/app/web \
    LISTEN_HOST=0.0.0.0 \
    APP_PORT=8080
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/api"]
