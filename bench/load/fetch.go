package load

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/sluicegw/sluice/child/digest"
)

// bufPool holds the body buffers of open-loop requests.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, readBuffer)
	return &b
}}

// fetch performs request i, due at t0, reading the body into buf (nil: one
// from bufPool, taken once the head has arrived, so that the many requests
// an open loop keeps waiting hold no buffer). Its times are measured from
// t0, not from when it actually started.
func (r *runner) fetch(ctx context.Context, i int, t0 time.Time, buf []byte) Result {
	res := Result{Index: i, Start: t0.Sub(r.start)}
	if r.cfg.Rate > 0 {
		res.Lag = time.Since(t0)
	}
	if r.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.URL, nil)
	if err != nil {
		res.Err = fmt.Sprintf("building request for %s: %v", r.cfg.URL, err)
		return res
	}
	for k, v := range r.cfg.Header {
		req.Header[k] = v
	}
	if h := r.cfg.Header.Get("Host"); h != "" {
		req.Host = h // net/http sends req.Host, not the header
	}
	if r.cfg.Digest {
		req.Header.Set(digest.WantField, digest.WantSHA256)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		res.Err = err.Error()
		res.TTLB = time.Since(t0)
		return res
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	res.RetryAfter = resp.Header.Get("Retry-After")
	head := time.Now()
	if buf == nil {
		p := bufPool.Get().(*[]byte)
		defer bufPool.Put(p)
		buf = *p
	}

	var v *digest.Verifier
	var sink io.Writer = io.Discard
	if r.cfg.Digest {
		v = digest.NewVerifier()
		sink = v
	}
	var first, last time.Time
	var readErr error
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			last = time.Now()
			if first.IsZero() {
				first = last
			}
			res.Bytes += int64(n)
			sink.Write(buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	end := time.Now()
	if first.IsZero() { // empty body: the head is the first (and last) byte
		first, last = head, head
	}
	res.TTFB, res.Transfer, res.TTLB = first.Sub(t0), last.Sub(first), end.Sub(t0)

	switch {
	case readErr != nil:
		res.Err = fmt.Sprintf("body ended after %d bytes: %v", res.Bytes, readErr)
	case resp.ContentLength >= 0 && res.Bytes != resp.ContentLength:
		// net/http reports this itself; checked again because a short
		// body must never pass as a complete one.
		res.Err = fmt.Sprintf("body has %d bytes but Content-Length said %d", res.Bytes, resp.ContentLength)
	case v != nil && resp.StatusCode/100 == 2:
		err := v.Check(resp.Trailer.Get(digest.Field))
		ok := err == nil
		res.DigestOK = &ok
		if err != nil {
			res.Err = err.Error()
		}
	}
	return res
}
