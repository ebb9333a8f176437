# syntax=docker/dockerfile:1
# The scanner for engines that need nothing beside the binary: clamav (clamd
# runs in its own container, deploy/docker/clamav.Dockerfile) and reputation
# (lists under /app/rules/reputation). The yara engine needs the yara CLI:
# deploy/docker/scanner-yara.Dockerfile.
#   docker build -f deploy/docker/scanner.Dockerfile -t <registry>/intellidox/scanner:<tag> .

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

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/scanner /app/scanner
COPY rules/reputation/ /app/rules/reputation/
ENV LISTEN_HOST=0.0.0.0 \
    APP_PORT=8082 \
    REPUTATION_LISTS=/app/rules/reputation/known-bad.csv
USER 65532:65532
EXPOSE 8082
ENTRYPOINT ["/app/scanner"]
