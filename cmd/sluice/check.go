package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
	"github.com/google/shlex"

	"github.com/sluicegw/sluice/ipc/settings"
	"github.com/sluicegw/sluice/parent"
)

// maxSendBuffer is the largest --sndbuf accepted: 16 times the default.
// The kernel grants no more than net.core.wmem_max without CAP_NET_ADMIN,
// each worker socket may pin twice the figure in kernel memory on each end,
// and a figure this large is more likely a unit mistake (1GiB for 1MiB)
// than a plan.
const maxSendBuffer = 64 << 20

// clearerDurations makes every duration flag of fs, and so its SLUICE_
// twin, say what is wrong with a bad value: the flag package says only
// "parse error", which does not tell 5 from 5s.
func clearerDurations(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if g, ok := f.Value.(flag.Getter); ok {
			if _, ok := g.Get().(time.Duration); ok {
				f.Value = &durationValue{f.Value}
				// The usage names the argument from a quoted word,
				// now that the flag package no longer knows the type.
				f.Usage += " (a `duration` with its unit, like 250ms, 5s or 1m30s)"
			}
		}
	})
}

// durationValue is a duration flag's value, checked first with a message
// that says what a duration looks like.
type durationValue struct{ flag.Value }

func (d *durationValue) Set(v string) error {
	if _, err := time.ParseDuration(v); err != nil {
		return durationError(v)
	}
	return d.Value.Set(v)
}

func (d *durationValue) String() string {
	if d.Value == nil { // the flag package's zero value, for its usage text
		return "0s"
	}
	return d.Value.String()
}

// durationError says why v is not a duration.
func durationError(v string) error {
	if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
		return fmt.Errorf("invalid duration %q: a unit is needed, like %ss", v, strings.TrimSpace(v))
	}
	return fmt.Errorf("invalid duration %q: use a number and a unit (ns, us, ms, s, m, h), like 250ms, 5s or 1m30s", v)
}

// workerArgs splits --worker-cmd like a shell (quotes and backslashes,
// no expansion), so that a worker can be given arguments.
func workerArgs(cmd string) ([]string, error) {
	if strings.TrimSpace(cmd) == "" {
		return nil, nil
	}
	args, err := shlex.Split(cmd)
	if err != nil {
		return nil, fmt.Errorf("--worker-cmd %q: %v", cmd, err)
	}
	if len(args) == 0 {
		return nil, nil
	}
	if _, err := exec.LookPath(args[0]); err != nil {
		return nil, fmt.Errorf("--worker-cmd %q: %v", cmd, lookPathWhy(args[0], err))
	}
	return args, nil
}

// lookPathWhy says why exec.LookPath refused name, in words an operator
// acts on.
func lookPathWhy(name string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, exec.ErrNotFound):
		if strings.Contains(name, "/") {
			return fmt.Errorf("%s does not exist", name)
		}
		return fmt.Errorf("%s is not in $PATH", name)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%s is not executable (chmod +x it)", name)
	}
	if fi, e := os.Stat(name); e == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", name)
	}
	return err
}

// checkStart refuses, with the reason, what the flags alone cannot tell:
// arguments that are not flags, and paths that do not exist.
func (s *serveSettings) checkStart(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: serve takes flags only (--name value); see sluice serve --help", fs.Arg(0))
	}
	if s.sndbuf > maxSendBuffer {
		msg := fmt.Sprintf("--sndbuf %s: too large; use at most %s, or -1 for the kernel's default", s.sndbuf.String(), settings.FormatSize(maxSendBuffer))
		if wm, ok := wmemMax(); ok {
			msg += fmt.Sprintf(" (this kernel grants at most net.core.wmem_max, %s, without CAP_NET_ADMIN)", settings.FormatSize(wm))
		}
		return errors.New(msg)
	}
	if s.root != "" {
		fi, err := os.Stat(s.root)
		switch {
		case err != nil:
			return fmt.Errorf("--root %s: %v", s.root, err)
		case !fi.IsDir():
			return fmt.Errorf("--root %s: not a directory", s.root)
		}
	}
	if err := parent.CheckMaxInFlight("--max-inflight", s.maxInFlight); err != nil {
		return err
	}
	if s.shutdownDelay < 0 || s.drainTimeout < 0 || s.workerStartTimeout < 0 {
		return fmt.Errorf("--shutdown-delay %v, --drain-timeout %v, --worker-start-timeout %v: none may be negative", s.shutdownDelay, s.drainTimeout, s.workerStartTimeout)
	}
	var err error
	s.workerArgv, err = workerArgs(s.workerCmd)
	return err
}

// wmemMax is net.core.wmem_max, the most SO_SNDBUF the kernel grants
// without CAP_NET_ADMIN.
func wmemMax() (int64, bool) {
	b, err := os.ReadFile("/proc/sys/net/core/wmem_max")
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// warnUnknownEnv logs every SLUICE_ variable of environ that no flag
// twins and the worker contract does not use: a misspelt one would
// otherwise be ignored without a word.
func warnUnknownEnv(log *slog.Logger, fs *flag.FlagSet, environ []string) {
	known := map[string]bool{settings.EnvFD: true, settings.EnvWorkerID: true}
	fs.VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, settings.EnvPrefix) || known[name] {
			continue
		}
		closest, best := "", 0
		for k := range known {
			if d := levenshtein.ComputeDistance(name, k); closest == "" || d < best || d == best && k < closest {
				closest, best = k, d
			}
		}
		if best <= 3 {
			log.Warn("unknown SLUICE_ environment variable ignored", "name", name, "did_you_mean", closest)
		} else {
			log.Warn("unknown SLUICE_ environment variable ignored", "name", name)
		}
	}
}
