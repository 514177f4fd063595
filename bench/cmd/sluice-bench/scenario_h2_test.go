package main

import (
	"math"
	"testing"
)

func TestParseH2load(t *testing.T) {
	out := `finished in 3.24s, 0.31 req/s, 316.42MB/s
requests: 1 total, 1 started, 1 done, 1 succeeded, 0 failed, 0 errored, 0 timeout
`
	if v, err := parseH2load(out); err != nil || math.Abs(v-0.31642) > 1e-9 {
		t.Fatalf("parseH2load: %v, %v; want 0.31642", v, err)
	}
	failed := `finished in 3.24s, 0.31 req/s, 316.42MB/s
requests: 1 total, 1 started, 1 done, 0 succeeded, 1 failed, 0 errored, 0 timeout
`
	if _, err := parseH2load(failed); err == nil {
		t.Fatal("a failed request parsed as a measurement")
	}
}
