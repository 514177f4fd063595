package main

import (
	"context"
	"time"
)

// gwObs is what the bench saw of a gateway during a run, from /status and
// its log: the figures that explain a slow or fat run.
type gwObs struct {
	// MaxQueued is the highest sum over workers of queued response bytes.
	MaxQueued uint64 `json:"max_queued_bytes"`
	// MaxWaiting is the most requests waiting in the gateway for a worker.
	MaxWaiting int `json:"max_waiting_requests"`
	// MaxInFlight is the highest sum over workers of handlers running.
	MaxInFlight uint32 `json:"max_inflight"`
	// Restarts is the number of worker restarts at the last sample.
	Restarts int `json:"restarts"`
	// NotUp counts samples in which some worker was not up.
	NotUp int `json:"samples_with_worker_not_up"`
	// SendBuffer is the parent's effective SO_SNDBUF (of the first worker).
	SendBuffer int `json:"parent_sndbuf_bytes"`
	// Queued is the sum over workers of queued response bytes at each
	// reading, from when polling started.
	Queued []bytesPoint `json:"queued,omitempty"`
	// Samples is the number of /status readings.
	Samples int `json:"status_samples"`
	// LogWarnings are the WARN and ERROR lines (and lines that are not
	// JSON) the gateway logged before SIGTERM; ShutdownWarnings after.
	LogWarnings      logLines `json:"log_warnings"`
	ShutdownWarnings logLines `json:"shutdown_log_warnings"`
}

// statusPoller reads /status every interval until stopped, and sums up
// what it saw.
type statusPoller struct {
	watch *statusWatch
	obs   gwObs
}

// pollStatus starts polling g's /status.
func pollStatus(ctx context.Context, g *gateway, every time.Duration) *statusPoller {
	return &statusPoller{watch: watchStatus(ctx, g, every)}
}

func (p *statusPoller) add(at time.Duration, st gwStatus) {
	o := &p.obs
	o.Samples++
	o.MaxWaiting = max(o.MaxWaiting, st.Waiting)
	var queued uint64
	var inflight uint32
	restarts, notUp := 0, false
	for _, w := range st.Workers {
		queued += w.QueuedBytes
		inflight += w.InFlight
		restarts += w.Restarts
		notUp = notUp || w.State != "up"
		if o.SendBuffer == 0 && w.SendBuffer > 0 {
			o.SendBuffer = w.SendBuffer
		}
	}
	o.MaxQueued, o.MaxInFlight, o.Restarts = max(o.MaxQueued, queued), max(o.MaxInFlight, inflight), restarts
	o.Queued = append(o.Queued, bytesPoint{At: at, Bytes: int64(queued)})
	if notUp {
		o.NotUp++
	}
}

// stop ends the polling and returns what it saw.
func (p *statusPoller) stop() gwObs {
	for _, s := range p.watch.stop() {
		p.add(s.At, s.St)
	}
	return p.obs
}
