package child

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicegw/sluice/ipc"
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

// adminConfig is what GET /config answers: the settings in force.
type adminConfig struct {
	MaxInFlight   int    `json:"max_inflight"`
	HighWatermark int64  `json:"high_watermark"`
	LowWatermark  int64  `json:"low_watermark"`
	QueueLimit    int64  `json:"queue_limit"`
	Admission     bool   `json:"admission"`
	Sched         string `json:"sched"`
}

// tuning is the body of PUT /config: absent fields stay as they are. Only
// max_inflight and the watermarks can change live; the other fields of
// GET /config are accepted if unchanged, so that a GET's answer can be
// edited and sent back.
type tuning struct {
	MaxInFlight   *int    `json:"max_inflight"`
	HighWatermark *int64  `json:"high_watermark"`
	LowWatermark  *int64  `json:"low_watermark"`
	QueueLimit    *int64  `json:"queue_limit"`
	Admission     *bool   `json:"admission"`
	Sched         *string `json:"sched"`
}

func (s *server) currentConfig() adminConfig {
	_, _, limit := s.gate.counts()
	if !s.gate.gated {
		limit = s.maxInFlight // not enforced: admission is off
	}
	queue, high, low := s.budget.Limits()
	return adminConfig{
		MaxInFlight:   limit,
		HighWatermark: high,
		LowWatermark:  low,
		QueueLimit:    queue,
		Admission:     s.gate.gated,
		Sched:         s.sched,
	}
}

// serveTune is PUT /config: it checks every field first, then applies them
// all, and answers with the settings now in force.
func (s *server) serveTune(w http.ResponseWriter, r *http.Request) {
	var t tuning
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		http.Error(w, "sluice worker: PUT /config takes a JSON object with any of max_inflight, high_watermark, low_watermark: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.tuneMu.Lock()
	defer s.tuneMu.Unlock()
	cur := s.currentConfig()
	if err := s.checkTuning(t, cur); err != nil {
		http.Error(w, "sluice worker: "+err.Error(), http.StatusBadRequest)
		return
	}
	high, low := cur.HighWatermark, cur.LowWatermark
	if t.HighWatermark != nil {
		high = *t.HighWatermark
	}
	if t.LowWatermark != nil {
		low = *t.LowWatermark
	}
	if high != cur.HighWatermark || low != cur.LowWatermark {
		if err := s.budget.SetWatermarks(high, low); err != nil {
			// checkTuning ran the same validation; this is a bug.
			http.Error(w, "sluice worker: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if t.MaxInFlight != nil && s.gate.gated && *t.MaxInFlight != cur.MaxInFlight {
		if err := s.gate.setLimit(*t.MaxInFlight); err != nil {
			http.Error(w, "sluice worker: max_inflight: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	now := s.currentConfig()
	if now != cur {
		s.log.Info("sluice worker: settings tuned at run time",
			"max_inflight", now.MaxInFlight, "high_watermark", now.HighWatermark, "low_watermark", now.LowWatermark)
	}
	writeJSON(w, http.StatusOK, now)
}

// checkTuning returns an error naming the first field of t that cannot be
// applied to the settings cur, its value and what to use instead.
func (s *server) checkTuning(t tuning, cur adminConfig) error {
	if t.MaxInFlight != nil {
		n := *t.MaxInFlight
		switch {
		case n < 1 || n > maxInFlightLimit:
			return fmt.Errorf("max_inflight %d is out of range; use 1..%d", n, maxInFlightLimit)
		case !s.gate.gated && n != cur.MaxInFlight:
			return fmt.Errorf("max_inflight %d: admission is off on this worker (SLUICE_ADMISSION=off), so no in-flight limit applies; restart it with admission on", n)
		}
	}
	if t.QueueLimit != nil && *t.QueueLimit != cur.QueueLimit {
		return fmt.Errorf("queue_limit cannot change at run time (it stays %d); set SLUICE_QUEUE_LIMIT and restart the workers", cur.QueueLimit)
	}
	if t.Admission != nil && *t.Admission != cur.Admission {
		return fmt.Errorf("admission cannot change at run time (it stays %v); set SLUICE_ADMISSION and restart the workers", cur.Admission)
	}
	if t.Sched != nil && *t.Sched != cur.Sched {
		return fmt.Errorf("sched %q: the scheduling policy cannot change at run time (it stays %q); set SLUICE_SCHED and restart the workers", *t.Sched, cur.Sched)
	}
	high, low := cur.HighWatermark, cur.LowWatermark
	if t.HighWatermark != nil {
		high = *t.HighWatermark
		if high < 1 || high > cur.QueueLimit {
			return fmt.Errorf("high_watermark %d is out of range; use 1..%d bytes (the queue_limit)", high, cur.QueueLimit)
		}
	}
	if t.LowWatermark != nil {
		low = *t.LowWatermark
		if low < 1 {
			return fmt.Errorf("low_watermark %d is out of range; use 1..high_watermark bytes", low)
		}
	}
	if low > high {
		what := "low_watermark"
		if t.LowWatermark == nil {
			what = "high_watermark"
		}
		return fmt.Errorf("%s: low_watermark %d would be above high_watermark %d; it must be at most high_watermark (send both to move them together)", what, low, high)
	}
	if err := stream.ValidateBudget(cur.QueueLimit, high, low); err != nil {
		return errors.New("high_watermark, low_watermark: " + err.Error())
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
