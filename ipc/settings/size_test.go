package settings

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"4096", 4096},
		{"512B", 512},
		{"512b", 512},
		{"64KiB", 64 << 10},
		{"8MiB", 8 << 20},
		{"1GiB", 1 << 30},
		{"1TiB", 1 << 40},
		{"1gib", 1 << 30},
		{"1GIB", 1 << 30},
		{"10KB", 10_000},
		{"3MB", 3_000_000},
		{"2GB", 2_000_000_000},
		{"1TB", 1_000_000_000_000},
		{" 7 ", 7},
		{"2 mib", 2 << 20},
		{"\t8 MiB\n", 8 << 20},
		{"007", 7},
		{"1099511627776", MaxSize},
		{"1024GiB", MaxSize},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "not a byte count"},
		{"   ", "not a byte count"},
		{"MiB", "not a byte count"},
		{"-1", "not a byte count: sizes cannot be negative"},
		{"-8MiB", "negative"},
		{"+5", "not a byte count"},
		{"12XB", `unknown unit "XB"`},
		{"1.5GiB", `unknown unit ".5GiB"`},
		{"1_000", `unknown unit "_000"`},
		{"8 Mi B", `unknown unit "Mi B"`},
		{"0x10", `unknown unit "x10"`},
		{"2TiB", "maximum of 1TiB"},
		{"1099511627777", "maximum of 1TiB"},
		{"1025GiB", "maximum of 1TiB"},
		{"99999999999999999999", "maximum of 1TiB"},
		{"9223372036854775807KiB", "maximum of 1TiB"},
	} {
		_, err := ParseSize(tc.in)
		var se *SizeError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "size "+quote(tc.in)+": ") ||
			!errors.As(err, &se) || se.Input != tc.in || strings.Contains(se.Why, quote(tc.in)) {
			t.Errorf("ParseSize(%q) error = %v; want a *SizeError quoting the input once and saying %q", tc.in, err, tc.want)
		}
	}
}

func quote(s string) string {
	return strings.ReplaceAll(`"`+strings.ReplaceAll(s, "\t", `\t`)+`"`, "\n", `\n`)
}

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1500, "1500"},
		{1024, "1KiB"},
		{3000, "3KB"},
		{8 << 20, "8MiB"},
		{10_000_000, "10MB"},
		{3 << 30, "3GiB"},
		{MaxSize, "1TiB"},
		{1 << 20 * 1000, "1000MiB"},
		{-1, "-1"},
	} {
		if got := FormatSize(tc.n); got != tc.want {
			t.Errorf("FormatSize(%d) = %q; want %q", tc.n, got, tc.want)
		}
		if tc.n < 0 {
			continue
		}
		if back, err := ParseSize(FormatSize(tc.n)); err != nil || back != tc.n {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", tc.n, back, err)
		}
	}
}
