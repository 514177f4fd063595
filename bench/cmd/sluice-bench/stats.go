package main

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/sluicegw/sluice/bench/load"
)

// rank returns the nearest-rank p-quantile (0 < p ≤ 1) of v, so that every
// figure is one that was actually measured; the median of an even count is
// the lower middle. v is not modified. The zero value for an empty v.
func rank[T cmp.Ordered](v []T, p float64) T {
	var zero T
	if len(v) == 0 {
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// median is rank(v, 0.5).
func median[T cmp.Ordered](v []T) T { return rank(v, 0.5) }

// durStats computes median, p99 and max like bench/load does.
func durStats(d []time.Duration) load.Stats {
	if len(d) == 0 {
		return load.Stats{}
	}
	return load.Stats{Median: rank(d, 0.5), P99: rank(d, 0.99), Max: slices.Max(d)}
}

// medianStats takes the median of each figure across rounds.
func medianStats(s []load.Stats) load.Stats {
	var m, p, x []time.Duration
	for _, st := range s {
		m, p, x = append(m, st.Median), append(p, st.P99), append(x, st.Max)
	}
	return load.Stats{Median: median(m), P99: median(p), Max: median(x)}
}
