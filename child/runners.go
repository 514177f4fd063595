package child

import (
	"sync"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// A goroutine started for each stream begins with a small stack, and a
// handler's first calls (the request's construction, the response head's
// encoding, the handler's own frames) grow it by copying, once or twice per
// request: with small responses that copying was a large share of a
// worker's CPU. net/http pays it once per connection, as its goroutines
// serve every request of one. runners does the same across streams: a
// goroutine that finished one stream waits a while for the next, and keeps
// the stack it grew.

// runnerIdle is how long a goroutine that finished a stream waits for
// another before it exits: long enough to span the gaps of a steady load,
// short enough that the goroutines of a burst do not stay for long.
const runnerIdle = 5 * time.Second

// streamJob is one accepted stream for a runner: what serveStream takes.
type streamJob struct {
	st      *ipc.Stream
	t       *ticket
	measure bool
}

// runners is the pool of goroutines that run serveStream. The accept loop
// hands a stream to an idle one, or starts one; Serve stops them once every
// stream ended.
type runners struct {
	jobs chan streamJob // unbuffered: a send succeeds only to an idle runner
	stop chan struct{}  // closed by close: idle runners exit
	wg   sync.WaitGroup
}

func newRunners() *runners {
	return &runners{jobs: make(chan streamJob), stop: make(chan struct{})}
}

// run has job served by an idle runner, or by a new one if none is idle.
// It never waits for a runner to become free.
func (r *runners) run(s *server, job streamJob) {
	select {
	case r.jobs <- job:
	default:
		r.wg.Add(1)
		go r.loop(s, job)
	}
}

// loop serves job, then the streams handed to it, until it has been idle
// for runnerIdle or the pool stops. A handler that ends its goroutine
// (runtime.Goexit) ends the runner with it; the pool starts another when
// it needs one.
func (r *runners) loop(s *server, job streamJob) {
	defer r.wg.Done()
	var idle *time.Timer
	for {
		s.serveStream(job.st, job.t, job.measure)
		job = streamJob{} // nothing of the stream stays reachable while idle
		if idle == nil {
			idle = time.NewTimer(runnerIdle)
			defer idle.Stop()
		} else {
			idle.Reset(runnerIdle)
		}
		select {
		case job = <-r.jobs:
		case <-idle.C:
			return
		case <-r.stop:
			return
		}
	}
}

// close stops the idle runners and waits for every runner to exit. The
// caller must have waited for every stream to end, so that no runner is
// still serving one, and must not call run again.
func (r *runners) close() {
	close(r.stop)
	r.wg.Wait()
}
