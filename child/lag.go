package child

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// lagWindow counts flush lags in the buckets of the flush-lag histogram, so
// that the tick can report the p99 of its last interval (the Prometheus
// histogram only has totals since the start). The writer goroutine adds to
// it and the tick goroutine reads it: counters, no lock.
type lagWindow struct {
	counts []atomic.Uint64 // one more than flushLagBuckets: the last is +Inf
	last   []uint64        // the tick's copy at its previous reading
	now    []uint64
	bounds []float64 // lower and upper bounds of each count, in seconds
}

func newLagWindow() *lagWindow {
	return &lagWindow{
		counts: make([]atomic.Uint64, len(flushLagBuckets)+1),
		bounds: append(append([]float64{0}, flushLagBuckets...), math.Inf(1)),
	}
}

// observe counts one lag; the writer goroutine calls it for every segment.
func (w *lagWindow) observe(lag time.Duration) {
	i, _ := slices.BinarySearch(flushLagBuckets, lag.Seconds())
	w.counts[i].Add(1)
}

// p99 returns the 99th percentile of the lags observed since the previous
// call; only the tick goroutine calls it.
func (w *lagWindow) p99() time.Duration {
	w.now = w.now[:0]
	for i := range w.counts {
		w.now = append(w.now, w.counts[i].Load())
	}
	p := histogramP99(w.now, w.last, w.bounds)
	w.last, w.now = w.now, w.last
	return p
}
