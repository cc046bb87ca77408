# pier's image: the agent (and the CLI) on a small Debian base.
#
#   docker build -t pier .                  # the agent alone
#   docker build -t pier:go --target go .   # with a Go toolchain for Go apps
#
# The agent keeps its state in the /var/lib/pier volume. It runs as the
# unprivileged user pier, so it cannot give each app a user of its own and
# says so at start; run it as root (--user 0) with CAP_SETUID/CAP_SETGID
# if you need that isolation, or install pier on a VM (docs/operations.md).
# Secrets come in at run time (PIER_ADMIN_TOKEN, PIER_SECRET_KEY, or files
# in /run/secrets: see compose.yaml), never at build time.

ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${GO_IMAGE} AS build
WORKDIR /src
ARG GOPROXY=https://proxy.golang.org,direct
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -tags urfave_cli_no_docs \
	-ldflags "-s -w -X github.com/pierhq/pier/cli.version=${VERSION}" \
	-o /out/pier ./cmd/pier

FROM ${BASE_IMAGE} AS pier
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pier" \
	org.opencontainers.image.description="A self-hosted, Heroku-like platform: git push, buildpacks, blue/green releases, auto-TLS" \
	org.opencontainers.image.source="https://github.com/pierhq/pier" \
	org.opencontainers.image.version="${VERSION}" \
	org.opencontainers.image.revision="${REVISION}"
# git serves and receives pushes; curl is the health check's.
RUN apt-get update \
	&& apt-get install -y --no-install-recommends git ca-certificates curl \
	&& rm -rf /var/lib/apt/lists/* \
	&& groupadd --system --gid 10001 pier \
	&& useradd --system --uid 10001 --gid pier --home-dir /var/lib/pier --shell /usr/sbin/nologin pier \
	&& mkdir -p /var/lib/pier \
	&& chown pier:pier /var/lib/pier \
	&& chmod 0700 /var/lib/pier
COPY --from=build /out/pier /usr/local/bin/pier
ENV PIER_DATA_DIR=/var/lib/pier \
	PIER_API_ADDR=0.0.0.0:7070 \
	PIER_HTTP_ADDR=:8080 \
	PIER_SSH_ADDR=:2222
VOLUME /var/lib/pier
EXPOSE 7070 8080 8443 2222
USER pier
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
	CMD ["curl", "-fsS", "--max-time", "2", "-o", "/dev/null", "http://127.0.0.1:7070/healthz"]
ENTRYPOINT ["/usr/local/bin/pier"]
CMD ["agent"]

# The same with the Go toolchain, for building Go apps in the agent (the
# sample app, in compose.yaml).
FROM pier AS go
COPY --from=build /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:$PATH \
	GOTOOLCHAIN=local

# The default target is the small one.
FROM pier
