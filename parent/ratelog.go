package parent

import (
	"log/slog"
	"sync"
	"time"
)

// rateLog writes at most one line per key per interval and counts what it
// held back, so that an overload (thousands of 503s a second) costs a line a
// second in the log, not a full disk.
type rateLog struct {
	log      *slog.Logger
	interval time.Duration

	mu   sync.Mutex
	keys map[string]*rateEntry
}

type rateEntry struct {
	last       time.Time
	suppressed int
}

func newRateLog(log *slog.Logger, interval time.Duration) *rateLog {
	return &rateLog{log: log, interval: interval, keys: map[string]*rateEntry{}}
}

// warn logs msg for key unless one was logged less than an interval ago.
func (r *rateLog) warn(key, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	e := r.keys[key]
	if e == nil {
		e = &rateEntry{}
		r.keys[key] = e
	}
	if now.Sub(e.last) < r.interval {
		e.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := e.suppressed
	e.last, e.suppressed = now, 0
	r.mu.Unlock()
	r.log.Warn(msg, append(args, "suppressed_since_last", suppressed)...)
}
