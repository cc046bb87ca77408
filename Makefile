# pier: `make run` starts an agent on its defaults, `make test` runs every test.
GO       ?= go
BIN      := bin/pier
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/pierhq/pier/cli.version=$(VERSION)
# pier is built as it is released: without cgo (a static binary, which also
# starts faster: no dynamic loader), and with urfave/cli's man page and
# Markdown generators left out (pier uses neither; their Markdown parser's
# package initialisation ran on every start). The release workflow, the
# Dockerfile and the end-to-end tests' harness build it the same way.
TAGS     := urfave_cli_no_docs
# In CI every external binary the tests use must be there: a missing one fails
# the run instead of skipping its tests.
ifeq ($(CI),true)
export PIER_REQUIRE ?= git,pebble,chromium,ssh,ssh-keygen,node,npm,python3,curl,bash,isolation,npm-registry,promtool,prometheus,systemd-analyze,dpkg-deb,rsyslogd,postgres,redis,shellcheck,actionlint,tofu,docker
endif

.PHONY: build run test test-deps unit bench fmt vet clean package

build:
	CGO_ENABLED=0 $(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/pier

run: build
	$(BIN) agent

# package builds dist/pier_VERSION_ARCH.deb from bin/pier: the files `pier
# install` lays out, with scripts that start the service and hand a running
# agent over to the new binary on an upgrade.
package: build
	$(GO) run ./internal/debpkg -binary $(BIN) -out dist

test-deps:
	scripts/install-test-deps

test: test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 25m ./...
	cd sample-app && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd sample-app/browsertest && $(GO) vet ./... && $(GO) test -count=1 ./...

# unit runs the tests without installing anything.
unit:
	$(GO) test -count=1 ./...

bench: build
	scripts/install-test-deps --bench
	scripts/bench

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin dist
