//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/bench/procstat"
)

// TestEndToEndUploadIsFlowControlled sends 50 uploads at once, each as fast
// as its client can, to a worker that reads each at 64 KiB/s: the client
// must be slowed down to the worker's pace, not the parent's memory filled
// with what the worker has not read yet.
func TestEndToEndUploadIsFlowControlled(t *testing.T) {
	const (
		uploads = 50
		rate    = 64 << 10
		watch   = 3 * time.Second
		maxRSS  = 256 << 20
		// What one upload may have sent in the time watched: the stream's
		// credit window and the sockets' buffers, far below what an
		// unthrottled loopback client sends in that time (gigabytes).
		maxSent = 32 << 20
	)
	// A hard cap above the count, so that all of them run at once: the
	// uploads wait on their bodies, which automatic admission does not
	// count as work, but it ramps up to them only bit by bit.
	g := startGateway(t, 1, "--max-inflight", "64", "--queue-target", "0")
	tr := &http.Transport{MaxConnsPerHost: uploads, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}

	ctx, cancel := context.WithCancel(context.Background())
	var sent [uploads]atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, uploads)
	for i := range uploads {
		wg.Go(func() {
			body := &countingReader{r: rand.Reader, n: &sent[i]}
			req, _ := http.NewRequestWithContext(ctx, "POST", g.addr+fmt.Sprintf("/upload?rate=%d", rate), body)
			resp, err := c.Do(req)
			if err == nil {
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				err = fmt.Errorf("upload %d answered %d %q before its body ended", i, resp.StatusCode, strings.TrimSpace(string(msg)))
			}
			if !errors.Is(err, context.Canceled) {
				errs <- err
			}
		})
	}
	time.Sleep(watch) // how long the uploads run, not a synchronisation
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	peak, err := procstat.PeakRSS(g.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var most int64
	for i := range sent {
		most = max(most, sent[i].Load())
	}
	// The tree's: the parent queues what the worker has not taken, the
	// worker what its handlers have not read.
	st := g.status()
	if len(st.Workers) == 0 {
		t.Fatal("/status lists no worker")
	}
	wp, err := procstat.PeakRSS(st.Workers[0].PID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak worker RSS %d MiB", wp>>20)
	peak += wp
	t.Logf("peak RSS of the parent and its worker %d MiB; the most one upload sent in %v: %d KiB", peak>>20, watch, most>>10)
	limit := int64(maxRSS)
	if raceBuild {
		// The gateway is built with -race too (sluiceBinary), whose
		// shadow memory costs several times the heap: without it this
		// run peaks near a quarter of maxRSS.
		limit *= 4
	}
	if peak > limit {
		t.Errorf("the peak RSS of the parent and its worker was %d MiB; want at most %d MiB", peak>>20, limit>>20)
	}
	if most > maxSent {
		t.Errorf("an upload sent %d MiB in %v to a worker reading %d KiB/s; want at most %d MiB: nothing slowed it down", most>>20, watch, rate>>10, maxSent>>20)
	}
	if most == 0 {
		t.Error("no upload sent anything")
	}
}

// countingReader counts what is read from r into n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
