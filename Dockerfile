# One image for the three services; the container's command picks one:
#   /usr/local/bin/flagd | /usr/local/bin/ingest | /usr/local/bin/aggregate [serve|migrate|report|stats]
# and `<service> healthcheck` probes the running service's /readyz (the runtime
# image has no shell, curl or wget). Configuration: the FLAGSTREAM_* environment
# variables of DESIGN.md (`<service> -h` lists them with their defaults).
#
# Multi-stage: static binaries (CGO_ENABLED=0) on a distroless base, running as
# the distroless non-root user (uid 65532). Builds with BuildKit and with the
# classic builder alike (docker-compose v1).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download && go mod verify
# The Go sources only, not the whole context: a .env or a tokens file beside
# docker-compose.yml (see there) must not reach an image layer.
COPY cmd ./cmd
COPY internal ./internal
COPY pkg ./pkg
COPY migrations ./migrations
# Set by BuildKit for the platform being built; empty (the build host's
# architecture) with the classic builder.
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/...

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# nonroot:nonroot of distroless, numeric so that runtimes can verify it is not root.
USER 65532:65532
# flagd, ingest, aggregate (their default ports inside the container).
EXPOSE 8080 8081 8082
ENTRYPOINT []
