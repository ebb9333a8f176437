# syntax=docker/dockerfile:1
# The extractor: one static binary on distroless.
#   docker build -f deploy/docker/extractor.Dockerfile -t <registry>/intellidox/extractor:<tag> .

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY apps/ apps/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/extractor ./apps/extractor

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/extractor /app/extractor
ENV LISTEN_HOST=0.0.0.0 \
    APP_PORT=8081
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/app/extractor"]
