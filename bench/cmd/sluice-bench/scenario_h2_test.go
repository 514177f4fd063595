package main

import (
	"math"
	"testing"
)

func TestParseH2load(t *testing.T) {
	out := `finished in 3.24s, 0.31 req/s, 316.42MB/s
requests: 1 total, 1 started, 1 done, 1 succeeded, 0 failed, 0 errored, 0 timeout
`
	want := 316.42 * (1 << 20) / 1e9 // h2load's MB/s are MiB/s
	if v, err := parseH2load(out); err != nil || math.Abs(v-want) > 1e-9 {
		t.Fatalf("parseH2load: %v, %v; want %v GB/s", v, err, want)
	}
	fast := `finished in 511.16ms, 1.96 req/s, 1.96GB/s
requests: 1 total, 1 started, 1 done, 1 succeeded, 0 failed, 0 errored, 0 timeout
`
	// 1 GiB in 511.16 ms is 2.10 GB/s, which h2load prints in GiB/s.
	if v, err := parseH2load(fast); err != nil || math.Abs(v-2.10) > 0.01 {
		t.Fatalf("parseH2load in GiB/s: %v, %v; want about 2.10 GB/s", v, err)
	}
	for _, c := range []struct {
		in   string
		want float64
	}{{"316.42MB/s", 316.42 * (1 << 20)}, {"1.96GB/s", 1.96 * (1 << 30)}, {"512.00KB/s", 512 * (1 << 10)}, {"900B/s", 900}} {
		if v, err := parseRate(c.in); err != nil || math.Abs(v-c.want) > 1e-6 {
			t.Errorf("parseRate(%q) = %v, %v; want %v B/s", c.in, v, err, c.want)
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
