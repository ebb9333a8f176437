# syntax=docker/dockerfile:1
# The scanner with the yara engine: the same static binary, on Debian slim
# for the yara and yarac commands (Debian's yara 4.2, the version the engine
# is tested with), and the project's rule pack under /app/rules/yara.
#   docker build -f deploy/docker/scanner-yara.Dockerfile -t <registry>/intellidox/scanner-yara:<tag> .

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY apps/ apps/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/scanner ./apps/scanner

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends yara \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin nonroot
WORKDIR /app
COPY --from=build /out/scanner /app/scanner
COPY rules/yara/ /app/rules/yara/
# Rules are compiled at start into TMPDIR, and objects are staged there:
# mount a writable volume (the manifests use an emptyDir) on /tmp.
ENV LISTEN_HOST=0.0.0.0 \
    APP_PORT=8082 \
    SCANNER_ENGINE=yara \
    YARA_RULES_DIR=/app/rules/yara \
    YARA_BIN=/usr/bin/yara \
    YARAC_BIN=/usr/bin/yarac \
    TMPDIR=/tmp
USER 65532:65532
EXPOSE 8082
ENTRYPOINT ["/app/scanner"]
