package load

import (
	"math"
	"slices"
	"time"
)

// Result is what happened to one request. Durations are measured from
// Start: when the request was started in a closed loop, when it was
// scheduled to start in an open one.
type Result struct {
	// Index numbers the requests of a run from 0 in the order started (in
	// an open loop, scheduled).
	Index int `json:"index"`
	// Start is when the request started, relative to the start of the run;
	// in an open loop, when it was scheduled to.
	Start time.Duration `json:"start_ns"`
	// Lag is how late an open-loop request actually started after Start:
	// the generator's own delay, which its times include. 0 in a closed
	// loop.
	Lag time.Duration `json:"lag_ns,omitempty"`
	// Status is the HTTP status, 0 if no response head arrived.
	Status int `json:"status"`
	// RetryAfter is the response's Retry-After header as sent ("" if
	// none), so that a caller can check every 503 said when to come back.
	RetryAfter string `json:"retry_after,omitempty"`
	// Bytes counts the body bytes received.
	Bytes int64 `json:"bytes"`
	// TTFB is the time to the first body byte (to the head for an empty
	// body).
	TTFB time.Duration `json:"ttfb_ns"`
	// Transfer is the time from the first to the last body byte.
	Transfer time.Duration `json:"transfer_ns"`
	// TTLB is the time until the body ended.
	TTLB time.Duration `json:"ttlb_ns"`
	// DigestOK is set when a Content-Digest was checked.
	DigestOK *bool `json:"digest_ok,omitempty"`
	// Err says why the request failed: no response, a body that ended
	// early, a digest that did not match, or (in an open loop) "generator
	// overloaded" for a request not started because MaxInFlight were in
	// flight. "" for a complete response,
	// whatever its status.
	Err string `json:"err,omitempty"`
}

// Report is the outcome of a Run.
type Report struct {
	// Results has one entry per request, in Index order.
	Results []Result `json:"results"`
	// Summary aggregates Results.
	Summary Summary `json:"summary"`
}

// Summary aggregates the results of a run.
type Summary struct {
	// Requests is the number of requests made.
	Requests int `json:"requests"`
	// Errors counts the results with Err set.
	Errors int `json:"errors"`
	// Statuses counts responses by HTTP status (failures without a head
	// are not counted).
	Statuses map[int]int `json:"statuses"`
	// Bytes is the total of body bytes received, complete or not.
	Bytes int64 `json:"bytes"`
	// Wall is the duration of the whole run.
	Wall time.Duration `json:"wall_ns"`
	// Throughput is Bytes per second of Wall.
	Throughput float64 `json:"throughput_bytes_per_second"`
	// TTFB, Transfer and TTLB are over the requests without Err.
	TTFB     Stats `json:"ttfb"`
	Transfer Stats `json:"transfer"`
	TTLB     Stats `json:"ttlb"`
}

// Stats are order statistics of one duration over a run.
type Stats struct {
	Median time.Duration `json:"median_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
}

func summarize(results []Result, wall time.Duration) Summary {
	s := Summary{Requests: len(results), Statuses: map[int]int{}, Wall: wall}
	var ttfb, transfer, ttlb []time.Duration
	for _, r := range results {
		s.Bytes += r.Bytes
		if r.Status != 0 {
			s.Statuses[r.Status]++
		}
		if r.Err != "" {
			s.Errors++
			continue
		}
		ttfb = append(ttfb, r.TTFB)
		transfer = append(transfer, r.Transfer)
		ttlb = append(ttlb, r.TTLB)
	}
	if wall > 0 {
		s.Throughput = float64(s.Bytes) / wall.Seconds()
	}
	s.TTFB, s.Transfer, s.TTLB = stats(ttfb), stats(transfer), stats(ttlb)
	return s
}

// stats uses the nearest-rank percentile, so every figure is a duration
// that some request actually had.
func stats(d []time.Duration) Stats {
	if len(d) == 0 {
		return Stats{}
	}
	slices.Sort(d)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return Stats{Median: rank(0.5), P99: rank(0.99), Max: d[len(d)-1]}
}
