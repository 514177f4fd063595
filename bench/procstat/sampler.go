package procstat

import (
	"sync"
	"time"
)

// Sampler polls the summed RSS of a process tree and keeps the maximum. It
// exists because per-process VmHWM cannot give the peak of the sum: a parent
// and its workers rarely peak at the same moment. Peaks shorter than the
// interval can be missed; choose it accordingly (10–50 ms suits the bench).
type Sampler struct {
	pid      int
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu      sync.Mutex
	peak    int64
	samples int
	err     error
}

// StartSampler starts polling the tree rooted at pid every interval (10 ms
// if interval is not positive). Call Stop to end it.
func StartSampler(pid int, interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = 10 * time.Millisecond
	}
	s := &Sampler{pid: pid, interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go s.run()
	return s
}

func (s *Sampler) run() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if !s.sample() {
				return
			}
		}
	}
}

// sample takes one reading and reports whether sampling should go on: it
// stops at the first error, which is usually the root process exiting.
func (s *Sampler) sample() bool {
	n, err := treeRSS(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return false
	}
	s.samples++
	s.peak = max(s.peak, n)
	return true
}

// Peak returns the largest summed RSS seen so far, in bytes.
func (s *Sampler) Peak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Stop ends the polling, takes one last sample and returns the peak in
// bytes. The error is the first failed reading, if the tree could not be
// read at some point (for example because its root exited); the peak is then
// that of the readings before it. Stop may be called more than once.
func (s *Sampler) Stop() (int64, error) {
	s.stopOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		failed := s.err != nil
		s.mu.Unlock()
		if !failed {
			s.sample()
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.err
}
