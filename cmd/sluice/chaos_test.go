package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/child/digest"
)

// chaosIterations is how many workers TestChaosWorkerKills kills: few
// enough for make test, more with -chaos.iterations or
// SLUICE_CHAOS_ITERATIONS (e.g. 200).
var chaosIterations = flag.Int("chaos.iterations", 20, "workers TestChaosWorkerKills kills (env SLUICE_CHAOS_ITERATIONS overrides)")

// chaosSizes are the /payload sizes the load asks for: small ones that fit
// a frame, and large ones that span many windows.
var chaosSizes = []int{1 << 10, 64 << 10, 1 << 20, 4 << 20}

// chaosTally counts what the clients saw.
type chaosTally struct {
	complete atomic.Int64 // 200, whole body, digest right
	cut      atomic.Int64 // the client saw the response fail
	refused  atomic.Int64 // a status other than 200
	mu       sync.Mutex
	fake     []string // looked complete, but were not: must stay empty
}

// chaosFetch asks for a payload with its digest and classifies the outcome.
// A body that reads to its end without an error is complete-looking; it
// must then have exactly its size and a matching Content-Digest trailer.
func chaosFetch(client *http.Client, base string, size, seed int, tally *chaosTally) {
	url := fmt.Sprintf("%s/payload?size=%d&seed=%d", base, size, seed)
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set(digest.WantField, digest.WantSHA256)
	resp, err := client.Do(req)
	if err != nil {
		tally.cut.Add(1)
		return
	}
	defer resp.Body.Close()
	v := digest.NewVerifier()
	n, err := io.Copy(v, resp.Body)
	switch {
	case err != nil:
		tally.cut.Add(1)
	case resp.StatusCode != 200:
		tally.refused.Add(1)
		// Slots back off after quick deaths: a 503 is not worth
		// retrying at once.
		time.Sleep(20 * time.Millisecond)
	default:
		var why error
		if n != int64(size) {
			why = fmt.Errorf("%d bytes of %d", n, size)
		} else {
			why = v.Check(resp.Trailer.Get(digest.Field))
		}
		if why != nil {
			tally.mu.Lock()
			tally.fake = append(tally.fake, fmt.Sprintf("%s: %v", url, why))
			tally.mu.Unlock()
			return
		}
		tally.complete.Add(1)
	}
}

// TestChaosWorkerKills SIGKILLs a random busy worker of the real binary,
// over and over, under a mixed load of small and large payloads with
// digests, and counts responses that looked complete but were not: there
// must be none. Every response a kill cuts must be visible to its client
// as a cut.
func TestChaosWorkerKills(t *testing.T) {
	iterations := *chaosIterations
	if v := os.Getenv("SLUICE_CHAOS_ITERATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SLUICE_CHAOS_ITERATIONS=%q: want a positive count", v)
		}
		iterations = n
	}
	const workers, clients = 4, 4
	g := startGateway(t, workers)
	tally := &chaosTally{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: time.Minute}
			defer client.CloseIdleConnections()
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				chaosFetch(client, g.addr, chaosSizes[rng.IntN(len(chaosSizes))], rng.IntN(1000), tally)
			}
		}()
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	kills, idle := 0, 0
	for range iterations {
		time.Sleep(time.Duration(50+rng.IntN(200)) * time.Millisecond)
		// A busy worker, so that every kill has responses to cut; the
		// restarts back off, so some slots may be down for a while.
		var busy []int
		deadline := time.Now().Add(5 * time.Second)
		for len(busy) == 0 && time.Now().Before(deadline) {
			for _, w := range g.status().Workers {
				if w.State == "up" && w.Open > 0 && w.PID > 0 {
					busy = append(busy, w.PID)
				}
			}
			if len(busy) == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if len(busy) == 0 {
			idle++
			continue
		}
		if err := syscall.Kill(busy[rng.IntN(len(busy))], syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatal(err)
		}
		kills++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d kills (%d iterations found no busy worker): %d complete, %d cut, %d refused, %d looked complete but were not",
		kills, idle, tally.complete.Load(), tally.cut.Load(), tally.refused.Load(), len(tally.fake))
	for _, f := range tally.fake {
		t.Errorf("looked complete but was not: %s", f)
	}
	if kills == 0 || tally.cut.Load() == 0 {
		t.Fatalf("%d kills cut %d responses: the chaos proved nothing", kills, tally.cut.Load())
	}
	if tally.complete.Load() == 0 {
		t.Fatal("no response completed under the chaos")
	}
	// The gateway is still up and serves.
	g.waitWorkersUp(1)
	get(t, g.addr+"/payload?size=64KiB&seed=5", nil)
}
