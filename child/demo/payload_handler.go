package demo

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sluicegw/sluice/ipc/settings"
)

// CPUTimeHeader is the response header in which /payload reports the CPU
// time it actually spent (a Go duration such as "200.04ms"), so that tests
// and the bench can see the work was done without trusting wall time.
const CPUTimeHeader = "Demo-Cpu-Time"

// chunks recycles the 64 KiB write buffers of /payload: a gateway replay
// runs thousands of requests, and each should not leave one behind.
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
	var cpu time.Duration
	if s := q.Get("cpu"); s != "" {
		cpu, err = time.ParseDuration(s)
		if err != nil || cpu < 0 || cpu > MaxCPU {
			badRequest(w, "cpu", s, "not a duration between 0 and 10m; use e.g. 200ms or 1.5s")
			return
		}
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
	used, err := burnCPU(r.Context(), cpu)
	if err != nil {
		// The client is gone (or the clock failed): nobody will read a body.
		http.Error(w, "payload: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	h.Set(CPUTimeHeader, used.String())
	writePayload(w, r, seed, size)
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
