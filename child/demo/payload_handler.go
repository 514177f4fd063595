package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/ipc/settings"
)

// CPUTimeHeader is the response header in which /payload reports the CPU
// time it actually spent (a Go duration such as "200.04ms"), so that tests
// and the bench can see the work was done without trusting wall time.
const CPUTimeHeader = "Demo-Cpu-Time"

// chunks recycles the 64 KiB buffers of /payload and /upload: a gateway
// replay runs thousands of requests, and each should not leave one behind.
// A sync.Pool of fixed arrays, not bytebufferpool: the size never varies, so
// there is nothing to calibrate, and BenchmarkChunkPool finds both free of
// allocations and no faster one than the other.
var chunks = sync.Pool{New: func() any { return new([blockSize]byte) }}

func servePayload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("size") {
		badRequest(w, "size", "", "missing; give a byte count such as 4096, 27MiB or 1GiB")
		return
	}
	size, err := settings.ParseSize(q.Get("size"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cpu, ok := durationParam(w, q, "cpu", MaxCPU)
	if !ok {
		return
	}
	wait, ok := durationParam(w, q, "wait", MaxWait)
	if !ok {
		return
	}
	var seed uint64
	if s := q.Get("seed"); s != "" {
		seed, err = strconv.ParseUint(s, 10, 64)
		if err != nil {
			badRequest(w, "seed", s, "not an unsigned 64-bit integer; use e.g. 0 or 42")
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if r.Method == http.MethodHead {
		return
	}
	// The wait comes first, as in a handler that fetches its data and then
	// renders it. An error from either phase means the client is gone (or
	// the clock failed): nobody will read a body.
	err = sleep(r.Context(), wait)
	var used time.Duration
	if err == nil {
		used, err = burnCPU(r.Context(), cpu)
	}
	if err != nil {
		http.Error(w, "payload: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	h.Set(CPUTimeHeader, used.String())
	writePayload(w, r, seed, size)
}

// durationParam reads the duration parameter name of q, 0 if absent. A value
// that does not parse or lies outside 0..limit gets a 400 naming it, and ok
// is false.
func durationParam(w http.ResponseWriter, q url.Values, name string, limit time.Duration) (d time.Duration, ok bool) {
	s := q.Get(name)
	if s == "" {
		return 0, true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > limit {
		// "10m", not time.Duration's "10m0s".
		badRequest(w, name, s, fmt.Sprintf("not a duration between 0 and %s; use e.g. 200ms or 1.5s", strings.TrimSuffix(limit.String(), "0s")))
		return 0, false
	}
	return d, true
}

// MaxWait bounds the wait parameter, like MaxCPU bounds cpu: a typo must
// not park a handler for hours.
const MaxWait = 10 * time.Minute

// sleep waits d without using CPU, as a handler blocked on a database or an
// upstream does, and gives up as soon as ctx ends: a client that went away
// must not keep an admission slot for the rest of the wait.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// writePayload streams the payload in blockSize writes, stopping as soon as
// the request's context ends or a write fails (the client went away).
func writePayload(w io.Writer, r *http.Request, seed uint64, size int64) {
	buf := chunks.Get().(*[blockSize]byte)
	defer chunks.Put(buf)
	pr := newPayloadReader(seed, size)
	ctx := r.Context()
	for ctx.Err() == nil {
		n, err := pr.Read(buf[:])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
