package parent

import (
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// WorkerStatus is one worker as /status shows it.
type WorkerStatus struct {
	ID       int    `json:"id"`
	PID      int    `json:"pid,omitempty"`
	State    string `json:"state"` // "up", "draining", "down" or "crash-loop"
	Uptime   string `json:"uptime,omitempty"`
	Restarts int    `json:"restarts"`
	LastExit string `json:"last_exit,omitempty"`
	// Open is how many requests the gateway has on this worker.
	Open int `json:"open_streams"`
	// Allowance is how many it may have: the hard cap, or what the
	// worker's last load report allows (docs/PROTOCOL.md, "Routing and
	// LOAD"); the gateway sends it more while Open is below.
	Allowance int `json:"allowance"`
	// The rest is the worker's last load report, zero before one: its
	// admission state. Limit is its CPU admission limit, set from the
	// three signals after it; InFlight handlers run, of which Computing
	// count toward Limit and Blocked wait on a slow client; Waiting
	// streams wait at its gate and Draining ones only send what their
	// handler left; QueuedBytes are response bytes it holds unwritten.
	InFlight           uint32 `json:"inflight"`
	Computing          uint32 `json:"computing"`
	Blocked            uint32 `json:"blocked"`
	Waiting            uint32 `json:"waiting"`
	Draining           uint32 `json:"draining"`
	Limit              uint32 `json:"limit"`
	PressurePermille   uint32 `json:"cpu_pressure_permille"`
	SchedLatencyMicros uint32 `json:"sched_latency_p99_us"`
	FlushLagMicros     uint32 `json:"flush_lag_p99_us"`
	QueuedBytes        uint64 `json:"queued_bytes"`
	// LoadAge is how old that report is; absent before the first.
	LoadAge string `json:"load_age,omitempty"`
	// SendBuffer is the effective SO_SNDBUF of the parent's end.
	SendBuffer int    `json:"parent_sndbuf_bytes"`
	RTT        string `json:"last_rtt,omitempty"`
}

// setLoad fills in the worker's load report l, which arrived at at.
func (ws *WorkerStatus) setLoad(l ipc.Load, at time.Time) {
	ws.InFlight, ws.Blocked, ws.Waiting, ws.Draining = l.InFlight, l.Blocked, l.Waiting, l.Draining
	// A worker counts Blocked among InFlight; one that got that wrong
	// shows no computing handlers rather than four billion.
	ws.Computing = l.InFlight - min(l.Blocked, l.InFlight)
	ws.Limit, ws.PressurePermille = l.Limit, l.PressurePermille
	ws.SchedLatencyMicros, ws.FlushLagMicros = l.SchedLatencyMicros, l.FlushLagMicros
	ws.QueuedBytes = l.QueuedBytes
	if !at.IsZero() {
		ws.LoadAge = time.Since(at).Round(time.Millisecond).String()
	}
}

// Status is the gateway as /status shows it.
type Status struct {
	Workers  []WorkerStatus `json:"workers"`
	Open     int            `json:"open_streams"`
	Waiting  int            `json:"waiting_requests"`
	Draining bool           `json:"draining"`
	// Overloaded is whether the wait queue is overloaded now: a request
	// that finds no worker with room is refused unless a worker is expected
	// to free a slot for it soon (Config.QueueTarget).
	Overloaded bool `json:"overloaded"`
	// OverloadedFor is the time the queue has spent overloaded since the
	// gateway started.
	OverloadedFor string `json:"overloaded_for"`
}

// Status reports every worker slot and the gateway's queue.
func (g *Gateway) Status() Status {
	var st Status
	st.Open, st.Waiting = g.pool.counts()
	total, now := g.pool.overload()
	st.Overloaded, st.OverloadedFor = now, total.Round(time.Millisecond).String()
	g.pool.mu.Lock()
	st.Draining = g.pool.draining
	opens, allowances := map[*backend]int{}, map[*backend]int{}
	for _, b := range g.pool.backends {
		opens[b] = b.open
		allowances[b] = g.pool.allowanceLocked(b)
	}
	g.pool.mu.Unlock()

	s := g.sup
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sl := range s.slots {
		ws := WorkerStatus{ID: sl.id, Restarts: sl.restarts, LastExit: sl.lastExit, State: "down"}
		if sl.youngDeaths >= crashLoopDeaths {
			ws.State = "crash-loop"
		}
		if p, b := sl.proc, sl.backend; p != nil && b != nil {
			ws.State = "up"
			if p.conn.GoingAway() {
				ws.State = "draining"
			}
			ws.PID = p.pid()
			ws.Uptime = time.Since(p.started).Round(time.Second).String()
			ws.Open, ws.Allowance = opens[b], allowances[b]
			ws.setLoad(p.conn.PeerLoad())
			ws.SendBuffer = p.h.sendBuffer()
			if rtt := p.conn.RTT(); rtt > 0 {
				ws.RTT = rtt.String()
			}
		}
		st.Workers = append(st.Workers, ws)
	}
	return st
}

// Ready reports whether the gateway should receive traffic: at least one
// worker is up and it is not draining (from BeginDrain on).
func (g *Gateway) Ready() bool {
	g.pool.mu.Lock()
	defer g.pool.mu.Unlock()
	return !g.pool.draining && !g.unready.Load() && len(g.pool.backends) > 0
}
