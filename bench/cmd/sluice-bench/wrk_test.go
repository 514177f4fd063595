package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// The fixtures are real output of wrk 4.1 (Debian's package), run by hand
// against the small scenario's Go upstream, and against a server that
// closes every connection after a short answer (for the socket errors).
func TestParseWrk(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	for _, c := range []struct {
		file string
		want wrkResult
	}{
		{"wrk-4KiB.txt", wrkResult{Requests: 1103, Elapsed: ms(1020), ReqPerSec: 1079.05,
			P50: ms(52.91), P75: ms(114.98), P90: ms(175.28), P99: ms(303.32)}},
		{"wrk-1MiB.txt", wrkResult{Requests: 752, Elapsed: ms(1030), ReqPerSec: 729.51,
			P50: ms(40.14), P75: ms(104.40), P90: ms(198.49), P99: ms(439.33)}},
		{"wrk-non2xx.txt", wrkResult{Requests: 7174, Elapsed: ms(1140), ReqPerSec: 6292.97,
			P50: ms(8.57), P75: ms(20.23), P90: ms(44.55), P99: ms(125.71), Non2xx: 7174}},
		{"wrk-socket-errors.txt", wrkResult{Requests: 0, Elapsed: ms(1060), Read: 3683}},
	} {
		data, err := os.ReadFile("testdata/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseWrk(string(data))
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		// Parsed floats may be off by a rounding step of the last unit.
		near := func(a, b time.Duration) bool { return (a - b).Abs() <= time.Microsecond }
		if got.Requests != c.want.Requests || !near(got.Elapsed, c.want.Elapsed) || got.ReqPerSec != c.want.ReqPerSec ||
			!near(got.P50, c.want.P50) || !near(got.P75, c.want.P75) || !near(got.P90, c.want.P90) || !near(got.P99, c.want.P99) ||
			got.Connect != c.want.Connect || got.Read != c.want.Read || got.Write != c.want.Write || got.Timeout != c.want.Timeout || got.Non2xx != c.want.Non2xx {
			t.Errorf("%s:\n got  %+v\n want %+v", c.file, got, c.want)
		}
	}
}

func TestParseWrkRejects(t *testing.T) {
	full, err := os.ReadFile("testdata/wrk-4KiB.txt")
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"refused":        "unable to connect to 127.0.0.1:1 Connection refused\n",
		"no --latency":   strings.Split(string(full), "  Latency Distribution")[0] + "  1103 requests in 1.02s, 4.48MB read\nRequests/sec:   1079.05\n",
		"bad percentile": strings.Replace(string(full), "52.91ms", "52.91parsecs", 1),
	} {
		if _, err := parseWrk(out); err == nil {
			t.Errorf("%s: parseWrk succeeded; want an error", name)
		}
	}
}

func TestParseWrkTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0.00us": 0, "812.00us": 812 * time.Microsecond, "1.50ms": 1500 * time.Microsecond,
		"2.00s": 2 * time.Second, "1.02s": 1020 * time.Millisecond, "1.50m": 90 * time.Second,
	} {
		if got, err := parseWrkTime(in); err != nil || (got-want).Abs() > time.Microsecond {
			t.Errorf("parseWrkTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWrkTime("3"); err == nil {
		t.Error("a duration without a unit parsed")
	}
}
