# sluice: the two commands a newcomer needs are `make run` and `make test`.
GO ?= go
BIN := bin/sluice

.PHONY: run test build vet fmt-check bench bench-quick bench-go fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/sluice

run: build
	./$(BIN) serve

# Allocation counts mean nothing under -race (sync.Pool drops items on
# purpose there), so the zero-allocation tests run once more without it.
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -count=1 -run 'ZeroAllocs' ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# The five incident replays against sluice and its peers (nginx and Node.js
# when installed), each a table with PASS/MISS, and a dated report with SVG
# charts under bench/results (bench/README.md). About 18 minutes on 2 cores;
# bench-quick is a look in under 3 whose report goes to bench/results/quick.
REPLAYS := airtable plaid voxer smrxt zalando

bench:
	$(GO) run ./bench/cmd/sluice-bench -report bench/results -rounds 3 \
		-adm-scale 0.5 -voxer-rounds 1 $(REPLAYS)

bench-quick:
	$(GO) run ./bench/cmd/sluice-bench -report bench/results/quick -rounds 1 \
		-n 12 -c 12 -size 8MiB -cpu 100ms \
		-adm-scale 0.2 -plaid-clients 1,8,32 \
		-overload-scale 0.15 -overload-factors 10 \
		-smrxt-liveness 2s -zalando-scale 0.25 $(REPLAYS)

# The Go benchmarks of every package, once each (a smoke run; run one with
# -bench NAME -count N for figures).
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

# Each fuzz target runs for FUZZTIME on FUZZPROCS workers (go test -fuzz
# takes one target at a time); their seeds also run in `make test`.
FUZZTIME ?= 5m
FUZZPROCS ?= 2
FUZZ_TARGETS := ipc:FuzzDecodeFrame ipc:FuzzConnFromWorker parent:FuzzRequestHead parent:FuzzResponseHead

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPROCS) ./$$pkg; \
	done

clean:
	rm -rf bin
