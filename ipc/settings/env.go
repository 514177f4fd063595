package settings

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The environment variables a parent sets for a worker. A worker reads
// them once, at start; an unset or empty variable means the default. Every
// `sluice serve` flag that a worker enforces passes through one of them
// (the flag --high-watermark through SLUICE_HIGH_WATERMARK, and so on).
const (
	// EnvPrefix starts every variable of the contract, GOMEMLIMIT aside.
	// `sluice serve` names the environment twin of each of its flags with
	// it too, which is how --max-inflight and EnvMaxInFlight agree.
	EnvPrefix = "SLUICE_"

	// EnvFD is the descriptor number of the worker's end of the
	// socketpair: 3 (DefaultFD) or more, since 0-2 are the standard
	// streams. Unset means 3.
	EnvFD = "SLUICE_FD"

	// EnvWorkerID names the worker in its pprof labels; `sluice serve`
	// sets its slot number (0, 1, ...). Any string; unset means the pid.
	EnvWorkerID = "SLUICE_WORKER_ID"

	// EnvMaxInFlight is how many handlers the worker runs at once: a
	// hard cap of 1..MaxInFlightLimit, with no admission controller.
	// Unset or 0 means automatic (DefaultMaxInFlight): the worker's
	// controller sets its limit.
	EnvMaxInFlight = "SLUICE_MAX_INFLIGHT"

	// EnvHighWatermark is the size of queued response bytes, across all
	// of a worker's streams, at which no new handler starts. Unset or 0
	// means DefaultHighWatermark. At most the queue limit.
	EnvHighWatermark = "SLUICE_HIGH_WATERMARK"

	// EnvLowWatermark is the size to which the queue must fall before
	// handlers held back by the high watermark start again. Unset or 0
	// means a quarter of the high watermark. At most the high watermark.
	EnvLowWatermark = "SLUICE_LOW_WATERMARK"

	// EnvQueueLimit is the size of queued response bytes at which a
	// handler's Write blocks. Unset or 0 means twice the high
	// watermark. At least the high watermark.
	EnvQueueLimit = "SLUICE_QUEUE_LIMIT"

	// EnvSendBuffer is the size of the SO_SNDBUF the worker sets on its
	// socket. Unset or 0 means DefaultSendBuffer; a negative number
	// (-1) leaves the kernel's default. The worker caps it at what the
	// kernel accepts (sockopt.MaxBuffer, about 1 GiB).
	EnvSendBuffer = "SLUICE_SNDBUF"

	// EnvAdmission is AdmissionOn or AdmissionOff: whether the worker's
	// admission gate (in-flight limit and watermarks) holds streams back.
	// Unset means on.
	EnvAdmission = "SLUICE_ADMISSION"

	// EnvSched is the data scheduling policy of the worker's connection:
	// PolicySequential or PolicyRoundRobin. Unset means sequential.
	EnvSched = "SLUICE_SCHED"

	// EnvLogFormat is LogText or LogJSON, the format of the worker's log
	// on stderr. Unset means the worker's slog.Default().
	EnvLogFormat = "SLUICE_LOG_FORMAT"

	// EnvRoot is the directory the built-in demo worker serves under
	// /files/. Unset or empty disables /files/. Package child ignores it.
	EnvRoot = "SLUICE_ROOT"

	// EnvMemoryLimit is the Go runtime's own GOMEMLIMIT, which a parent
	// sets to give each worker a share of the container's memory. The
	// runtime reads it, with its own syntax, so Worker does not carry it.
	EnvMemoryLimit = "GOMEMLIMIT"
)

// Worker is everything a parent tells a worker through the environment.
// Every field's zero value means the default, so that a Worker decoded
// from an empty environment is a sound one.
type Worker struct {
	// FD is the descriptor of the worker's socket (EnvFD). Zero means
	// DefaultFD.
	FD int
	// ID is the worker's name in pprof labels (EnvWorkerID). Empty means
	// the pid.
	ID string

	// MaxInFlight is EnvMaxInFlight.
	MaxInFlight int
	// HighWatermark, LowWatermark and QueueLimit are their variables, in
	// bytes.
	HighWatermark, LowWatermark, QueueLimit int64
	// SendBuffer is EnvSendBuffer, in bytes; negative means the kernel's
	// default.
	SendBuffer int64
	// DisableAdmission is EnvAdmission=off.
	DisableAdmission bool
	// Sched is EnvSched.
	Sched string
	// LogFormat is EnvLogFormat.
	LogFormat string
	// Root is EnvRoot.
	Root string
	// Compress is EnvCompress, in the syntax of ParseCompression; empty
	// means DefaultCompress.
	Compress string
}

