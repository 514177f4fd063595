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

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeFrame -fuzztime 5m ./ipc

clean:
	rm -rf bin
