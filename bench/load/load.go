// Package load is sluice's HTTP load generator: it runs a fixed number of
// requests (or requests for a fixed time) and records, per request, the
// time to first and last byte, so that the bench can show whether responses
// flow together or one after the other. A body that ends early is always an
// error, never a short success, and with Digest set every body is checked
// against its Content-Digest trailer.
//
// The load is closed-loop by default: Concurrency workers each start their
// next request when the last one ends, so a slow server slows the load
// down. With Rate set it is open-loop instead: request i is scheduled at
// i/Rate seconds after the start and started then, however many are still
// in flight, the way real clients keep arriving at an overloaded server.
// Its times are measured from the scheduled start, so that a generator
// running late cannot hide the wait (the coordinated omission that wrk2
// and vegeta avoid the same way), and each result says how late it started.
package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what load to generate.
type Config struct {
	// URL is fetched with GET by every request.
	URL string
	// Requests is the total number of requests; 0 means run for Duration.
	Requests int
	// Duration bounds the time during which requests are started; requests
	// in flight when it ends are finished. With Requests also set, the run
	// stops at whichever comes first.
	Duration time.Duration
	// Concurrency is the number of requests in flight at once (at least 1)
	// in a closed loop; an open loop (Rate > 0) ignores it.
	Concurrency int
	// Rate, if above 0, makes the run open-loop: request i is scheduled at
	// i/Rate seconds after the start and started on schedule whether or not
	// earlier ones have finished. Requests or Duration still say when
	// scheduling ends.
	Rate float64
	// MaxInFlight bounds the requests of an open loop in flight at once, a
	// safety net for the generator itself: a request due when that many are
	// in flight is not started but recorded as failed ("generator
	// overloaded"), so that the load is never silently thinned or delayed.
	// 0 means DefaultMaxInFlight.
	MaxInFlight int
	// Digest sends "Want-Content-Digest: sha-256=1" and checks the
	// Content-Digest trailer of every 2xx response against its body.
	Digest bool
	// Timeout bounds each request, head and body; 0 means no limit.
	Timeout time.Duration
	// Header is added to every request.
	Header http.Header
}

// readBuffer is the per-worker body buffer: large reads keep the generator
// from being the bottleneck at several GB/s.
const readBuffer = 256 << 10

// minRate is the lowest open-loop rate, one request a day: request i's
// offset, i/Rate, must fit a time.Duration for any run of sensible length.
const minRate = 1.0 / 86400

// DefaultMaxInFlight is an open loop's MaxInFlight when it is 0: far more
// than a gateway admits, well within the descriptors a process may open.
const DefaultMaxInFlight = 10000

// errOverloaded is the Err of an open-loop request not started because
// MaxInFlight requests were in flight.
const errOverloaded = "generator overloaded"

func (c *Config) check() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("load: URL %q is not an absolute http(s) URL; use e.g. http://127.0.0.1:8080/payload?size=27MiB", c.URL)
	}
	if c.Requests < 0 || c.Duration < 0 || c.Concurrency < 0 || c.Timeout < 0 || c.MaxInFlight < 0 {
		return fmt.Errorf("load: negative setting (requests %d, duration %v, concurrency %d, timeout %v, max in flight %d); use 0 or more",
			c.Requests, c.Duration, c.Concurrency, c.Timeout, c.MaxInFlight)
	}
	if !(c.Rate >= 0) || math.IsInf(c.Rate, 1) || c.Rate > 0 && c.Rate < minRate {
		return fmt.Errorf("load: rate %v is not a finite number of requests a second of at least %v; use 0 for a closed loop or e.g. 50", c.Rate, minRate)
	}
	if c.Requests == 0 && c.Duration == 0 {
		return errors.New("load: neither Requests nor Duration is set; set one to say when the run ends")
	}
	return nil
}

// Run generates the load described by cfg and reports on every request. If
// ctx ends first, Run returns the partial report together with ctx's error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	conc := max(cfg.Concurrency, 1)
	if cfg.Rate > 0 {
		if cfg.MaxInFlight == 0 {
			cfg.MaxInFlight = DefaultMaxInFlight
		}
		// As many idle connections as requests in flight, so that a burst
		// of responses does not close what the next arrivals will reuse
		// (a response with "Connection: close", as sluice's 503s are, still
		// costs a new one).
		conc = cfg.MaxInFlight
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     90 * time.Second,
		// Bytes are measured as sent: no transparent gunzip.
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	r := &runner{cfg: cfg, client: &http.Client{Transport: tr}, start: time.Now()}
	if cfg.Duration > 0 {
		r.deadline = r.start.Add(cfg.Duration)
	}

	var results []Result
	if cfg.Rate > 0 {
		results = r.openLoop(ctx)
	} else {
		perWorker := make([][]Result, conc)
		var wg sync.WaitGroup
		for w := range conc {
			wg.Go(func() { perWorker[w] = r.work(ctx) })
		}
		wg.Wait()
		results = slices.Concat(perWorker...)
	}

	rep := &Report{Results: results}
	slices.SortFunc(rep.Results, func(a, b Result) int { return a.Index - b.Index })
	rep.Summary = summarize(rep.Results, time.Since(r.start))
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("load: run against %s interrupted after %d requests: %w", cfg.URL, len(rep.Results), err)
	}
	return rep, nil
}

// runner holds what the workers of one Run share.
type runner struct {
	cfg      Config
	client   *http.Client
	start    time.Time
	deadline time.Time // zero without Duration
	next     atomic.Int64
}

// work runs requests one after another until the run is over.
func (r *runner) work(ctx context.Context) []Result {
	buf := make([]byte, readBuffer)
	var out []Result
	for ctx.Err() == nil {
		if !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
			break
		}
		i := int(r.next.Add(1) - 1)
		if r.cfg.Requests > 0 && i >= r.cfg.Requests {
			break
		}
		out = append(out, r.fetch(ctx, i, time.Now(), buf))
	}
	return out
}
