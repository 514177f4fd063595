package main

import (
	"context"
	"sync"
	"time"
)

// statusSample is one reading of a gateway's /status during a replay.
type statusSample struct {
	At time.Duration // since the watch started
	St gwStatus
}

// statusWatch keeps every /status reading of a gateway, for the replays
// that chart the workers' state over time. Its goroutine is owned by
// whoever started it: stop ends it.
type statusWatch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	start  time.Time

	mu      sync.Mutex
	samples []statusSample
}

// watchStatus reads g's /status every interval until stopped.
func watchStatus(ctx context.Context, g *gateway, every time.Duration) *statusWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &statusWatch{cancel: cancel, start: time.Now()}
	w.wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if st, err := g.status(ctx); err == nil {
				g.noteWorkers(st)
				w.mu.Lock()
				w.samples = append(w.samples, statusSample{At: time.Since(w.start), St: st})
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return w
}

// since is how long ago the watch started.
func (w *statusWatch) since() time.Duration { return time.Since(w.start) }

// stop ends the watch and returns its readings.
func (w *statusWatch) stop() []statusSample {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples
}

// restarts is the sum of the workers' restart counts in st.
func restarts(st gwStatus) int {
	n := 0
	for _, w := range st.Workers {
		n += w.Restarts
	}
	return n
}

// workersUp counts the workers of st that are up.
func workersUp(st gwStatus) int {
	n := 0
	for _, w := range st.Workers {
		if w.State == "up" {
			n++
		}
	}
	return n
}
