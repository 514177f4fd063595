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
