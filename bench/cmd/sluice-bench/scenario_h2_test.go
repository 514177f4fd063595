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
	fast := `finished in 511.16ms, 1.96 req/s, 1.96GB/s
requests: 1 total, 1 started, 1 done, 1 succeeded, 0 failed, 0 errored, 0 timeout
`
	if v, err := parseH2load(fast); err != nil || math.Abs(v-1.96) > 1e-9 {
		t.Fatalf("parseH2load in GB/s: %v, %v; want 1.96", v, err)
	}
	for _, c := range []struct {
		in   string
		want float64
	}{{"316.42MB/s", 316.42}, {"1.96GB/s", 1960}, {"512.00KB/s", 0.512}, {"900.00B/s", 0.0009}} {
		if v, err := parseRate(c.in); err != nil || math.Abs(v-c.want) > 1e-9 {
			t.Errorf("parseRate(%q) = %v, %v; want %v MB/s", c.in, v, err, c.want)
		}
	}
	if _, err := parseRate("3.1 req/s"); err == nil {
		t.Error("parseRate took a rate without a unit of bytes")
	}
	failed := `finished in 3.24s, 0.31 req/s, 316.42MB/s
requests: 1 total, 1 started, 1 done, 0 succeeded, 1 failed, 0 errored, 0 timeout
`
	if _, err := parseH2load(failed); err == nil {
		t.Fatal("a failed request parsed as a measurement")
	}
}
