# Kanal — `make demo` runs it end to end, `make test` proves it.
# Everything here needs only Go; the SocketCAN tests also need qemu, a Debian
# kernel and busybox (installed by .ci/run) and are skipped with a message
# when those are missing.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -s -w -X github.com/kanal-dev/kanal/internal/cli.Version=$(VERSION)
BIN       := bin
CMDS      := edge-agent ingest-gateway
PKGS      := ./...
# Packages whose tests need real SocketCAN (vcan): run inside a VM by scripts/vmtest.
VCAN_PKGS := ./can/socketcan/... ./cmd/edge-agent/ ./sim/cmd/fleet/
FUZZTIME  ?= 10s

.PHONY: all build cross test test-unit test-vcan bench demo lint fmt fuzz generate clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# Static binaries for the vehicle and cloud targets, with their sizes.
cross:
	@mkdir -p $(BIN)
	@set -e; for target in linux/amd64 linux/arm64 linux/arm/7; do \
		os=$${target%%/*}; rest=$${target#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; \
		[ "$$arch" = arm ] || arm=; \
		suffix=$$os-$$arch$${arm:+v$$arm}; \
		for cmd in $(CMDS); do \
			CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm \
				$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$cmd-$$suffix ./cmd/$$cmd; \
		done; \
	done
	@printf '%-36s %10s\n' binary bytes; for f in $(BIN)/*-linux-*; do printf '%-36s %10s\n' $$f $$(stat -c %s $$f); done

# test: formatting and vet, every unit test under the race detector, then the
# SocketCAN tests in a VM (skipped with a message when qemu or the kernel is
# missing; .ci/run installs them and sets KANAL_REQUIRE_VM=1).
test: lint test-unit test-vcan

test-unit:
	$(GO) test -race -count=1 -timeout 10m $(PKGS)

test-vcan:
	./scripts/vmtest $(VCAN_PKGS)

# bench: one table of every figure the issues ask for, each beside its
# reference measured in the same run and its target (scripts/bench runs the
# benchmarks one package after another, sim/cmd/benchtable prints the
# table; about 2 minutes on the project's 2-core machine). A failed or
# missing benchmark makes it exit 1 after printing the rest.
# BENCH_MD=FILE also writes the table as Markdown; BENCH_CONNS,
# BENCH_SECONDS and BENCH_RATE size the gateway benchmark (10000
# connections for 20 s at 0.4 batches/s each: 592,000 values/s).
BENCH_MD      ?=
BENCH_CONNS   ?= 10000
BENCH_SECONDS ?= 20
BENCH_RATE    ?= 0.4

bench:
	GO='$(GO)' BENCH_MD='$(BENCH_MD)' KANAL_BENCH_CONNS='$(BENCH_CONNS)' KANAL_BENCH_SECONDS='$(BENCH_SECONDS)' KANAL_BENCH_RATE='$(BENCH_RATE)' ./scripts/bench

# demo: the end-to-end run on the bundled demo vehicle (see README).
demo: build
	$(GO) build -trimpath -o $(BIN)/kanal-fleet ./sim/cmd/fleet
	$(GO) build -trimpath -o $(BIN)/kanal-demo ./sim/cmd/demo
	./scripts/demo

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

# fuzz: a short run of every fuzz target (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
		for fz in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$fz"; $(GO) test -run '^$$' -fuzz "^$$fz\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# generate: the Go code of the protobuf schemas, with Debian's protoc
# (package protobuf-compiler) and protoc-gen-go at the version go.mod pins
# (`go install` without @version inside the module), installed in bin/tools.
# Debian's own protoc-gen-go package is the old API: never the one on PATH.
TOOLS := $(CURDIR)/$(BIN)/tools
PROTOS := uplink/batch/internal/batchpb/batch.proto

generate:
	@command -v protoc >/dev/null || { echo "generate: protoc not found: apt-get install protobuf-compiler"; exit 1; }
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go
	@set -e; for p in $(PROTOS); do \
		PATH=$(TOOLS):$$PATH protoc --plugin=protoc-gen-go=$(TOOLS)/protoc-gen-go \
			-I $$(dirname $$p) --go_out=paths=source_relative:$$(dirname $$p) $$p; \
		echo "generated $${p%.proto}.pb.go"; \
	done

clean:
	rm -rf $(BIN)
