package parent

// restartReason is why a worker slot got a new worker, the reason label of
// sluice_worker_restarts_total.
type restartReason int

const (
	restartCrash       restartReason = iota // the worker exited or its connection ended
	restartHung                             // silent for the liveness window, killed
	restartRecycled                         // MaxRequests or MaxRSS reached
	restartRolling                          // a rolling restart (SIGHUP, a new sched)
	restartFailedStart                      // a new worker did not complete its handshake
	restartStalled                          // a stream made no progress for a worker timeout
	restartKilled                           // killed by a signal the parent did not send
	restartOOM                              // killed by the kernel's OOM killer, as far as its count tells
	numRestartReasons
)

// restartReasonNames are the label values, by restartReason.
var restartReasonNames = [numRestartReasons]string{"crash", "hung", "recycled", "rolling", "failed_start", "stalled", "killed", "oom"}

// restartReason is the reason a replacement for this event counts under.
func (e event) restartReason() restartReason {
	switch e {
	case eventHung:
		return restartHung
	case eventRecycle:
		return restartRecycled
	case eventReplace:
		return restartRolling
	case eventStalled:
		return restartStalled
	}
	return restartCrash
}

// restartsByReason returns each slot's restarts by reason, in slot order.
func (s *supervisor) restartsByReason() [][numRestartReasons]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][numRestartReasons]int, len(s.slots))
	for i, sl := range s.slots {
		out[i] = sl.restartsBy
	}
	return out
}
