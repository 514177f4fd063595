package settings

import (
	"fmt"

	"github.com/sluicegw/sluice/ipc"

	"github.com/sluicegw/sluice/stream"
)

// Defaults of the settings both ends apply when a value is zero or unset.
// They live here, and not in each package, so that a worker started by
// hand and one started by `sluice serve` agree, and so that flags and docs
// can quote them.
const (
	// DefaultFD is the descriptor of the worker's end of the socketpair:
	// the first of exec.Cmd.ExtraFiles, after stdin, stdout and stderr.
	DefaultFD = 3

	// DefaultMaxInFlight is 0, automatic: the worker's CPU admission
	// controller sets how many handlers may compute at once from the CPU
	// pressure it measures, and the parent routes by the worker's load
	// reports. A fixed limit fits no mix of handlers: CPU-bound ones need
	// about one per core to keep responses flowing, I/O-bound ones
	// hundreds. A setting of 1 or more is a hard cap instead, with no
	// controller (see CheckMaxInFlight).
	DefaultMaxInFlight = 0

	// DefaultHighWatermark is a worker's queued response bytes at which no
	// new handler starts (8 MiB). The low watermark defaults to a quarter
	// of the high one, and the queue limit to twice it.
	DefaultHighWatermark = 8 << 20

	// DefaultSendBuffer is the SO_SNDBUF, in bytes, of both ends of a
	// worker's socket (4 MiB): a small one multiplies the wake-ups a
	// response needs to leave.
	DefaultSendBuffer = 4 << 20
)

// MaxInFlightLimit is the largest in-flight limit either end accepts. A
// worker cannot run more handlers than its connection has streams, and
// package ipc accepts at most MaxStreamsLimit for MaxStreams; the limit also travels
// in the 32-bit Limit field of a load report, which 1<<20 fits with room to
// spare. A larger number can only be a typo.
const MaxInFlightLimit = ipc.MaxStreamsLimit

// CheckMaxInFlight reports whether n is an in-flight setting: 0 for
// automatic, or a hard cap of 1..MaxInFlightLimit, where the parent never
// has more than n requests on one worker and the worker runs at most n
// handlers, with no controller. what names the setting in the error (a
// flag, a JSON field).
func CheckMaxInFlight(what string, n int) error {
	if n < 0 || n > MaxInFlightLimit {
		return fmt.Errorf("%s %d is out of range; use 0 (automatic) or a hard cap of 1..%d", what, n, MaxInFlightLimit)
	}
	return nil
}

// Policy names: the data scheduling policies of a worker's connection.
const (
	PolicySequential = stream.PolicySequential // the default: streams in the order they were opened
	PolicyRoundRobin = stream.PolicyRoundRobin // every stream a turn
)

// CheckSched reports whether name is a policy name; the empty name is not
// (callers that let it mean the default check that first).
func CheckSched(name string) error {
	switch name {
	case PolicySequential, PolicyRoundRobin:
		return nil
	}
	return fmt.Errorf("sched %q is not a scheduling policy; use %s or %s", name, PolicySequential, PolicyRoundRobin)
}

// The values of SLUICE_ADMISSION.
const (
	AdmissionOn  = "on"
	AdmissionOff = "off"
)

// The values of SLUICE_LOG_FORMAT, both written to stderr.
const (
	LogText = "text"
	LogJSON = "json"
)

// Watermarks returns the queue limit and watermarks in force for the
// configured values high, low and limit, zero meaning the default: high
// DefaultHighWatermark, low a quarter of high, limit twice high.
func Watermarks(high, low, limit int64) (effHigh, effLow, effLimit int64) {
	if high == 0 {
		high = DefaultHighWatermark
	}
	if low == 0 {
		low = high / 4
	}
	if limit == 0 {
		limit = 2 * high
	}
	return high, low, limit
}
