package main

import (
	"bytes"
	"log"
	"log/slog"
	"sync"
	"time"
)

// acceptErrorPrefix starts net/http's line for a failed Accept, which it
// retries at once (with a backoff of at most a second): out of descriptors,
// it fails thousands of times a second.
const acceptErrorPrefix = "http: Accept error"

// serverErrorLog is the http.Server's ErrorLog: its lines go to log as
// warnings, and Accept errors at most once per interval, with the count of
// those held back since the last one. Hand-written because parent's rate
// log is internal to that package and has no clock to test with.
func serverErrorLog(log *slog.Logger) *log.Logger {
	return newServerErrorLog(log, time.Second, time.Now)
}

func newServerErrorLog(l *slog.Logger, interval time.Duration, now func() time.Time) *log.Logger {
	return log.New(&errorLogWriter{log: l, interval: interval, now: now}, "", 0)
}

// errorLogWriter turns log.Logger lines into slog records, rate limiting
// the Accept errors.
type errorLogWriter struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu         sync.Mutex
	last       time.Time // when an Accept error was last written
	suppressed int       // Accept errors held back since
}

func (w *errorLogWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimRight(p, "\n"))
	if !bytes.HasPrefix(p, []byte(acceptErrorPrefix)) {
		w.log.Warn(msg)
		return len(p), nil
	}
	now := w.now()
	w.mu.Lock()
	if !w.last.IsZero() && now.Sub(w.last) < w.interval {
		w.suppressed++
		w.mu.Unlock()
		return len(p), nil
	}
	suppressed := w.suppressed
	w.last, w.suppressed = now, 0
	w.mu.Unlock()
	w.log.Warn(msg, "suppressed_since_last", suppressed)
	return len(p), nil
}