// Env encodes w as KEY=value pairs for exec.Cmd.Env. Every setting is
// written, zero or not, so that what the parent decided overrides whatever
// the worker would inherit from the parent's own environment. FD and ID
// are written only when set: they differ per process, and whoever starts
// one adds them (an empty ID would hide the pid).
func (w Worker) Env() []string {
	var env []string
	if w.FD != 0 {
		env = append(env, EnvFD+"="+strconv.Itoa(w.FD))
	}
	if w.ID != "" {
		env = append(env, EnvWorkerID+"="+w.ID)
	}
	admission := AdmissionOn
	if w.DisableAdmission {
		admission = AdmissionOff
	}
	sndbuf := w.SendBuffer
	if sndbuf < 0 {
		sndbuf = -1 // every negative means the same; say it one way
	}
	return append(env,
		EnvMaxInFlight+"="+strconv.Itoa(w.MaxInFlight),
		EnvSendBuffer+"="+strconv.FormatInt(sndbuf, 10),
		EnvAdmission+"="+admission,
		EnvSched+"="+w.Sched,
		EnvHighWatermark+"="+strconv.FormatInt(w.HighWatermark, 10),
		EnvLowWatermark+"="+strconv.FormatInt(w.LowWatermark, 10),
		EnvQueueLimit+"="+strconv.FormatInt(w.QueueLimit, 10),
		EnvRoot+"="+w.Root,
		EnvLogFormat+"="+w.LogFormat,
		EnvCompress+"="+w.Compress,
	)
}

// EnvError is a variable that cannot be used as it is.
type EnvError struct {
	Name  string // the variable, such as "SLUICE_MAX_INFLIGHT"
	Value string // its value as found
	Why   string // what is wrong and what to use instead
}

func (e *EnvError) Error() string { return fmt.Sprintf("%s=%q: %s", e.Name, e.Value, e.Why) }

// FromEnv decodes a Worker from the environment that lookup reads (pass
// os.LookupEnv) and checks it with Validate. Spaces around a value are
// ignored; an unset or empty variable means the default. Every variable at
// fault is reported, each as an *EnvError (errors.As finds the first) that
// names it, quotes its value and says what to use.
func FromEnv(lookup func(string) (string, bool)) (Worker, error) {
	var w Worker
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var errs []error
	fail := func(name, why string) { errs = append(errs, &EnvError{Name: name, Value: get(name), Why: why}) }

	if fd, err := FDFromEnv(lookup); err != nil {
		errs = append(errs, err)
	} else if get(EnvFD) != "" {
		w.FD = fd
	}
	w.ID = get(EnvWorkerID)

	if v := get(EnvMaxInFlight); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxInFlightLimit {
			fail(EnvMaxInFlight, fmt.Sprintf("not an in-flight setting; use a whole number 1..%d for a hard cap, or 0 for automatic", MaxInFlightLimit))
		}
		w.MaxInFlight = n
	}
	size := func(name string, dst *int64) {
		if v := get(name); v != "" {
			n, err := ParseSize(v)
			if err != nil {
				fail(name, sizeWhy(err))
			}
			*dst = n
		}
	}
	size(EnvHighWatermark, &w.HighWatermark)
	size(EnvLowWatermark, &w.LowWatermark)
	size(EnvQueueLimit, &w.QueueLimit)
	if v := get(EnvSendBuffer); strings.HasPrefix(v, "-") {
		if _, err := ParseSize(v[1:]); err != nil {
			fail(EnvSendBuffer, "not a size; use a size such as 4MiB, 0 for the default, or -1 for the kernel's default")
		}
		w.SendBuffer = -1
	} else {
		size(EnvSendBuffer, &w.SendBuffer)
	}
	switch v := get(EnvAdmission); v {
	case "", AdmissionOn:
	case AdmissionOff:
		w.DisableAdmission = true
	default:
		fail(EnvAdmission, "use "+AdmissionOn+" or "+AdmissionOff)
	}
	if v := get(EnvSched); v != "" {
		if err := CheckSched(v); err != nil {
			fail(EnvSched, "use "+PolicySequential+" or "+PolicyRoundRobin)
		}
		w.Sched = v
	}
	switch v := get(EnvLogFormat); v {
	case "", LogText, LogJSON:
		w.LogFormat = v
	default:
		fail(EnvLogFormat, "use "+LogText+" or "+LogJSON)
	}
	w.Root, _ = lookup(EnvRoot) // a path: its spaces are its own
	w.Compress = get(EnvCompress)
	if len(errs) > 0 {
		return Worker{}, errors.Join(errs...)
	}
	if err := w.Validate(); err != nil {
		var ee *EnvError
		if errors.As(err, &ee) && get(ee.Name) != "" {
			ee.Value = get(ee.Name) // as the operator wrote it, "1GiB" not 1073741824
		}
		return Worker{}, err
	}
	return w, nil
}

