# ringrpc — build, test and measure. `make help` lists the targets.

GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
BENCHSTAT_VERSION   := v0.0.0-20260908200009-22c9c6c9d4da
FUZZTIME    ?= 10s
BENCHTIME   ?= 1s
BENCHCOUNT  ?= 6

.PHONY: help test bench bench-transport bench-peers bench-streams bench-overload fuzz lint demo tools generate checkgenerate

help:
	@echo "make demo   run the demo on this machine; it ends with a provider's /metrics"
	@echo "make test   go vet (for Linux, Windows and macOS, tests included) and the race-enabled test suite"
	@echo "make lint   gofmt, go vet and staticcheck"
	@echo "make fuzz   every fuzz target for FUZZTIME (default $(FUZZTIME))"
	@echo "make bench  benchmarks with -benchmem, BENCHCOUNT runs each, into bench.txt for benchstat"
	@echo "make bench-transport  transport calls against the raw echo, client and server on cores of their own"
	@echo "make bench-peers    ringrpc against gRPC, Kitex, net/rpc and a raw TCP echo (about 3 minutes)"
	@echo "make bench-streams  ringrpc's streams against gRPC's: messages per second and ping-pong latency (about 20 s)"
	@echo "make bench-overload what 500 hostile peers cost a provider, and a good client beside them (about a minute)"
	@echo "make generate       regenerate every generated file and golden file"
	@echo "make checkgenerate  fail when a committed generated file is stale"

test:
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	$(GO) test -race -count=1 ./...
	cd bench && $(GO) vet ./... && $(GO) vet -tags kitex ./cmd/peers ./internal/peers && $(GO) test -count=1 ./... && $(GO) test -count=1 -tags kitex -run 'TestPeers/Kitex|TestRun/Kitex' .

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./... | tee bench.txt
	@echo "compare two runs with: benchstat old.txt bench.txt"

# The transport against the raw framed echo with the client on CPU 0 and the server on
# CPU 1 (needs taskset and two CPUs), BENCHCOUNT runs each, summarised by benchstat.
bench-transport: tools
	RINGRPC_TRANSPORT_BENCH_SERVER_CPUS=1 taskset -c 0 $(GO) test -run '^$$' -bench 'InvokeSync|RawEcho' \
		-benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./transport | tee bench-transport.txt
	$(GOBIN)/benchstat bench-transport.txt

# ringrpc against gRPC, net/rpc and a raw TCP echo, each server in its own process.
# Kitex is built apart (-tags kitex) and measured in processes of its own: linked into
# the command, its libraries slow the other peers.
PEERS_KITEX ?= $(or $(TMPDIR),/tmp)/ringrpc-peers-kitex
bench-peers:
	cd bench && $(GO) build -tags kitex -o $(PEERS_KITEX) ./cmd/peers && $(GO) run ./cmd/peers -apart $(PEERS_KITEX)

# Server streams and a bidirectional ping-pong, ringrpc against gRPC, each server in
# its own process; prints messages per second and round-trip latency.
bench-streams:
	cd bench && $(GO) run ./cmd/streams $(STREAMS_FLAGS)

# A provider against 500 hostile connections of each kind, three processes; prints its
# peak RSS and goroutines and the good client's errors and p99.
bench-overload:
	cd bench && $(GO) run ./cmd/overload $(OVERLOAD_FLAGS)

# Runs each fuzz target on its own: go test -fuzz takes one target at a time.
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "== $$dir $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$dir; \
		done; \
	done

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

tools:
	@test -x $(STATICCHECK) && $(STATICCHECK) -version | grep -q 0.8.2 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@test -x $(GOBIN)/benchstat || $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

generate:
	$(GO) generate ./...
	cd bench && $(GO) generate ./...
	$(GO) test ./codegen -run 'TestGolden$$' -update

# Regenerates in place and fails if that changed a Go file or wrote one git does not track.
checkgenerate: generate
	@git diff --exit-code -- '*.go' || { echo "generated files are stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- '*.go')" || { git status --short -- '*.go'; echo "Go files git does not track: commit them (a new generated file?) or remove them"; exit 1; }

demo:
	@mkdir -p .bin
	$(GO) build -o .bin/ ./example/provider ./example/consumer ./example/demo
	.bin/demo -bin .bin
