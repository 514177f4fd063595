package demo

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxSize is the largest size ParseSize accepts (1 TiB): far beyond any test,
// small enough that a typo cannot ask a worker for an endless response.
const MaxSize int64 = 1 << 40

// units maps the accepted suffixes, in lower case, to their multipliers.
// KB/MB/GB/TB are decimal and KiB/MiB/GiB/TiB binary, as the SI and IEC
// standards say, so "27MB" and "27MiB" differ on purpose.
var units = map[string]int64{
	"":    1,
	"b":   1,
	"kb":  1e3,
	"mb":  1e6,
	"gb":  1e9,
	"tb":  1e12,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
}

// ParseSize parses a byte count such as "4096", "27MiB", "1GiB" or "10MB"
// (a non-negative integer, optionally followed by B, KB, MB, GB, TB, KiB,
// MiB, GiB or TiB, case-insensitive). The result is at most MaxSize.
func ParseSize(s string) (int64, error) {
	digits := strings.TrimSpace(s)
	i := 0
	for i < len(digits) && digits[i] >= '0' && digits[i] <= '9' {
		i++
	}
	num, unit := digits[:i], strings.TrimSpace(digits[i:])
	if num == "" {
		return 0, fmt.Errorf("size %q: not a byte count; use a non-negative integer with an optional unit, e.g. 4096, 27MiB, 1GiB", s)
	}
	mult, ok := units[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q; use bytes or KiB/MiB/GiB/TiB (binary) or KB/MB/GB/TB (decimal)", s, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > MaxSize/mult {
		return 0, fmt.Errorf("size %q: larger than the maximum of 1TiB (%d bytes); ask for less", s, MaxSize)
	}
	return n * mult, nil
}
