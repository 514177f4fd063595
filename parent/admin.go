package parent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// AdminHandler serves the operator's endpoints: /healthz, /readyz, /status,
// /metrics (the parent and every worker, with a worker label), /config (live
// tuning), /debug/pprof/ for the parent and /debug/workers/ID/pprof/ for any
// one worker. Mount it on a listener only operators reach.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", g.serveReady)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, g.Status()) })
	mux.HandleFunc("GET /metrics", g.serveMetrics)
	mux.HandleFunc("GET /config", g.serveConfig)
	mux.HandleFunc("PUT /config", g.serveTune)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/workers/{id}/pprof/{rest...}", g.serveWorkerPprof)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// serveReady is 200 while at least one worker is up and the gateway is not
// draining or saturated (its wait queue full), so a load balancer routes
// elsewhere otherwise.
func (g *Gateway) serveReady(w http.ResponseWriter, r *http.Request) {
	st := g.Status()
	up, looping := 0, 0
	for _, ws := range st.Workers {
		switch ws.State {
		case "up":
			up++
		case "crash-loop":
			looping++
		}
	}
	var why string
	switch {
	case st.Draining:
		why = "draining"
	case up == 0 && looping > 0:
		why = fmt.Sprintf("no worker is up; %d crash-looping (see /status last_exit)", looping)
	case up == 0:
		why = "no worker is up yet"
	case st.Waiting >= g.cfg.MaxQueue:
		why = fmt.Sprintf("saturated: %d requests waiting, the most allowed", st.Waiting)
	}
	if why != "" {
		http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ready: %d of %d workers up\n", up, len(st.Workers))
}

// adminStream opens an admin stream (docs/PROTOCOL.md, "Admin streams") on
// worker id: it bypasses the worker's admission gate, so it answers while
// every handler slot is busy.
func (g *Gateway) adminStream(ctx context.Context, id int, method, path string, body []byte) (int, ipc.Fields, *ipc.Stream, error) {
	b := g.pool.byID(id)
	if b == nil {
		return 0, nil, nil, fmt.Errorf("worker %d is not up", id)
	}
	head := ipc.Fields{
		{Name: ":method", Value: method}, {Name: ":path", Value: path},
		{Name: ":authority", Value: "sluice-admin"}, {Name: ":scheme", Value: "http"},
		{Name: ":sluice", Value: "admin"},
	}
	if body != nil {
		head = append(head, ipc.Field{Name: "Content-Length", Value: strconv.Itoa(len(body))}, ipc.Field{Name: "Content-Type", Value: "application/json"})
	}
	st, err := b.conn.OpenStream(ctx, head, body == nil)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("worker %d: %w", id, err)
	}
	// ctx bounds the whole exchange, body included: a worker that sends
	// its head and then stalls must not hang a scrape. (Reset after a
	// complete exchange is a no-op.)
	context.AfterFunc(ctx, func() { st.Reset(ipc.CodeCancel) })
	if body != nil {
		st.Write(body)
		st.CloseWrite()
	}
	resp, err := st.ReadHead(ctx)
	if err != nil {
		st.Reset(ipc.CodeCancel)
		return 0, nil, nil, fmt.Errorf("worker %d: %w", id, err)
	}
	code, _ := strconv.Atoi(resp.Get(":status"))
	return code, resp, st, nil
}

// adminCall is adminStream for small answers: it reads the whole body.
func (g *Gateway) adminCall(ctx context.Context, id int, method, path string, body []byte) (int, []byte, error) {
	code, _, st, err := g.adminStream(ctx, id, method, path, body)
	if err != nil {
		return 0, nil, err
	}
	defer st.Close()
	out, err := io.ReadAll(io.LimitReader(st, 64<<20))
	return code, out, err
}

