package parent

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// TestEndpointKey: ids in the path and the order and values of the query's
// parameters do not name another endpoint; the method, other segments and
// other parameter names do.
func TestEndpointKey(t *testing.T) {
	same := [][2]string{
		{"GET /users/17/orders", "GET /users/4242/orders"},
		{"GET /users/5f3a9c/orders", "GET /users/0b2d77e1/orders"},
		{"GET /payload?size=4096&wait=200ms", "GET /payload?wait=1s&size=27MiB"},
		{"GET /payload?size=1", "GET /payload?size="},
	}
	differ := [][2]string{
		{"GET /users/17/orders", "POST /users/17/orders"},
		{"GET /users/17/orders", "GET /users/17/invoices"},
		{"GET /users/me/orders", "GET /users/17/orders"},
		{"GET /payload?size=4096", "GET /payload?size=4096&cpu=300ms"},
		{"GET /payload?size=4096&wait=1s", "GET /payload?size=4096&cpu=1s"},
		{"GET /a/b", "GET /ab"},
	}
	key := func(s string) uint64 {
		method, target, _ := strings.Cut(s, " ")
		r := httptest.NewRequest(method, target, nil)
		return endpointKey(r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
	}
	for _, p := range same {
		if key(p[0]) != key(p[1]) {
			t.Errorf("%q and %q: different endpoints; want the same", p[0], p[1])
		}
	}
	for _, p := range differ {
		if key(p[0]) == key(p[1]) {
			t.Errorf("%q and %q: the same endpoint; want different ones", p[0], p[1])
		}
	}
}

// costReq classifies a request of endpoint /report and, if it is to be
// measured, answers it with a report of cpu.
func costReq(tab *costTable, cpu time.Duration) costClass {
	c := tab.classify(httptest.NewRequest("GET", "/report?id=1", nil))
	tab.done(c, cpu, true, true)
	return c
}

// TestCostTableLearns: an endpoint is not light until measured; one sample
// at a time is asked for; it is light while its estimate is at most the
// threshold, stops being light at the first expensive sample, and takes
// several cheap ones to become light again; sampling thins once warm.
func TestCostTableLearns(t *testing.T) {
	tab := newCostTable(5 * time.Millisecond)
	r := httptest.NewRequest("GET", "/report?id=1", nil)
	c := tab.classify(r)
	if !c.light || !c.measure {
		t.Fatalf("unknown endpoint: %+v; want its sample measured, by the light lane", c)
	}
	// Others of it while the first runs: not light, and not measured.
	for range 100 {
		if o := tab.classify(r); o.light || o.measure {
			t.Fatalf("while a sample is outstanding: %+v; want neither", o)
		}
	}
	tab.done(c, time.Millisecond, true, true)
	for range costWarmSamples - 1 {
		if c := costReq(tab, time.Millisecond); !c.light || !c.measure {
			t.Fatalf("warm-up request of an endpoint measured at 1ms: %+v; want light and measured", c)
		}
	}
	measured := 0
	for range 100 * costSampleEvery {
		c := costReq(tab, time.Millisecond)
		if !c.light {
			t.Fatalf("endpoint at 1ms not light: %+v", c)
		}
		if c.measure {
			measured++
		}
	}
	// About one in costSampleEvery, at random: 100 expected, with a
	// standard deviation under 10.
	if measured < 50 || measured > 150 {
		t.Fatalf("%d of %d warm requests measured; want about 1 in %d", measured, 100*costSampleEvery, costSampleEvery)
	}
	// One expensive sample makes it heavy at once.
	for i := 0; ; i++ {
		c := tab.classify(r)
		tab.done(c, 300*time.Millisecond, true, true)
		if c.measure {
			break
		}
		if i > 100*costSampleEvery {
			t.Fatal("no sample asked for")
		}
	}
	if c := tab.classify(r); c.light {
		t.Fatalf("light right after a sample of 300ms: %+v", c)
	} else {
		tab.done(c, time.Millisecond, true, true)
	}
	if known, light := tab.counts(); known != 1 || light > 1 {
		t.Fatalf("counts %d known, %d light", known, light)
	}
	// Cheap samples halve the estimate each: 300ms takes six to reach 5ms.
	cheap := 0
	for i := 0; ; i++ {
		if c := costReq(tab, time.Millisecond); c.measure {
			cheap++
		}
		if _, light := tab.counts(); light == 1 {
			break
		}
		if i > 1000*costSampleEvery {
			t.Fatal("never light again")
		}
	}
	if cheap < 5 || cheap > 7 {
		t.Fatalf("light again after %d cheap samples; want about 6", cheap)
	}
}

// TestCostTableMisses: an endpoint whose measured requests end with no
// report is asked rarely after a few, while requests that never reached a
// worker are no misses.
func TestCostTableMisses(t *testing.T) {
	tab := newCostTable(0)
	r := httptest.NewRequest("GET", "/silent", nil)
	for range 10 {
		c := tab.classify(r)
		if !c.measure {
			t.Fatal("a request refused before a worker counted as a miss")
		}
		tab.done(c, 0, false, false)
	}
	for range costMaxMisses {
		c := tab.classify(r)
		if !c.measure {
			t.Fatal("stopped asking before the misses ran out")
		}
		tab.done(c, 0, false, true)
	}
	asked := 0
	for range 1000 {
		c := tab.classify(r)
		if c.measure {
			asked++
		}
		tab.done(c, 0, false, true)
	}
	// One in costMissEvery: about 4.
	if asked > 15 {
		t.Fatalf("asked %d times in 1000 after the misses; want about 1 in %d", asked, costMissEvery)
	}
	if known, _ := tab.counts(); known != 0 {
		t.Fatalf("%d endpoints measured with no report ever", known)
	}
}

// TestCostTableScanIsNotRemembered: a full table of endpoints in use keeps
// them through a scan of made-up paths, each seen once.
func TestCostTableScanIsNotRemembered(t *testing.T) {
	tab := newCostTable(0)
	hot := func(i int) *http.Request { return httptest.NewRequest("GET", "/api/"+letters(i), nil) }
	keys := map[uint64]bool{}
	for range 6 {
		for i := range maxCostKeys {
			c := tab.classify(hot(i))
			keys[c.key] = true
			tab.done(c, time.Millisecond, true, true)
		}
	}
	if len(keys) != maxCostKeys {
		t.Fatalf("the test's endpoints are %d; want %d distinct", len(keys), maxCostKeys)
	}
	for i := range 5000 {
		c := tab.classify(httptest.NewRequest("GET", "/scan/"+letters(i), nil))
		if c.measure || c.light {
			t.Fatalf("scan request %d: %+v; want unknown and not measured", i, c)
		}
	}
	kept := 0
	tab.mu.Lock()
	for k := range keys {
		if _, ok := tab.byKey[k]; ok {
			kept++
		}
	}
	tab.mu.Unlock()
	if kept != maxCostKeys {
		t.Fatalf("%d of %d endpoints in use kept through the scan", kept, maxCostKeys)
	}
}

// TestCostTableBounded: the table never holds more than its bound, and
// makes room once what it holds has aged.
func TestCostTableBounded(t *testing.T) {
	tab := newCostTable(0)
	for i := range 3 * costAgeEvery {
		c := tab.classify(httptest.NewRequest("GET", "/k/"+letters(i), nil))
		tab.done(c, time.Millisecond, true, true)
		if n := len(tab.byKey); n > maxCostKeys {
			t.Fatalf("%d entries; the bound is %d", n, maxCostKeys)
		}
	}
	if n := len(tab.byKey); n != maxCostKeys {
		t.Fatalf("%d entries after many distinct endpoints; want the bound, %d", n, maxCostKeys)
	}
}

// TestCostTableOff: a nil table (the light lane off) knows nothing and asks
// for nothing.
func TestCostTableOff(t *testing.T) {
	var tab *costTable = newCostTable(-1)
	if tab != nil {
		t.Fatal("a negative threshold made a table")
	}
	if c := tab.classify(httptest.NewRequest("GET", "/", nil)); c.light || c.measure {
		t.Fatalf("off: %+v", c)
	}
	tab.done(costClass{measure: true}, time.Millisecond, true, true)
	if head := appendHints(nil, costClass{}, false); len(head) != 0 {
		t.Fatalf("hints of nothing: %v", head)
	}
}

// TestReportedCPU reads the worker's report, and refuses what is not one.
func TestReportedCPU(t *testing.T) {
	for _, c := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"143", 143 * time.Microsecond, true},
		{"0", 0, true},
		{"5000000000", 0, false}, // over an hour
		{"-1", 0, false},
		{"lots", 0, false},
	} {
		got, ok := reportedCPU(ipc.Fields{{Name: "Content-Digest", Value: "x"}, {Name: fieldCPUUsed, Value: c.v}})
		if got != c.want || ok != c.ok {
			t.Errorf("%q: %v %v; want %v %v", c.v, got, ok, c.want, c.ok)
		}
	}
	if _, ok := reportedCPU(ipc.Fields{{Name: ":status", Value: "200"}}); ok {
		t.Error("a report found where there is none")
	}
}

// letters names i with letters only: path segments with digits are folded.
func letters(i int) string {
	b := []byte{'a' + byte(i%26)}
	for i /= 26; i > 0; i /= 26 {
		b = append(b, 'a'+byte(i%26))
	}
	return string(b)
}
