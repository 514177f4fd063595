package load

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// openLoop starts request i at r.start + i/Rate until Requests or Duration
// says scheduling is over, each on its own goroutine, and returns the
// results once every started request has ended. A request due while
// MaxInFlight are in flight is recorded as failed rather than waited for:
// waiting would thin the load without saying so.
func (r *runner) openLoop(ctx context.Context) []Result {
	var (
		mu       sync.Mutex
		out      []Result
		wg       sync.WaitGroup
		inFlight = make(chan struct{}, r.cfg.MaxInFlight)
	)
	add := func(res Result) {
		mu.Lock()
		out = append(out, res)
		mu.Unlock()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; r.cfg.Requests == 0 || i < r.cfg.Requests; i++ {
		// Each due time is computed from the start, not from the last one,
		// so that timer slack does not accumulate into a lower rate.
		off := time.Duration(float64(i) * float64(time.Second) / r.cfg.Rate)
		if r.cfg.Duration > 0 && off >= r.cfg.Duration {
			break
		}
		due := r.start.Add(off)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case inFlight <- struct{}{}:
		default:
			add(Result{Index: i, Start: off, Lag: time.Since(due),
				Err: fmt.Sprintf("%s: %d requests in flight, the most MaxInFlight allows", errOverloaded, r.cfg.MaxInFlight)})
			continue
		}
		wg.Go(func() {
			defer func() { <-inFlight }()
			add(r.fetch(ctx, i, due, nil))
		})
	}
	wg.Wait()
	return out
}
