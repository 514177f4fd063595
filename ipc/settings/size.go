package settings

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxSize is the largest size ParseSize accepts (1 TiB): far above any
// watermark, buffer or test payload, low enough that a typo cannot ask a
// worker for an endless response or overflow an int64 multiplication.
const MaxSize int64 = 1 << 40

// sizeUnits maps the accepted suffixes, in lower case, to multipliers.
// KB/MB/GB/TB are decimal and KiB/MiB/GiB/TiB binary, as the SI and IEC
// say, so "27MB" and "27MiB" differ on purpose.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

// sizeHint ends the errors about syntax, so that each says what to write.
const sizeHint = "use a non-negative integer with an optional unit, e.g. 4096, 64KiB, 8MiB, 1GiB or 10MB"

// SizeError is a string ParseSize cannot take.
type SizeError struct {
	Input string // as given
	Why   string // what is wrong and what to use instead
}

// Error quotes the input: `size "12XB": unknown unit "XB"; use ...`. Where
// the input is quoted already (a flag, a variable), use Why alone.
func (e *SizeError) Error() string { return fmt.Sprintf("size %q: %s", e.Input, e.Why) }

// ParseSize parses a byte count: a non-negative integer, optionally followed
// by B, KiB, MiB, GiB, TiB (binary) or KB, MB, GB, TB (decimal), in any case,
// with spaces allowed around the number and the unit. The result is at most
// [MaxSize]. Errors are *SizeError.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, &SizeError{s, "not a byte count: sizes cannot be negative; " + sizeHint}
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, &SizeError{s, "not a byte count; " + sizeHint}
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, &SizeError{s, fmt.Sprintf("unknown unit %q; use B, KiB, MiB, GiB, TiB (binary) or KB, MB, GB, TB (decimal)", unit)}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > MaxSize/mult {
		return 0, &SizeError{s, fmt.Sprintf("larger than the maximum of 1TiB (%d bytes); ask for less", MaxSize)}
	}
	return n * mult, nil
}

// sizeWhy is what is wrong with a size, without the size: for errors that
// quote it already.
func sizeWhy(err error) string {
	var se *SizeError
	if errors.As(err, &se) {
		return se.Why
	}
	return err.Error()
}

// FormatSize writes n in the largest unit that represents it exactly,
// binary before decimal (8388608 is "8MiB", 10000000 is "10MB", 1500 is
// "1500"), so that logs and help texts read as an operator would write
// them, and ParseSize gives n back up to MaxSize. A negative n, which some
// settings use for "none", is written as a plain integer.
func FormatSize(n int64) string {
	if n > 0 {
		for _, u := range []struct {
			name string
			mult int64
		}{
			{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
			{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3},
		} {
			if n%u.mult == 0 {
				return strconv.FormatInt(n/u.mult, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(n, 10)
}
