package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

// openStats summarise one open loop of the overload scenario. Its times are
// from each request's scheduled start.
type openStats struct {
	Scheduled int
	// OK counts the whole 200s; InWindow those complete before scheduling
	// ended, and Goodput is that over the window (in req/s), so that a
	// gateway that holds requests past the window gains nothing by it.
	OK, InWindow int
	Goodput      float64
	OKP50, OKP99 time.Duration
	// Refused counts the whole 503s; NoRetryAfter those without a
	// Retry-After of whole seconds; RetryAfter holds the values of the
	// others.
	Refused                int
	RefusedP50, RefusedP99 time.Duration
	NoRetryAfter           int
	RetryAfter             []int
	// Other counts whole responses of any other status; Transport the
	// requests without a whole response; Overloaded those the generator
	// did not send; Integrity the bodies that failed their digest.
	Other, Transport, Overloaded, Integrity int
	// MaxLag is the latest any request started after its schedule.
	MaxLag time.Duration
	failures
}

// summarizeOpen sorts the results of an open loop that scheduled requests
// for window into the figures the overload targets judge.
func summarizeOpen(what string, rs []load.Result, window time.Duration) openStats {
	s := openStats{Scheduled: len(rs)}
	var okLat, refusedLat []time.Duration
	for _, r := range rs {
		s.MaxLag = max(s.MaxLag, r.Lag)
		switch {
		case r.DigestOK != nil && !*r.DigestOK:
			s.Integrity++
			s.note(true, what, fmt.Sprintf("request %d: %s", r.Index, r.Err))
		case strings.HasPrefix(r.Err, "generator overloaded"):
			s.Overloaded++
			s.note(false, what, fmt.Sprintf("request %d: %s", r.Index, r.Err))
		case r.Err != "":
			s.Transport++
			s.note(false, what, fmt.Sprintf("request %d: status %d: %s", r.Index, r.Status, r.Err))
		case r.Status == 200:
			s.OK++
			okLat = append(okLat, r.TTLB)
			if r.Start+r.TTLB <= window {
				s.InWindow++
			}
		case r.Status == 503:
			s.Refused++
			refusedLat = append(refusedLat, r.TTLB)
			if n, err := strconv.Atoi(strings.TrimSpace(r.RetryAfter)); err == nil && n >= 0 {
				s.RetryAfter = append(s.RetryAfter, n)
			} else {
				s.NoRetryAfter++
				s.note(false, what, fmt.Sprintf("request %d: 503 with Retry-After %q", r.Index, r.RetryAfter))
			}
		default:
			s.Other++
			s.note(false, what, fmt.Sprintf("request %d: status %d after %s ms", r.Index, r.Status, ms(r.TTLB)))
		}
	}
	if window > 0 {
		s.Goodput = float64(s.InWindow) / window.Seconds()
	}
	s.OKP50, s.OKP99 = rank(okLat, 0.5), rank(okLat, 0.99)
	s.RefusedP50, s.RefusedP99 = rank(refusedLat, 0.5), rank(refusedLat, 0.99)
	return s
}

// put stores the figures under prefix ("x3.goodput" and so on), with the
// goodput as a share of capacity and the 200 p99 as a share of okBound (2 ×
// unloaded + the queue target). A time without a request to measure it is
// left out.
func (s openStats) put(figs map[string]float64, prefix string, capacity float64, okBound time.Duration) {
	figs[prefix+".scheduled"] = float64(s.Scheduled)
	figs[prefix+".goodput"] = s.Goodput
	if capacity > 0 {
		figs[prefix+".goodput_ratio"] = s.Goodput / capacity
	}
	figs[prefix+".ok"] = float64(s.OK)
	figs[prefix+".refused"] = float64(s.Refused)
	figs[prefix+".no_retry_after"] = float64(s.NoRetryAfter)
	figs[prefix+".other_status"] = float64(s.Other)
	figs[prefix+".transport_errors"] = float64(s.Transport)
	figs[prefix+".generator_overloaded"] = float64(s.Overloaded)
	figs[prefix+".max_lag"] = s.MaxLag.Seconds()
	if s.OK > 0 {
		figs[prefix+".ok_p50"] = s.OKP50.Seconds()
		figs[prefix+".ok_p99"] = s.OKP99.Seconds()
		if okBound > 0 {
			figs[prefix+".ok_p99_ratio"] = float64(s.OKP99) / float64(okBound)
		}
	}
	if s.Refused > 0 {
		figs[prefix+".refused_p50"] = s.RefusedP50.Seconds()
		figs[prefix+".refused_p99"] = s.RefusedP99.Seconds()
	}
	if len(s.RetryAfter) > 0 {
		figs[prefix+".retry_after_min"] = float64(rank(s.RetryAfter, 0))
		figs[prefix+".retry_after_median"] = float64(median(s.RetryAfter))
		figs[prefix+".retry_after_max"] = float64(rank(s.RetryAfter, 1))
	}
}
