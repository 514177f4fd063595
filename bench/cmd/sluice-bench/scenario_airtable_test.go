package main

import (
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

// TestBeatsPeersJudgesRSSAndPSS: sluice is judged against a peer on its
// median TTLB, its summed RSS and its summed PSS, each on its own, so that
// a lower PSS does not hide a higher RSS.
func TestBeatsPeersJudgesRSSAndPSS(t *testing.T) {
	run := func(name string, ttlb time.Duration, rss, pss int64) airtableRun {
		r := airtableRun{Config: name, OK: 50, TTLB: load.Stats{Median: ttlb}}
		r.PeakRSS, r.PeakPSS = rss, pss
		return r
	}
	sl := run("sluice", 5*time.Second, 72<<20, 40<<20)
	got := beatsPeers(sl, []airtableRun{run("go-naive", 9*time.Second, 58<<20, 45<<20)})
	want := []struct {
		name string
		pass bool
	}{
		{"median TTLB < go-naive's", true},
		{"peak RSS < go-naive's", false},
		{"peak PSS < go-naive's", true},
	}
	if len(got) != len(want) {
		t.Fatalf("beatsPeers gave %d targets, %+v; want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Pass != w.pass {
			t.Errorf("target %d = %q %v (%s); want %q %v", i, got[i].Name, got[i].Pass, got[i].Measured, w.name, w.pass)
		}
	}
	if got[2].Measured != "40 MiB vs 45 MiB" {
		t.Errorf("PSS measured %q; want %q", got[2].Measured, "40 MiB vs 45 MiB")
	}
}
