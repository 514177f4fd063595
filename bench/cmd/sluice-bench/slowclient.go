package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/child/digest"
	"github.com/sluicegw/sluice/sockopt"
)

// Slow clients read a large response at a fixed pace.
const (
	// slowPiece is the most a slow client reads at once: small pieces
	// keep its pace even at the scale of one scheduling tick.
	slowPiece = 4 << 10
	// slowRcvBuf is the slow client's SO_RCVBUF. Left alone, Linux
	// autotunes a loopback receive buffer to megabytes: the kernel would
	// take in the first seconds of the response whatever the client
	// reads, and the gateway would see a fast client. Set before connect,
	// it also fixes the TCP window scale, so the window stays this small.
	slowRcvBuf = 64 << 10
)

// pace copies r to w at no more than rate bytes a second: before each read
// of at most piece bytes it waits until the bytes already read are due at
// that rate. It returns the bytes copied and nil at EOF, r's or w's error,
// or ctx's error once ctx ends.
func pace(ctx context.Context, r io.Reader, w io.Writer, rate int64, piece int) (int64, error) {
	buf := make([]byte, piece)
	start := time.Now()
	var n int64
	for {
		due := start.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return n, ctx.Err()
			case <-t.C:
			}
		}
		m, err := r.Read(buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// rawSock lets sockopt set options on a socket that is still being dialled.
type rawSock struct{ syscall.RawConn }

func (r rawSock) SyscallConn() (syscall.RawConn, error) { return r.RawConn, nil }

// slowTransport is an HTTP transport whose connections have a receive
// buffer of rcvbuf bytes. A short grant (a sysctl cap) is not an error: it
// can only make the buffer smaller.
func slowTransport(rcvbuf int) *http.Transport {
	d := &net.Dialer{Timeout: 30 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		_, err := sockopt.SetRecvBuffer(rawSock{c}, rcvbuf)
		var short *sockopt.BufferError
		if errors.As(err, &short) {
			return nil
		}
		return err
	}}
	// The transport's own read buffer is no larger than a piece, so that it
	// does not read far ahead of the pace either.
	return &http.Transport{DialContext: d.DialContext, DisableCompression: true, ReadBufferSize: slowPiece}
}

// slowResult is what one slow client got.
type slowResult struct {
	bytes int64
	// served is whether any body byte came, and for how long bytes came:
	// from the first to the end of the client's read.
	served  bool
	reading time.Duration
	failures
}

// runSlow starts n slow clients at once, client i fetching
// base/payload?size=size&seed=i with its own connection and reading it at
// rate bytes a second, and stops them all when window ends. A response that
// is refused or ends before the window does (other than complete) is a
// failure; one still being read at the end is closed, as expected. Every
// byte is compared with demo.Payload, and a complete body with its digest.
func runSlow(ctx context.Context, base string, n int, size, rate int64, window time.Duration) []slowResult {
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	tr := slowTransport(slowRcvBuf)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	out := make([]slowResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = slowFetch(wctx, client, base, uint64(i), size, rate) })
	}
	wg.Wait()
	return out
}

// slowFetch is one slow client; ctx ends with the window.
func slowFetch(ctx context.Context, client *http.Client, base string, seed uint64, size, rate int64) slowResult {
	var res slowResult
	what := "slow client " + strconv.FormatUint(seed, 10)
	u := base + "/payload?size=" + strconv.FormatInt(size, 10) + "&seed=" + strconv.FormatUint(seed, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		res.note(false, what, err.Error())
		return res
	}
	req.Header.Set(digest.WantField, digest.WantSHA256)
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			res.note(false, what, err.Error())
		}
		return res
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		res.note(false, what, "status "+resp.Status)
		return res
	}
	check := &payloadCheck{want: demo.Payload(seed, size), buf: make([]byte, slowPiece), sum: digest.NewVerifier()}
	n, err := pace(ctx, resp.Body, check, rate, slowPiece)
	res.bytes = n
	if res.served = !check.first.IsZero(); res.served {
		res.reading = time.Since(check.first)
	}
	switch {
	case check.bad != "":
		res.note(true, what, check.bad)
	case err != nil && ctx.Err() != nil:
		// The window is over: the bench closes the response itself.
	case err != nil:
		res.note(false, what, fmt.Sprintf("cut after %d of %d bytes: %v", n, size, err))
	case n != size:
		res.note(false, what, fmt.Sprintf("body ended after %d of %d bytes", n, size))
	default:
		if err := check.sum.Check(resp.Trailer.Get(digest.Field)); err != nil {
			res.note(true, what, err.Error())
		}
	}
	return res
}

// payloadCheck compares the bytes written to it with the payload they
// should be, and digests them; it never fails a write.
type payloadCheck struct {
	want  io.Reader
	buf   []byte
	sum   *digest.Verifier
	off   int64
	first time.Time
	bad   string // the first difference, if any
}

// Write checks p as the next bytes of the payload.
func (c *payloadCheck) Write(p []byte) (int, error) {
	if c.first.IsZero() {
		c.first = time.Now()
	}
	c.sum.Write(p)
	for rest := p; c.bad == "" && len(rest) > 0; {
		k, err := io.ReadFull(c.want, c.buf[:min(len(rest), len(c.buf))])
		if !bytes.Equal(rest[:k], c.buf[:k]) {
			c.bad = fmt.Sprintf("the bytes at offset %d..%d differ from demo.Payload's", c.off, c.off+int64(k))
			break
		}
		if err != nil {
			c.bad = fmt.Sprintf("more than the %d bytes of the payload arrived", c.off+int64(k))
			break
		}
		rest = rest[k:]
		c.off += int64(k)
	}
	return len(p), nil
}

// slowStats summarise the slow clients of a run.
type slowStats struct {
	Clients, Served, Failures, Integrity int
	// RateWindow is the median over every client of its bytes over the
	// window (a client never served counts 0); RateServed the median over
	// the served clients of their bytes over the time they were read.
	RateWindow, RateServed float64
	failures
}

// summarizeSlow aggregates the slow clients of a run that lasted window.
func summarizeSlow(rs []slowResult, window time.Duration) slowStats {
	s := slowStats{Clients: len(rs)}
	var overWindow, whileServed []float64
	for _, r := range rs {
		if r.firstIntegrity != "" {
			s.Integrity++
		}
		if r.firstErr != "" {
			s.Failures++
		}
		s.merge(r.failures)
		overWindow = append(overWindow, float64(r.bytes)/window.Seconds())
		if r.served {
			s.Served++
			if r.reading > 0 {
				whileServed = append(whileServed, float64(r.bytes)/r.reading.Seconds())
			}
		}
	}
	s.RateWindow, s.RateServed = median(overWindow), median(whileServed)
	return s
}

// put stores the slow clients' figures under prefix.
func (s slowStats) put(figs map[string]float64, prefix string) {
	figs[prefix+".served"] = float64(s.Served)
	figs[prefix+".failures"] = float64(s.Failures)
	figs[prefix+".rate_window"] = s.RateWindow
	if s.Served > 0 {
		figs[prefix+".rate_served"] = s.RateServed
	}
	figs[figIntegrity] += float64(s.Integrity)
}
