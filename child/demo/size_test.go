package demo

import (
	"strings"
	"testing"
)

// TestParseSize checks the sizes /payload takes; the syntax's own table is
// in package settings.
func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0":      0,
		"4096":   4096,
		"27MiB":  27 << 20,
		"1GiB":   1 << 30,
		"1gib":   1 << 30,
		"10KB":   10_000,
		"10KiB":  10 << 10,
		"3MB":    3_000_000,
		"2GB":    2_000_000_000,
		"1TiB":   1 << 40,
		"512B":   512,
		" 8 MiB": 8 << 20,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                     "not a byte count",
		"MiB":                  "not a byte count",
		"-1":                   "not a byte count",
		"12XB":                 `unknown unit "XB"`,
		"1.5GiB":               `unknown unit ".5GiB"`,
		"2TiB":                 "maximum",
		"99999999999999999999": "maximum",
	}
	for in, want := range bad {
		_, err := ParseSize(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "size ") {
			t.Errorf("ParseSize(%q) error = %v; want one containing %q", in, err, want)
		}
	}
}
