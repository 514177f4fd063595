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
	"github.com/sluicegw/sluice/ipc/settings"
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
// draining (from BeginDrain on) or saturated (its wait queue full), so a load balancer routes
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
	case st.Draining || g.unready.Load():
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

// Tuning is the JSON of PUT and GET /config. It is the settings package's
// type, the one a worker's own /config speaks too; the name stays for the
// callers that knew it. The gateway changes max_inflight, queue_timeout,
// the watermarks and sched (a policy lives in each worker's connection, so
// it is applied by replacing the workers one at a time, as on SIGHUP, and
// no request fails); queue_limit and admission are fixed at start.
type Tuning = settings.Config

// gatewayConfig is what GET /config answers: the gateway's settings and,
// for each worker up, what its own GET /config answered.
type gatewayConfig struct {
	settings.Config
	MaxQueue int                        `json:"max_queue"`
	Workers  map[string]json.RawMessage `json:"workers"`
}

func (g *Gateway) serveConfig(w http.ResponseWriter, r *http.Request) {
	out := gatewayConfig{
		Config: settings.Config{
			MaxInFlight:  new(g.maxInFlight()),
			QueueTimeout: new(g.queueTimeout().String()),
		},
		MaxQueue: g.cfg.MaxQueue,
		Workers:  map[string]json.RawMessage{},
	}
	for _, id := range g.pool.ids() {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		code, body, err := g.adminCall(ctx, id, "GET", "/config", nil)
		cancel()
		if err == nil && code == http.StatusOK && json.Valid(body) {
			out.Workers[itoa(id)] = body
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// streamLimit is the fewest streams any running worker accepts at once,
// the most requests the gateway could have open on each: a higher
// in-flight limit would make requests fail instead of wait. With no worker
// up it is ipc's default, which a worker has unless its own code sets
// ipc.Config.MaxStreams.
func (g *Gateway) streamLimit() (limit, worker int) {
	limit, worker = ipc.DefaultMaxStreams, -1
	for _, id := range g.pool.ids() {
		b := g.pool.byID(id)
		if b == nil {
			continue
		}
		if n := int(b.conn.PeerHello().MaxStreams); worker < 0 || n < limit {
			limit, worker = n, id
		}
	}
	return limit, worker
}

// serveTune applies a Tuning to the parent, to every running worker, and to
// the workers started from now on.
func (g *Gateway) serveTune(w http.ResponseWriter, r *http.Request) {
	t, err := settings.DecodeConfig(r.Body)
	if err != nil {
		http.Error(w, "sluice: PUT /config: "+err.Error(), http.StatusBadRequest)
		return
	}
	// The in-flight range first, in the words of the flag and of Config
	// (CheckMaxInFlight), against the workers running.
	if t.MaxInFlight != nil {
		limit, id := g.streamLimit()
		whose := ""
		if id >= 0 {
			whose = fmt.Sprintf("worker %d's stream limit", id)
		}
		if err := CheckMaxInFlightUpTo("max_inflight", *t.MaxInFlight, limit, whose); err != nil {
			http.Error(w, "sluice: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	if err := t.Validate(); err != nil {
		http.Error(w, "sluice: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case t.QueueLimit != nil:
		http.Error(w, fmt.Sprintf("sluice: queue_limit cannot change at run time; restart sluice with --queue-limit (%s)", settings.EnvQueueLimit), http.StatusBadRequest)
		return
	case t.Admission != nil:
		http.Error(w, fmt.Sprintf("sluice: admission cannot change at run time; restart sluice with --admission (%s)", settings.EnvAdmission), http.StatusBadRequest)
		return
	}
	qt, _ := t.Timeout() // Validate checked it
	// Workers first: they validate the watermarks; the parent follows only
	// if every running worker accepted.
	workerPart := settings.Config{MaxInFlight: t.MaxInFlight, HighWatermark: t.HighWatermark, LowWatermark: t.LowWatermark}
	if env := workerPart.Env(); len(env) > 0 {
		// With no worker up, none validates the change, and a bad one (a
		// low watermark above the high one in force) would make every
		// worker started from now on refuse its environment: a crash loop
		// caused by a PUT that was answered 200. Running workers are the
		// better judges (a worker binary may set its own limits), so
		// they decide when there are any.
		if len(g.pool.ids()) == 0 {
			if err := g.sup.checkEnvOverrides(env); err != nil {
				http.Error(w, "sluice: workers started with this change would refuse it: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		body, _ := json.Marshal(workerPart)
		var live settings.Config
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
		if (t.HighWatermark != nil || t.LowWatermark != nil) && live.HighWatermark != nil && *live.HighWatermark > 0 {
			// Workers started later get the watermarks in force, all three
			// bytes figures, not defaults derived from the one that changed.
			env = append(env, settings.Config{HighWatermark: live.HighWatermark, LowWatermark: live.LowWatermark, QueueLimit: live.QueueLimit}.Env()...)
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
		g.sup.addEnvOverrides(settings.Config{Sched: t.Sched}.Env())
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
