package main

import (
	"bytes"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

// TestTuneGC: without GOGC in the environment the parent's GOGC becomes
// parentGCPercent, with one it is left alone; each decision is logged.
func TestTuneGC(t *testing.T) {
	was := debug.SetGCPercent(100)
	defer debug.SetGCPercent(was)

	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	if v, ok := os.LookupEnv("GOGC"); ok {
		defer os.Setenv("GOGC", v)
	}
	os.Unsetenv("GOGC")
	tuneGC(log)
	if got := debug.SetGCPercent(100); got != parentGCPercent {
		t.Errorf("GOGC %d without the environment's; want %d", got, parentGCPercent)
	}
	if !strings.Contains(out.String(), "the parent's GOGC") || !strings.Contains(out.String(), "gogc=50") {
		t.Errorf("log: %q", out.String())
	}

	out.Reset()
	t.Setenv("GOGC", "200")
	tuneGC(log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC changed to %d with GOGC=200 in the environment; want it left alone", got)
	}
	if !strings.Contains(out.String(), "GOGC from the environment") || !strings.Contains(out.String(), "gogc=200") {
		t.Errorf("log: %q", out.String())
	}
}
