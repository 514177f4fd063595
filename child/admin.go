package child

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicegw/sluice/ipc"
	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/stream"
)

// Admin streams (docs/PROTOCOL.md, "Admin streams") carry the parent's own
// requests to the worker: its metrics, its profiles, live tuning. They are
// marked in the request head and bypass the admission gate, so that they
// are answered while every handler slot is busy.
const (
	adminField = ":sluice"
	adminValue = "admin"
)

// isAdmin reports whether a request head opens an admin stream.
func isAdmin(head ipc.Fields) bool {
	for _, f := range head {
		if f.Name == adminField {
			return f.Value == adminValue
		}
	}
	return false
}

// adminHandler serves the admin streams' routes.
func (s *server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog:      promLog{s},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.currentConfig())
	})
	mux.HandleFunc("PUT /config", s.serveTune)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// promLog passes promhttp's errors (a collector that failed) to the log.
type promLog struct{ s *server }

func (l promLog) Println(v ...any) {
	l.s.log.Warn("sluice worker: serving /metrics", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}

// currentConfig is what GET /config answers: the settings in force, every
// field present. (queue_timeout is the gateway's and stays absent.)
func (s *server) currentConfig() settings.Config {
	c := s.gate.counts()
	limit := 0 // automatic
	switch {
	case !s.gate.gated:
		limit = s.maxInFlight // not enforced: admission is off
	case c.fixed:
		limit = c.limit
	}
	queue, high, low := s.budget.Limits()
	return settings.Config{
		MaxInFlight:   new(limit),
		HighWatermark: new(high),
		LowWatermark:  new(low),
		QueueLimit:    new(queue),
		Admission:     new(s.gate.gated),
		Sched:         new(s.sched),
	}
}

// serveTune is PUT /config: it checks every field first, then applies them
// all, and answers with the settings now in force. Only max_inflight and
// the watermarks change live; the other fields are accepted if unchanged,
// so that a GET's answer can be edited and sent back.
func (s *server) serveTune(w http.ResponseWriter, r *http.Request) {
	t, err := settings.DecodeConfig(r.Body)
	if err != nil {
		http.Error(w, "sluice worker: PUT /config: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := t.Validate(); err != nil {
		http.Error(w, "sluice worker: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.tuneMu.Lock()
	defer s.tuneMu.Unlock()
	cur := s.currentConfig()
	if err := s.checkTuning(t, cur); err != nil {
		http.Error(w, "sluice worker: "+err.Error(), http.StatusBadRequest)
		return
	}
	high, low := *cur.HighWatermark, *cur.LowWatermark
	if t.HighWatermark != nil {
		high = *t.HighWatermark
	}
	if t.LowWatermark != nil {
		low = *t.LowWatermark
	}
	if high != *cur.HighWatermark || low != *cur.LowWatermark {
		if err := s.budget.SetWatermarks(high, low); err != nil {
			// checkTuning ran the same validation; this is a bug.
			http.Error(w, "sluice worker: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if t.MaxInFlight != nil && s.gate.gated && *t.MaxInFlight != *cur.MaxInFlight {
		if err := s.setMaxInFlight(*t.MaxInFlight); err != nil {
			http.Error(w, "sluice worker: max_inflight: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	now := s.currentConfig()
	if !now.Equal(cur) {
		s.log.Info("sluice worker: settings tuned at run time",
			"max_inflight", *now.MaxInFlight, "high_watermark", *now.HighWatermark, "low_watermark", *now.LowWatermark)
	}
	writeJSON(w, http.StatusOK, now)
}

// setMaxInFlight puts a hard cap of n handlers in place, or with 0 gives
// the gate back to the CPU admission controller, which resumes from the
// limit it had.
func (s *server) setMaxInFlight(n int) error {
	if n > 0 {
		return s.gate.setLimit(n, true)
	}
	return s.gate.setLimit(int(s.autoLimit.Load()), false)
}

// checkTuning returns an error naming the first field of t, already
// validated on its own, that cannot be applied to the settings cur, its
// value and what to use instead.
func (s *server) checkTuning(t, cur settings.Config) error {
	if t.QueueTimeout != nil {
		return fmt.Errorf("queue_timeout %q: a worker has no queue timeout, the gateway does; PUT it to the gateway's /config", *t.QueueTimeout)
	}
	if t.MaxInFlight != nil {
		n := *t.MaxInFlight
		switch {
		case !s.gate.gated && n != *cur.MaxInFlight:
			return fmt.Errorf("max_inflight %d: admission is off on this worker (%s=%s), so no in-flight limit applies; restart it with admission on", n, settings.EnvAdmission, settings.AdmissionOff)
		case n > s.maxStreams:
			// The parent could never have more streams open here: its
			// requests beyond the limit would fail instead of waiting.
			return fmt.Errorf("max_inflight %d is above this worker's stream limit %d; use 1..%d", n, s.maxStreams, s.maxStreams)
		}
	}
	if t.QueueLimit != nil && *t.QueueLimit != *cur.QueueLimit {
		return fmt.Errorf("queue_limit cannot change at run time (it stays %d); set %s and restart the workers", *cur.QueueLimit, settings.EnvQueueLimit)
	}
	if t.Admission != nil && *t.Admission != *cur.Admission {
		return fmt.Errorf("admission cannot change at run time (it stays %v); set %s and restart the workers", *cur.Admission, settings.EnvAdmission)
	}
	if t.Sched != nil && *t.Sched != *cur.Sched {
		return fmt.Errorf("sched %q: the scheduling policy cannot change at run time (it stays %q); set %s and restart the workers", *t.Sched, *cur.Sched, settings.EnvSched)
	}
	high, low := *cur.HighWatermark, *cur.LowWatermark
	if t.HighWatermark != nil {
		high = *t.HighWatermark
		if high > *cur.QueueLimit {
			return fmt.Errorf("high_watermark %d is out of range; use 1..%d bytes (the queue_limit)", high, *cur.QueueLimit)
		}
	}
	if t.LowWatermark != nil {
		low = *t.LowWatermark
	}
	if low > high {
		what := "low_watermark"
		if t.LowWatermark == nil {
			what = "high_watermark"
		}
		return fmt.Errorf("%s: low_watermark %d would be above high_watermark %d; it must be at most high_watermark (send both to move them together)", what, low, high)
	}
	if err := stream.ValidateBudget(*cur.QueueLimit, high, low); err != nil {
		return errors.New("high_watermark, low_watermark: " + err.Error())
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
