package main

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard one: every
// client connection is a descriptor, and a soft limit of 1024 (the common
// default) would refuse connections long before the machine runs out.
//
// The Go runtime already raises the soft limit for its own process at
// start (to hard-1, so that it can tell its own change from a later
// prlimit), but it restores the original soft limit in every child it
// starts: workers, which a --worker-cmd may make non-Go programs, would
// start with the low one. Setting the limit here makes the raise explicit,
// gives it to the workers too (syscall.Setrlimit tells StartProcess to stop
// restoring), and logs what was decided from the environment, as
// automaxprocs logs GOMAXPROCS.
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("descriptor limit: cannot read RLIMIT_NOFILE; leaving it", "err", err)
		return
	}
	// hard-1 is what the runtime sets when it raised a lower limit.
	runtimeRaised := lim.Max > 0 && lim.Cur == lim.Max-1
	if lim.Cur == lim.Max {
		log.Info("descriptor limit: soft limit already at the hard limit", "soft", lim.Cur, "hard", lim.Max)
		return
	}
	want := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		log.Warn("descriptor limit: cannot raise the soft limit to the hard limit; keeping it", "soft", lim.Cur, "hard", lim.Max, "go_runtime_raised", runtimeRaised, "err", err)
		return
	}
	log.Info("descriptor limit: raised the soft limit to the hard limit, for the workers too", "soft_was", lim.Cur, "soft", want.Cur, "hard", lim.Max, "go_runtime_raised", runtimeRaised)
}
