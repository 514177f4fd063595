package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// bytesPoint is one sample of a byte count over a run (a peer's summed RSS,
// the bytes queued in sluice's workers), at a time since the load started.
type bytesPoint struct {
	At    time.Duration `json:"at_ns"`
	Bytes int64         `json:"bytes"`
}

// rssSeries samples the summed RSS of some process trees every interval,
// keeping every sample, for the charts of memory over time. Its goroutine
// is owned by whoever started it: stop ends it.
type rssSeries struct {
	roots  []int
	start  time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	points []bytesPoint
	peak   int64
	// peakPSS is the highest summed PSS, read with each sample.
	peakPSS int64
}

// sampleRSS starts sampling the trees of roots.
func sampleRSS(roots []int, every time.Duration) *rssSeries {
	ctx, cancel := context.WithCancel(context.Background())
	s := &rssSeries{roots: roots, start: time.Now(), cancel: cancel}
	s.wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return s
}

func (s *rssSeries) sample() {
	var total, pss int64
	for _, r := range s.roots {
		rss, p := treeMemory(r)
		total, pss = total+rss, pss+p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.points = append(s.points, bytesPoint{At: time.Since(s.start), Bytes: total})
	s.peak = max(s.peak, total)
	s.peakPSS = max(s.peakPSS, pss)
}

// peakOfPSS is the highest summed PSS sampled; call it after stop.
func (s *rssSeries) peakOfPSS() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakPSS
}

// stop ends the sampling and returns the samples and the peak; an error if
// not one sample saw any memory (the processes were gone).
func (s *rssSeries) stop() ([]bytesPoint, int64, error) {
	s.cancel()
	s.wg.Wait()
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peak == 0 {
		return s.points, 0, fmt.Errorf("no RSS read of pids %v", s.roots)
	}
	return s.points, s.peak, nil
}

// peerSession is what a run measured about a peer itself.
type peerSession struct {
	session
	// RSS is the memory over the run, from when the load started.
	RSS []bytesPoint `json:"rss,omitempty"`
}

// withPeer starts p (its logs named name), runs fn against it while sampling
// the RSS of its process trees (and, for sluice, /status), then stops it.
// The peer is stopped whatever happens.
func (e *env) withPeer(ctx context.Context, p peer, name string, fn func(t *running) error) (peerSession, error) {
	t, err := e.startPeer(ctx, p, name)
	if err != nil {
		return peerSession{}, err
	}
	return e.measureOn(ctx, t, fn)
}

// measureOn runs fn against the running peer t while sampling the RSS of
// its process trees (and, for sluice, /status), then stops t, whatever
// happens.
func (e *env) measureOn(ctx context.Context, t *running, fn func(t *running) error) (peerSession, error) {
	var s peerSession
	defer t.stop()
	for _, r := range t.roots {
		rss, _ := treeMemory(r)
		s.IdleRSS += rss
	}
	series := sampleRSS(t.roots, rssEvery)
	var poller *statusPoller
	if t.gw != nil {
		poller = pollStatus(ctx, t.gw, statusEvery)
	}
	runErr := fn(t)
	if poller != nil {
		s.Gateway = poller.stop()
	}
	points, peak, sampleErr := series.stop()
	s.RSS, s.PeakRSS, s.PeakPSS = points, peak, series.peakOfPSS()
	if err := t.stop(); err != nil {
		s.Stop = err.Error()
		if t.gw != nil {
			s.Stop += "; " + e.logHint(t.gw.logPath)
		}
		fmt.Fprintln(e.log, "warning:", err)
	}
	if t.gw != nil {
		s.Gateway.LogWarnings, s.Gateway.ShutdownWarnings = logNotes(t.gw.logPath, 3)
	}
	if runErr == nil && sampleErr != nil {
		runErr = fmt.Errorf("sampling the RSS of %s: %w", t.peer.name, sampleErr)
	}
	return s, runErr
}
