# sluice: the two commands a newcomer needs are `make run` and `make test`.
GO ?= go
BIN := bin/sluice

.PHONY: run test build vet fmt-check bench fuzz clean

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

bench:
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
