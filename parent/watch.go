package parent

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// event is why a slot's watch ended.
type event int

const (
	eventDied     event = iota // the process exited or its connection ended
	eventHung                  // no frame at all within the liveness window
	eventReplace               // a rolling restart asked for a new worker
	eventRecycle               // --max-requests or --worker-max-rss reached
	eventStopping              // the supervisor is stopping
)

func (e event) String() string {
	return [...]string{"died", "hung", "rolling restart", "recycled", "stopping"}[e]
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
	recycleAt := recycleThreshold(s.cfg.MaxRequests)
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
			if recycleAt > 0 && s.pool.served(sl.backend) >= recycleAt {
				s.log.Info("worker reached its request limit; recycling", "worker", sl.id, "pid", p.pid(), "limit", recycleAt)
				return eventRecycle, nil
			}
			if s.cfg.MaxRSS > 0 {
				if rss, err := p.h.rss(); err == nil && rss > s.cfg.MaxRSS {
					s.log.Warn("worker exceeds its memory limit; recycling", "worker", sl.id, "pid", p.pid(), "rss_bytes", rss, "max_rss_bytes", s.cfg.MaxRSS)
					return eventRecycle, nil
				}
			}
		}
	}
}

// recycleThreshold adds up to 10 % of jitter to a request limit, so that
// workers started together are not all recycled at once.
func recycleThreshold(max int) int {
	if max <= 0 {
		return 0
	}
	return max + rand.IntN(max/10+1)
}
