# Switchyard — build, test and run targets. `make test` is the project's test
# command; CI (.ci/run) calls it after starting PostgreSQL, MariaDB and Redis.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/switchyard
STATICCHECK_VERSION ?= v0.8.2

.PHONY: build test test-short lint run demo bench bench-pinned bench-micro soak clean web web-test screenshots

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/switchyard

# Every package, with the race detector. Database and Redis suites run when
# SWITCHYARD_TEST_{POSTGRES,MYSQL,REDIS}_URL are set (.ci/run sets them).
# test/sdk is its own module (the Go SDKs stay out of the binary's go.mod),
# which ./... does not reach, so it runs on its own line.
# The browser suites (package web) run without -race: a race-instrumented
# node under chromium made them several times slower, and every package they
# drive has its own -race tests.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/web$$')
	$(GO) test -count=1 -timeout 20m ./web/
	cd test/sdk && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...

# The console UI (web/): install the locked packages, regenerate the API
# types from the OpenAPI fragments and build web/dist, which is committed and
# embedded in the binary (CI fails when it differs from a fresh build).
web:
	cd web && npm ci --no-audit --no-fund && npm run gen && npm run build

# The UI's own checks: vitest, types (svelte-check), generated types fresh.
# The browser suite is a Go test (web/browser_test.go) that make test runs.
web-test:
	cd web && npm run gen:check && npm run check && npm test

# The browser suite, writing its screenshots to docs/screenshots.
screenshots:
	SWITCHYARD_UPDATE_SCREENSHOTS=1 $(GO) test -count=1 -run Browser ./web/

test-short:
	$(GO) test -count=1 -short ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

run: build
	$(BIN) serve

# The load benchmark (bench/README.md): builds switchyard and measures it
# against the mock upstream and a bare reverse proxy (chat, streams,
# embeddings, 2 MB image answers, 10 MiB image uploads, 1000 held streams);
# writes bench/out/results.{md,json}. About 8 minutes on 2 cores, under 10;
# adds the PostgreSQL + Redis gateway when SWITCHYARD_TEST_{POSTGRES,REDIS}_URL
# are set. BENCH_FLAGS=-quick is a smoke run of about 3 minutes.
bench:
	$(GO) run ./bench/cmd/harness $(BENCH_FLAGS)

# The same run with every measured target pinned to CPU 0 (GOMAXPROCS=1)
# and the mock, harness and load on the other cores: how the tail shows
# when the gateway's own background work shares its only core.
bench-pinned:
	$(GO) run ./bench/cmd/harness -pin -out bench/out/pinned $(BENCH_FLAGS)

# The soak (bench/README.md): one gateway (SQLite; SOAK_FLAGS=-soak-db
# pg-redis for PostgreSQL + Redis) under a steady mixed load for 10 minutes,
# sampling RSS, goroutines and fds; writes bench/out/soak.{md,json} with a
# PASS/FAIL verdict on growth. SOAK_FLAGS=-soak=1m for a short run.
soak:
	$(GO) run ./bench/cmd/harness -soak 10m $(SOAK_FLAGS)

# The Go micro-benchmarks of the hot paths (key lookup, limits, reserve and
# settle, channel pick, SSE, translation, a request through the handlers),
# six times each into bench/out/micro.txt, so that two runs compare with
# benchstat: go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da old.txt new.txt
# MICRO_BENCH=. runs every benchmark.
MICRO_BENCH ?= Authenticate|Take|HotPath|PickDone|AcquireRelease|BenchmarkReader|BenchmarkWriter|FromChat|StreamToChat|ChatStreamToMessages|ChatToResponsesStream|ChatNonStream|ChatStream|CountingChat|BenchmarkCount
bench-micro:
	mkdir -p bench/out
	$(GO) test -run '^$$' -bench '$(MICRO_BENCH)' -benchmem -count 6 ./internal/... | tee bench/out/micro.txt

clean:
	rm -rf bin
