package parent

import "fmt"

// failBoot reports err on bootFailed if no worker has come up yet: at first
// start, a worker command that cannot start is a mistake in the setup, and
// restarting it with backoff would only hide it. Once one worker has come
// up, failures are the supervisor's to retry.
func (s *supervisor) failBoot(sl *slot, err error) {
	if s.booted.Load() {
		return
	}
	select {
	case s.bootFailed <- fmt.Errorf("worker %d failed to boot: %w", sl.id, err):
	default: // reported already
	}
}

// BootFailed receives, at most once, why the first workers could not start:
// a worker failed (it exited, or did not complete its handshake within
// Config.StartTimeout) before any worker had come up. The supervisor still
// retries with backoff; an embedder that would rather stop, as sluice serve
// does, shuts the gateway down. Failures after a worker came up are not
// reported here.
func (g *Gateway) BootFailed() <-chan error { return g.sup.bootFailed }
