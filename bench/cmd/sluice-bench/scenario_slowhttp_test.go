package main

import (
	"strings"
	"testing"
)

// TestSlowhttpReport: slowhttptest's verdict is found behind its colour
// codes, and its statistics give the most connections open, the last
// second with one open and the seconds its probe found the service down.
func TestSlowhttpReport(t *testing.T) {
	out := "\x1b[0m\tslow HTTP test status on 65th second:\n\n" +
		"Test ended on 66th second\nExit status:\x1b[1;36m No open connections left\x1b[0m\n"
	if got := slowhttpExitStatus([]byte(out)); got != "No open connections left" {
		t.Errorf("exit status %q", got)
	}
	if got := slowhttpExitStatus([]byte("nothing\n")); got != "no exit status in its output" {
		t.Errorf("without one: %q", got)
	}
	csv := "Seconds,Closed,Pending,Connected,Service Available\n" +
		"0,0,200,0,1000\n1,0,0,400,1000\n2,10,0,990,0\n3,1000,0,0,1000\n4,1000,0,0,1000\n"
	maxOpen, last, down, err := slowhttpCSV(strings.NewReader(csv))
	if err != nil || maxOpen != 990 || last != 2 || down != 1 {
		t.Errorf("got %d, %d, %d, %v; want 990 open at most, last at 2 s, 1 s down", maxOpen, last, down, err)
	}
	if _, _, _, err := slowhttpCSV(strings.NewReader("Seconds,Closed\n")); err == nil {
		t.Error("a file without the five columns was read")
	}
}

// TestParseGauge: a gauge is summed over its series; a missing one, or a
// family of another type, is an error.
func TestParseGauge(t *testing.T) {
	text := "# TYPE sluice_http_open_connections gauge\nsluice_http_open_connections 1002\n" +
		"# TYPE w gauge\nw{worker=\"0\"} 2\nw{worker=\"1\"} 3\n" +
		"# TYPE c counter\nc 7\n"
	for _, tc := range []struct {
		name string
		want float64
		ok   bool
	}{{"sluice_http_open_connections", 1002, true}, {"w", 5, true}, {"c", 0, false}, {"absent", 0, false}} {
		got, err := parseGauge(strings.NewReader(text), tc.name)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: %v, %v; want %v (ok %v)", tc.name, got, err, tc.want, tc.ok)
		}
	}
}