// FDFromEnv decodes EnvFD alone, for a worker whose other settings come
// from its own code: DefaultFD if it is unset.
func FDFromEnv(lookup func(string) (string, bool)) (int, error) {
	raw, _ := lookup(EnvFD)
	v := strings.TrimSpace(raw)
	if v == "" {
		return DefaultFD, nil
	}
	fd, err := strconv.Atoi(v)
	switch {
	case err != nil || fd < 0:
		return -1, &EnvError{Name: EnvFD, Value: raw, Why: "not a file descriptor number; unset it (fd 3) or start the worker from `sluice serve --worker-cmd`"}
	case fd < DefaultFD:
		return -1, &EnvError{Name: EnvFD, Value: raw, Why: "descriptors 0, 1 and 2 are stdin, stdout and stderr, not the parent's socket; unset it (fd 3) or name the descriptor the socket was passed on"}
	}
	return fd, nil
}

// Validate checks w: every field within its range, and the watermarks in
// order once defaults are applied (low <= high <= queue limit). Errors are
// *EnvError naming the variable at fault and the value in force, which for
// an unset one is its default.
func (w Worker) Validate() error {
	bad := func(name string, v any, why string, args ...any) error {
		return &EnvError{Name: name, Value: fmt.Sprint(v), Why: fmt.Sprintf(why, args...)}
	}
	switch {
	case w.FD < 0 || (w.FD > 0 && w.FD < DefaultFD):
		return bad(EnvFD, w.FD, "use %d or more (0 in a Worker means %d)", DefaultFD, DefaultFD)
	case w.MaxInFlight < 0 || w.MaxInFlight > MaxInFlightLimit:
		return bad(EnvMaxInFlight, w.MaxInFlight, "out of range; use 1..%d for a hard cap, or 0 for automatic", MaxInFlightLimit)
	case w.HighWatermark < 0 || w.HighWatermark > MaxSize:
		return bad(EnvHighWatermark, w.HighWatermark, "out of range; use a size up to 1TiB, or 0 for the default (%s)", FormatSize(DefaultHighWatermark))
	case w.LowWatermark < 0 || w.LowWatermark > MaxSize:
		return bad(EnvLowWatermark, w.LowWatermark, "out of range; use a size up to the high watermark, or 0 for a quarter of it")
	case w.QueueLimit < 0 || w.QueueLimit > MaxSize:
		return bad(EnvQueueLimit, w.QueueLimit, "out of range; use a size up to 1TiB, or 0 for twice the high watermark")
	case w.SendBuffer > MaxSize:
		return bad(EnvSendBuffer, FormatSize(w.SendBuffer), "out of range; use a size, 0 for the default (%s), or -1 for the kernel's default", FormatSize(DefaultSendBuffer))
	case w.Sched != "" && CheckSched(w.Sched) != nil:
		return bad(EnvSched, w.Sched, "use %s or %s", PolicySequential, PolicyRoundRobin)
	case w.LogFormat != "" && w.LogFormat != LogText && w.LogFormat != LogJSON:
		return bad(EnvLogFormat, w.LogFormat, "use %s or %s", LogText, LogJSON)
	}
	if _, err := ParseCompression(w.Compress); err != nil {
		return bad(EnvCompress, w.Compress, "%v", err)
	}
	high, low, limit := Watermarks(w.HighWatermark, w.LowWatermark, w.QueueLimit)
	if low > high {
		return bad(EnvLowWatermark, FormatSize(low), "above %s (%s); use at most that, or 0 for a quarter of it", EnvHighWatermark, FormatSize(high))
	}
	if high > limit {
		return bad(EnvHighWatermark, FormatSize(high), "above %s (%s), so the gate could never see it reached; lower it or raise the queue limit", EnvQueueLimit, FormatSize(limit))
	}
	return nil
}
