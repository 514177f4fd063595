// Package load is sluice's HTTP load generator: it runs a fixed number of
// requests (or requests for a fixed time) at a given concurrency and records,
// per request, the time to first and last byte, so that the bench can show
// whether responses flow together or one after the other. A body that ends
// early is always an error, never a short success, and with Digest set every
// body is checked against its Content-Digest trailer.
package load

import (
	"context"
	"errors"
	"fmt"
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
	// Concurrency is the number of requests in flight at once (at least 1).
	Concurrency int
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

func (c *Config) check() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("load: URL %q is not an absolute http(s) URL; use e.g. http://127.0.0.1:8080/payload?size=27MiB", c.URL)
	}
	if c.Requests < 0 || c.Duration < 0 || c.Concurrency < 0 || c.Timeout < 0 {
		return fmt.Errorf("load: negative setting (requests %d, duration %v, concurrency %d, timeout %v); use 0 or more", c.Requests, c.Duration, c.Concurrency, c.Timeout)
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

	perWorker := make([][]Result, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() { perWorker[w] = r.work(ctx) })
	}
	wg.Wait()

	rep := &Report{Results: slices.Concat(perWorker...)}
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
		out = append(out, r.fetch(ctx, i, buf))
	}
	return out
}
