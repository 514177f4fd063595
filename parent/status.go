package parent

import "time"

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
	// InFlight, Waiting and QueuedBytes are the worker's last load report.
	InFlight    uint32 `json:"inflight"`
	Waiting     uint32 `json:"waiting"`
	Limit       uint32 `json:"limit"`
	QueuedBytes uint64 `json:"queued_bytes"`
	// SendBuffer is the effective SO_SNDBUF of the parent's end.
	SendBuffer int    `json:"parent_sndbuf_bytes"`
	RTT        string `json:"last_rtt,omitempty"`
}

// Status is the gateway as /status shows it.
type Status struct {
	Workers  []WorkerStatus `json:"workers"`
	Open     int            `json:"open_streams"`
	Waiting  int            `json:"waiting_requests"`
	Draining bool           `json:"draining"`
}

// Status reports every worker slot and the gateway's queue.
func (g *Gateway) Status() Status {
	var st Status
	st.Open, st.Waiting = g.pool.counts()
	g.pool.mu.Lock()
	st.Draining = g.pool.draining
	opens := map[*backend]int{}
	for _, b := range g.pool.backends {
		opens[b] = b.open
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
			ws.Open = opens[b]
			load, _ := p.conn.PeerLoad()
			ws.InFlight, ws.Waiting, ws.Limit, ws.QueuedBytes = load.InFlight, load.Waiting, load.Limit, load.QueuedBytes
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
// worker is up and it is not draining.
func (g *Gateway) Ready() bool {
	g.pool.mu.Lock()
	defer g.pool.mu.Unlock()
	return !g.pool.draining && len(g.pool.backends) > 0
}
