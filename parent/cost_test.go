package parent

import (
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

// TestCostTableLearns: an endpoint is not light until measured; it is light
// while its average is at most the threshold, and stops being light when
// its requests get expensive; sampling thins once warm.
func TestCostTableLearns(t *testing.T) {
	tab := newCostTable(5 * time.Millisecond)
	r := httptest.NewRequest("GET", "/report?id=1", nil)
	report := func(d time.Duration) ipc.Fields {
		return ipc.Fields{{Name: ":status", Value: "200"}, {Name: fieldCPUUsed, Value: itoa(int(d.Microseconds()))}}
	}
	c := tab.classify(r)
	if c.light || !c.measure {
		t.Fatalf("unknown endpoint: %+v; want measured, not light", c)
	}
	tab.classify(r) // a second one before the first answered: still unknown
	tab.observe(c, report(time.Millisecond))
	measured := 0
	for range costWarmSamples - 1 {
		c = tab.classify(r)
		if !c.light || !c.measure {
			t.Fatalf("warm-up request of an endpoint measured at 1ms: %+v; want light and measured", c)
		}
		tab.observe(c, report(time.Millisecond))
	}
	for range 4 * costSampleEvery {
		c = tab.classify(r)
		if !c.light {
			t.Fatalf("endpoint at 1ms not light: %+v", c)
		}
		if c.measure {
			measured++
			tab.observe(c, report(time.Millisecond))
		}
	}
	if measured != 4 {
		t.Fatalf("%d of %d warm requests measured; want 1 in %d", measured, 4*costSampleEvery, costSampleEvery)
	}
	// The endpoint turns expensive: a few samples move it over.
	for i := 0; ; i++ {
		c = tab.classify(r)
		if !c.light {
			break
		}
		if i > 10*costSampleEvery {
			t.Fatal("an endpoint measured at 300ms stays light")
		}
		if c.measure {
			tab.observe(c, report(300*time.Millisecond))
		}
	}
	if known, light := tab.counts(); known != 1 || light != 0 {
		t.Fatalf("counts %d known, %d light; want 1, 0", known, light)
	}
	// A report that is not a number, or none, changes nothing.
	tab.observe(costClass{key: 99, measure: true}, ipc.Fields{{Name: fieldCPUUsed, Value: "lots"}})
	tab.observe(costClass{key: 98, measure: true}, ipc.Fields{{Name: ":status", Value: "200"}})
	if known, _ := tab.counts(); known != 1 {
		t.Fatalf("%d endpoints known after reports without a figure; want 1", known)
	}
}

// TestCostTableBounded: endpoints come from clients, so the table forgets
// one for each beyond its bound.
func TestCostTableBounded(t *testing.T) {
	tab := newCostTable(0)
	for i := range maxCostKeys + 100 {
		tab.observe(costClass{key: uint64(i), measure: true}, ipc.Fields{{Name: fieldCPUUsed, Value: "1"}})
	}
	if known, light := tab.counts(); known != maxCostKeys || light != maxCostKeys {
		t.Fatalf("%d known (%d light); want the bound, %d", known, light, maxCostKeys)
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
	tab.observe(costClass{measure: true}, ipc.Fields{{Name: fieldCPUUsed, Value: "1"}})
	if head := appendHints(nil, costClass{}, false); len(head) != 0 {
		t.Fatalf("hints of nothing: %v", head)
	}
}
