package settings

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// MaxConfigBody bounds the body of a PUT /config: a few hundred bytes is
// all a valid one needs, and an admin endpoint must not buffer whatever a
// client sends.
const MaxConfigBody = 64 << 10

// Config is the JSON of the /config admin endpoint, on the gateway (the
// operator's admin listener) and on each worker (an admin stream from the
// parent). GET answers with the settings in force; PUT takes the same
// object, where an absent field stays as it is, and answers like GET.
//
// The gateway reads and changes max_inflight, queue_timeout, the
// watermarks and sched; a worker reads all but queue_timeout and changes
// max_inflight and the watermarks live. A field that cannot change where
// it was sent is accepted only with the value in force, so that a GET's
// answer can be edited and sent back.
type Config struct {
	// MaxInFlight is the in-flight setting per worker: 0 for automatic,
	// or a hard cap of 1..MaxInFlightLimit (see CheckMaxInFlight).
	MaxInFlight *int `json:"max_inflight,omitempty"`
	// QueueTimeout is the gateway's wait for a worker with room, a
	// positive Go duration such as "10s". Workers do not have one.
	QueueTimeout *string `json:"queue_timeout,omitempty"`
	// HighWatermark and LowWatermark are a worker's watermarks in bytes,
	// 1..MaxSize, low at most high.
	HighWatermark *int64 `json:"high_watermark,omitempty"`
	LowWatermark  *int64 `json:"low_watermark,omitempty"`
	// QueueLimit is a worker's queue limit in bytes; fixed at start.
	QueueLimit *int64 `json:"queue_limit,omitempty"`
	// Admission is whether a worker's admission gate is on; fixed at start.
	Admission *bool `json:"admission,omitempty"`
	// Sched is the scheduling policy, PolicySequential or
	// PolicyRoundRobin. The gateway applies a change by replacing its
	// workers one at a time; a worker cannot change its own.
	Sched *string `json:"sched,omitempty"`
}

// DecodeConfig reads a PUT /config body: one JSON object of Config's
// fields and no others, at most MaxConfigBody bytes. It does not Validate.
func DecodeConfig(r io.Reader) (Config, error) {
	var c Config
	dec := json.NewDecoder(io.LimitReader(r, MaxConfigBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("want a JSON object with any of max_inflight, queue_timeout (e.g. \"10s\"), high_watermark, low_watermark, queue_limit, admission, sched: %w", err)
	}
	return c, nil
}

// Validate checks each field present on its own, and the watermarks
// against each other when both are: what holds wherever the Config is
// sent. What depends on the settings in force (a watermark against the
// queue limit, a field that cannot change) is the receiver's to check.
// Errors name the JSON field, its value and what to use.
func (c Config) Validate() error {
	if c.MaxInFlight != nil {
		if err := CheckMaxInFlight("max_inflight", *c.MaxInFlight); err != nil {
			return err
		}
	}
	if c.QueueTimeout != nil {
		if _, err := c.Timeout(); err != nil {
			return err
		}
	}
	if c.HighWatermark != nil && (*c.HighWatermark < 1 || *c.HighWatermark > MaxSize) {
		return fmt.Errorf("high_watermark %d is out of range; use 1..%d bytes, at most the queue_limit", *c.HighWatermark, MaxSize)
	}
	if c.LowWatermark != nil && (*c.LowWatermark < 1 || *c.LowWatermark > MaxSize) {
		return fmt.Errorf("low_watermark %d is out of range; use 1..high_watermark bytes", *c.LowWatermark)
	}
	if c.HighWatermark != nil && c.LowWatermark != nil && *c.LowWatermark > *c.HighWatermark {
		return fmt.Errorf("low_watermark %d is above high_watermark %d; it must be at most high_watermark", *c.LowWatermark, *c.HighWatermark)
	}
	if c.QueueLimit != nil && (*c.QueueLimit < 1 || *c.QueueLimit > MaxSize) {
		return fmt.Errorf("queue_limit %d is out of range; use 1..%d bytes", *c.QueueLimit, MaxSize)
	}
	if c.Sched != nil {
		if err := CheckSched(*c.Sched); err != nil {
			return err
		}
	}
	return nil
}

// Timeout is QueueTimeout as a duration; zero if it is absent.
func (c Config) Timeout() (time.Duration, error) {
	if c.QueueTimeout == nil {
		return 0, nil
	}
	d, err := time.ParseDuration(*c.QueueTimeout)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("queue_timeout %q is not a positive duration; use one such as \"10s\"", *c.QueueTimeout)
	}
	return d, nil
}

// Env is the worker environment for the fields present that a worker reads
// at start (all but QueueTimeout), so that a worker started after a PUT
// /config gets what was tuned. Appended after a Worker's Env, it wins.
func (c Config) Env() []string {
	var env []string
	if c.MaxInFlight != nil {
		env = append(env, EnvMaxInFlight+"="+strconv.Itoa(*c.MaxInFlight))
	}
	if c.HighWatermark != nil {
		env = append(env, EnvHighWatermark+"="+strconv.FormatInt(*c.HighWatermark, 10))
	}
	if c.LowWatermark != nil {
		env = append(env, EnvLowWatermark+"="+strconv.FormatInt(*c.LowWatermark, 10))
	}
	if c.QueueLimit != nil {
		env = append(env, EnvQueueLimit+"="+strconv.FormatInt(*c.QueueLimit, 10))
	}
	if c.Admission != nil {
		v := AdmissionOn
		if !*c.Admission {
			v = AdmissionOff
		}
		env = append(env, EnvAdmission+"="+v)
	}
	if c.Sched != nil {
		env = append(env, EnvSched+"="+*c.Sched)
	}
	return env
}

// Equal reports whether c and d have the same fields present with the
// same values.
func (c Config) Equal(d Config) bool {
	return eq(c.MaxInFlight, d.MaxInFlight) && eq(c.QueueTimeout, d.QueueTimeout) &&
		eq(c.HighWatermark, d.HighWatermark) && eq(c.LowWatermark, d.LowWatermark) &&
		eq(c.QueueLimit, d.QueueLimit) && eq(c.Admission, d.Admission) && eq(c.Sched, d.Sched)
}

func eq[T comparable](a, b *T) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// LogValue logs the fields present, not the pointers.
func (c Config) LogValue() slog.Value {
	var attrs []slog.Attr
	add := func(key string, present bool, v func() any) {
		if present {
			attrs = append(attrs, slog.Any(key, v()))
		}
	}
	add("max_inflight", c.MaxInFlight != nil, func() any { return *c.MaxInFlight })
	add("queue_timeout", c.QueueTimeout != nil, func() any { return *c.QueueTimeout })
	add("high_watermark", c.HighWatermark != nil, func() any { return *c.HighWatermark })
	add("low_watermark", c.LowWatermark != nil, func() any { return *c.LowWatermark })
	add("queue_limit", c.QueueLimit != nil, func() any { return *c.QueueLimit })
	add("admission", c.Admission != nil, func() any { return *c.Admission })
	add("sched", c.Sched != nil, func() any { return *c.Sched })
	return slog.GroupValue(attrs...)
}