func (g *Gateway) serveWorkerPprof(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		http.Error(w, "worker id "+strconv.Quote(r.PathValue("id"))+" is not a number; see /status", http.StatusBadRequest)
		return
	}
	path := "/debug/pprof/" + r.PathValue("rest")
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	code, head, st, err := g.adminStream(r.Context(), id, "GET", path, nil)
	if err != nil {
		http.Error(w, "sluice: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer st.Close()
	for _, f := range head {
		if !strings.HasPrefix(f.Name, ":") {
			w.Header().Add(f.Name, f.Value)
		}
	}
	w.WriteHeader(code)
	if _, err := st.WriteTo(w); err != nil {
		// Never let a cut-off profile look complete.
		panic(http.ErrAbortHandler)
	}
}

// Tuning is what PUT /config may change at run time; absent fields stay.
type Tuning struct {
	MaxInFlight   *int    `json:"max_inflight,omitempty"`
	QueueTimeout  *string `json:"queue_timeout,omitempty"`
	HighWatermark *int64  `json:"high_watermark,omitempty"`
	LowWatermark  *int64  `json:"low_watermark,omitempty"`
	// Sched changes the workers' data scheduling policy. A policy lives
	// in each worker's connection, so it is applied by replacing the
	// workers one at a time (as on SIGHUP); no request fails.
	Sched *string `json:"sched,omitempty"`
}

func (g *Gateway) serveConfig(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{
		"max_inflight":  g.maxInFlight(),
		"queue_timeout": g.queueTimeout().String(),
		"max_queue":     g.cfg.MaxQueue,
	}
	workers := map[string]json.RawMessage{}
	for _, id := range g.pool.ids() {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		code, body, err := g.adminCall(ctx, id, "GET", "/config", nil)
		cancel()
		if err == nil && code == http.StatusOK && json.Valid(body) {
			workers[itoa(id)] = body
		}
	}
	out["workers"] = workers
	writeJSON(w, http.StatusOK, out)
}

// serveTune applies a Tuning to the parent, to every running worker, and to
// the workers started from now on.
func (g *Gateway) serveTune(w http.ResponseWriter, r *http.Request) {
	var t Tuning
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		http.Error(w, "sluice: PUT /config takes JSON with max_inflight, queue_timeout (e.g. \"10s\"), high_watermark, low_watermark, sched: "+err.Error(), http.StatusBadRequest)
		return
	}
	var qt time.Duration
	if t.QueueTimeout != nil {
		d, err := time.ParseDuration(*t.QueueTimeout)
		if err != nil || d <= 0 {
			http.Error(w, fmt.Sprintf("sluice: queue_timeout %q: want a positive duration such as \"10s\"", *t.QueueTimeout), http.StatusBadRequest)
			return
		}
		qt = d
	}
	if t.Sched != nil && *t.Sched != "sequential" && *t.Sched != "round-robin" {
		http.Error(w, fmt.Sprintf("sluice: sched %q: want sequential or round-robin", *t.Sched), http.StatusBadRequest)
		return
	}
	if t.MaxInFlight != nil && (*t.MaxInFlight < 1 || *t.MaxInFlight > ipc.DefaultMaxStreams) {
		http.Error(w, fmt.Sprintf("sluice: max_inflight %d: want 1..%d", *t.MaxInFlight, ipc.DefaultMaxStreams), http.StatusBadRequest)
		return
	}
	// Workers first: they validate the watermarks; the parent follows only
	// if every running worker accepted.
	workerPart := map[string]any{}
	var env []string
	if t.MaxInFlight != nil {
		workerPart["max_inflight"] = *t.MaxInFlight
		env = append(env, "SLUICE_MAX_INFLIGHT="+itoa(*t.MaxInFlight))
	}
	if t.HighWatermark != nil {
		workerPart["high_watermark"] = *t.HighWatermark
		env = append(env, fmt.Sprintf("SLUICE_HIGH_WATERMARK=%d", *t.HighWatermark))
	}
	if t.LowWatermark != nil {
		workerPart["low_watermark"] = *t.LowWatermark
		env = append(env, fmt.Sprintf("SLUICE_LOW_WATERMARK=%d", *t.LowWatermark))
	}
	if len(workerPart) > 0 {
		body, _ := json.Marshal(workerPart)
		var live struct {
			High       int64 `json:"high_watermark"`
			Low        int64 `json:"low_watermark"`
			QueueLimit int64 `json:"queue_limit"`
		}
		for _, id := range g.pool.ids() {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			code, msg, err := g.adminCall(ctx, id, "PUT", "/config", body)
			cancel()
			if err != nil {
				http.Error(w, fmt.Sprintf("sluice: worker %d did not answer the change: %v; workers before it may have applied it, see GET /config", id, err), http.StatusBadGateway)
				return
			}
			if code != http.StatusOK {
				http.Error(w, fmt.Sprintf("sluice: worker %d refused the change (%d): %s", id, code, bytes.TrimSpace(msg)), http.StatusBadRequest)
				return
			}
			json.Unmarshal(msg, &live)
		}
		if (t.HighWatermark != nil || t.LowWatermark != nil) && live.High > 0 {
			// Workers started later get the watermarks in force, all three
			// bytes figures, not defaults derived from the one that changed.
			env = append(env, fmt.Sprintf("SLUICE_HIGH_WATERMARK=%d", live.High),
				fmt.Sprintf("SLUICE_LOW_WATERMARK=%d", live.Low), fmt.Sprintf("SLUICE_QUEUE_LIMIT=%d", live.QueueLimit))
		}
		g.sup.addEnvOverrides(env)
	}
	if t.MaxInFlight != nil {
		g.pool.setLimit(*t.MaxInFlight)
	}
	if t.QueueTimeout != nil {
		g.queueWait.Store(int64(qt))
	}
	if t.Sched != nil {
		g.sup.addEnvOverrides([]string{"SLUICE_SCHED=" + *t.Sched})
		go func() {
			// Owned by the supervisor: Stop ends a rolling restart.
			if err := g.sup.Restart(context.Background()); err != nil {
				g.log.Warn("rolling restart for the new scheduling policy interrupted", "err", err)
			}
		}()
		g.log.Info("scheduling policy changed; replacing workers one at a time", "sched", *t.Sched)
	}
	g.log.Info("configuration tuned at run time", "max_inflight", g.maxInFlight(), "queue_timeout", g.queueTimeout(), "worker_change", workerPart)
	g.serveConfig(w, r)
}
