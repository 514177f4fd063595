package parent

import "time"

// waitBudget bounds the time a transfer may spend waiting on its client, for
// the body timeout (reads of a request body) and the send timeout (writes of
// a response): a client that sends or takes nothing for the timeout is cut,
// and so is one that trickles, as Apache's mod_reqtimeout MinRate cuts it.
// An idle timeout alone starts over at every byte, so a client that keeps a
// connection, its stream and its handler for hours by moving a few bytes
// every few seconds would never be cut.
//
// The budget is a bucket of waiting time: it starts full at the timeout,
// each wait on the client takes what it lasted, and each byte moved gives
// back a second per rate bytes, never past the timeout. A client at or
// above the rate keeps it full; one at a fraction f of it is cut after
// about the timeout / (1-f) of waiting; one that stops is cut after the
// timeout at most, as before. Only waits count, never the time the gateway
// itself spends elsewhere (a worker that produces slowly, a handler that
// reads slowly), so a slow worker cannot get its client cut.
type waitBudget struct {
	timeout time.Duration // the most waiting in a row; 0: no bound
	rate    int64         // bytes per second that earn a second back; 0: none, each wait gets the timeout
	left    time.Duration // waiting still allowed
}

// newWaitBudget returns a full budget of timeout (0: none) that minRate
// bytes a second (0: none) keep full.
func newWaitBudget(timeout time.Duration, minRate int64) waitBudget {
	return waitBudget{timeout: timeout, rate: minRate, left: timeout}
}

// spend takes a wait of waited that moved n bytes from the budget and
// returns the waiting still allowed, negative once it ran out.
func (b *waitBudget) spend(waited time.Duration, n int) time.Duration {
	if b.rate <= 0 {
		b.left = b.timeout
		return b.left
	}
	b.left -= waited
	if n > 0 {
		// A second per rate bytes, in nanoseconds; a read or write moves
		// at most a few MiB, so this cannot overflow.
		b.left = min(b.timeout, b.left+time.Duration(int64(n)*int64(time.Second)/b.rate))
	}
	return b.left
}

// deadline returns when the next wait must end, given the one in force.
// Moving a deadline costs a timer update in the runtime's poller, so while
// the budget is full (the client keeps up) the one in force stays until it
// is an eighth of the timeout short, and a new one is an eighth later than
// the budget allows: a transfer that keeps up moves it once every eighth of
// the timeout, and a client that then stops may get up to an eighth more.
// Once the budget is spent in part (the client is slower than the rate),
// each wait is long next to a timer update, and the deadline is exactly
// what the budget allows. moved says a new one was returned.
func (b *waitBudget) deadline(now, current time.Time) (d time.Time, moved bool) {
	want := now.Add(b.left)
	if b.left < b.timeout {
		return want, !current.Equal(want)
	}
	if !current.Before(want) && current.Sub(want) <= b.timeout/8 {
		return current, false
	}
	return want.Add(b.timeout / 8), true
}
