package main

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what the bench reads from the output of `wrk --latency`.
type wrkResult struct {
	Requests  int64         `json:"requests"` // completed, whatever their status
	Elapsed   time.Duration `json:"elapsed_ns"`
	ReqPerSec float64       `json:"requests_per_second"`
	P50       time.Duration `json:"p50_ns"`
	P75       time.Duration `json:"p75_ns"`
	P90       time.Duration `json:"p90_ns"`
	P99       time.Duration `json:"p99_ns"`
	// Socket errors by kind, and responses that were not 2xx or 3xx.
	Connect, Read, Write, Timeout, Non2xx int64
}

// Errors is every failure wrk counted.
func (w wrkResult) Errors() int64 {
	return w.Connect + w.Read + w.Write + w.Timeout + w.Non2xx
}

// parseWrk reads wrk 4's report. The request count, the elapsed time,
// Requests/sec and all four latency percentiles must be there: a report
// without them (wrk could not connect, or printed something else) is an
// error quoting it, never a run of zeros.
func parseWrk(out string) (wrkResult, error) {
	var w wrkResult
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var err error
		switch {
		case len(f) == 2 && strings.HasSuffix(f[0], "%"):
			// "50%    1.23ms" under "Latency Distribution".
			var d time.Duration
			if d, err = parseWrkTime(f[1]); err == nil {
				switch f[0] {
				case "50%":
					w.P50 = d
				case "75%":
					w.P75 = d
				case "90%":
					w.P90 = d
				case "99%":
					w.P99 = d
				}
				seen[f[0]] = true
			}
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			// "752 requests in 1.03s, 755.91MB read"
			if w.Requests, err = strconv.ParseInt(f[0], 10, 64); err == nil {
				w.Elapsed, err = parseWrkTime(strings.TrimSuffix(f[3], ","))
			}
			seen["requests"] = err == nil
		case f[0] == "Requests/sec:" && len(f) == 2:
			w.ReqPerSec, err = strconv.ParseFloat(f[1], 64)
			seen["rps"] = err == nil
		case f[0] == "Non-2xx" && len(f) == 5:
			// "Non-2xx or 3xx responses: 7174"
			w.Non2xx, err = strconv.ParseInt(f[4], 10, 64)
		case f[0] == "Socket" && len(f) == 10:
			// "Socket errors: connect 0, read 3683, write 0, timeout 0"
			for i, dst := range []*int64{&w.Connect, &w.Read, &w.Write, &w.Timeout} {
				if err == nil {
					*dst, err = strconv.ParseInt(strings.TrimSuffix(f[3+2*i], ","), 10, 64)
				}
			}
		}
		if err != nil {
			return w, fmt.Errorf("wrk output line %q: %v", sc.Text(), err)
		}
	}
	for _, k := range []string{"requests", "rps", "50%", "75%", "90%", "99%"} {
		if !seen[k] {
			return w, fmt.Errorf("wrk output has no %s figure (was --latency given?):\n%s", k, out)
		}
	}
	return w, nil
}

// parseWrkTime reads wrk's durations: a number with the unit us, ms, s, m
// or h, as its format_time_us and format_time_s print them.
func parseWrkTime(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("duration %q has no unit wrk uses (us, ms, s, m, h)", s)
}
