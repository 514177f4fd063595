package parent

import (
	"context"
	"sync"
	"time"
)

// event is why a slot's watch ended.
type event int

const (
	eventDied     event = iota // the process exited or its connection ended
	eventHung                  // no frame at all within the liveness window
	eventReplace               // a rolling restart asked for a new worker
	eventRecycle               // MaxRequests or MaxRSS reached
	eventStopping              // the supervisor is stopping
	eventStalled               // a stream made no progress for a worker timeout
)

func (e event) String() string {
	return [...]string{"died", "hung", "rolling restart", "recycled", "stopping", "stalled"}[e]
}

// watch follows a live worker until something ends its turn. Every
// HeartbeatInterval it pings the worker; the pong travels ahead of any data,
// and any frame at all counts as proof of life, so a worker whose handlers
// keep every core busy is not mistaken for a dead one. Only silence for the
// whole LivenessWindow is.
func (s *supervisor) watch(sl *slot, p *process) (event, chan error) {
	tick := time.NewTicker(s.cfg.HeartbeatInterval)
	defer tick.Stop()
	var pings sync.WaitGroup
	defer pings.Wait()
	// Cancelled first on return, so that a ping to a hung worker does not
	// hold up its replacement.
	watchCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pinging := false
	pinged := make(chan struct{}, 1)
	// Silence counts from when this watch began at the earliest: an idle
	// worker sends nothing until pinged, and none was pinged before.
	watching := time.Now()
	for {
		select {
		case <-p.conn.Done():
			return eventDied, nil
		case <-p.exited():
			return eventDied, nil
		case <-s.stopping:
			return eventStopping, nil
		case ack := <-sl.replace:
			return eventReplace, ack
		case <-sl.backend.full:
			// The pool stopped routing to it at its last request.
			s.log.Info("worker reached its request limit; recycling", "worker", sl.id, "pid", p.pid(), "limit", s.cfg.MaxRequests)
			return eventRecycle, nil
		case <-sl.backend.stalled:
			// The pool stopped routing to it (progress.go).
			return eventStalled, nil
		case <-pinged:
			pinging = false
		case <-tick.C:
			last := p.conn.LastFrame()
			if last.Before(watching) {
				last = watching
			}
			if time.Since(last) > s.cfg.LivenessWindow {
				return eventHung, nil
			}
			if !pinging {
				// One ping at a time, bounded by the liveness window; the
				// connection records its round-trip time.
				pinging = true
				pings.Add(1)
				go func() {
					defer pings.Done()
					ctx, cancel := context.WithTimeout(watchCtx, s.cfg.LivenessWindow)
					defer cancel()
					if rtt, err := p.conn.Ping(ctx); err == nil && s.onRTT != nil {
						s.onRTT(sl.id, rtt)
					}
					pinged <- struct{}{}
				}()
			}
			if s.cfg.MaxRSS > 0 {
				if rss, err := p.h.rss(); err == nil && rss > s.cfg.MaxRSS {
					s.log.Warn("worker exceeds its memory limit; recycling", "worker", sl.id, "pid", p.pid(), "rss_bytes", rss, "max_rss_bytes", s.cfg.MaxRSS)
					s.warnFreshRSS(p, rss)
					return eventRecycle, nil
				}
			}
		}
	}
}

// freshWorker is how young a worker is, at most, for its resident memory
// to be what it takes to start rather than what it grew to.
const freshWorker = 5 * time.Second

// warnFreshRSS warns, once, when a worker just started is already above
// MaxRSS: the limit is below what a worker needs to start, so every worker
// is replaced at its first check, a restart every heartbeat that the
// per-recycle log lines do not make plain.
func (s *supervisor) warnFreshRSS(p *process, rss int64) {
	if age := time.Since(p.started); age > freshWorker || !s.rssWarned.CompareAndSwap(false, true) {
		return
	}
	s.log.Warn("the memory limit is below a fresh worker's resident memory: every worker is recycled right after it starts; raise --worker-max-rss (Config.MaxRSS) above it",
		"rss_bytes", rss, "max_rss_bytes", s.cfg.MaxRSS, "worker_age", time.Since(p.started).Round(time.Millisecond))
}
