package parent

import (
	"cmp"
	"hash/maphash"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/ipc"
)

// The cost table: what the gateway knows of how much CPU each endpoint's
// handlers use, so that a cheap request does not queue behind expensive
// ones.
//
// A worker's CPU admission limit holds new handlers back while the CPUs are
// taken, which is what keeps a burst of CPU-heavy requests from starving
// the responses under way. But a request's cost is not known before it
// runs, and a cheap one (a health check, a small API call, a handler that
// waits on a database) held back with the others waits as long as they
// compute, for nothing it needs. So the gateway learns, per endpoint, the
// CPU time its handlers use: a sample of the requests asks the worker to
// measure it (hints, docs/PROTOCOL.md "Cost hints"), and the worker reports
// it with the response's END. A request of an endpoint whose estimate is at
// most the light threshold is light: it goes to a worker at once, past the
// queue and the CPU allowance, and the worker starts it beside the handlers
// that compute, in a lane with a CPU bound of its own (child/gate_light.go).
// An endpoint not yet measured is treated as it was before the table
// existed, it waits its turn, but for the one request that measures it.
//
// An endpoint is named by what usually decides the cost: the method, the
// path with every segment that holds a digit folded into one (ids), and the
// names of the first few query parameters, in any order, without their
// values. The estimate is a decayed maximum of the samples, not their mean:
// an endpoint whose cost depends on a value its name leaves out is judged
// by its expensive requests, and one expensive sample makes it heavy at
// once, while it takes several cheap ones to make it light again.

// Cost table constants.
const (
	// DefaultLightCPU is the CPU time per request, on an endpoint's
	// estimate, at or under which its requests are light: half the Go
	// scheduler's 10 ms time slice, so that a light handler that runs
	// beside computing ones holds a CPU no longer than they would make it
	// wait.
	DefaultLightCPU = 5 * time.Millisecond
	// maxCostKeys bounds the endpoints remembered: paths come from
	// clients. A new one, once the table is full, replaces the least used
	// of a few taken at random only if that one is used no more than a
	// newcomer (TinyLFU's admission rule): a scan of made-up paths is not
	// remembered, and does not push out the endpoints in use. Every
	// costAgeEvery requests the uses are halved, so that endpoints no
	// longer used make room in turn.
	maxCostKeys  = 4096
	evictSamples = 8
	costAgeEvery = 10 * maxCostKeys
	// maxKeyParams is how many query parameter names name an endpoint.
	maxKeyParams = 8
	// costWarmSamples is how many samples an endpoint gets before
	// sampling thins to about one request in costSampleEvery, taken at
	// random so that no client can choose which of its requests is
	// measured. One sample at a time is outstanding per endpoint: a
	// measured request pins a thread in the worker.
	costWarmSamples = 4
	costSampleEvery = 16
	// costMaxMisses is how many measured requests in a row may end with
	// no report (a worker that does not measure, a response cut) before
	// the endpoint is asked only once in costMissEvery.
	costMaxMisses = 3
	costMissEvery = 256
)

// costSeed makes endpoint hashes of one process agree; they never leave it.
var costSeed = maphash.MakeSeed()

// costEntry is what the table knows of one endpoint.
type costEntry struct {
	cpu     time.Duration // the estimate: a decayed maximum of the samples
	samples uint32        // measured so far
	uses    uint32        // requests seen, saturating: eviction keeps the used
	pending bool          // a measurement is asked and not yet answered
	misses  uint8         // measured requests in a row that reported nothing
}

// costTable is the gateway's cost table; its methods are safe for
// concurrent use. A nil table (the light lane off) knows nothing.
type costTable struct {
	light time.Duration // the light threshold
	mu    sync.Mutex
	byKey map[uint64]costEntry
	ops   int // requests classified since the uses were last halved
}

// newCostTable returns a table with the light threshold light, or nil if
// light is negative (the light lane off).
func newCostTable(light time.Duration) *costTable {
	if light < 0 {
		return nil
	}
	return &costTable{light: cmp.Or(light, DefaultLightCPU), byKey: map[uint64]costEntry{}}
}

// costClass is what the table says of one request.
type costClass struct {
	key     uint64
	light   bool // its endpoint is known to be cheap
	measure bool // ask the worker to measure it; done must follow
}

// classify names r's endpoint and says what is known of it. A class that
// asks for a measurement must be given back to done once the request ends,
// whatever became of it.
func (t *costTable) classify(r *http.Request) costClass {
	if t == nil {
		return costClass{}
	}
	c := costClass{key: endpointKey(r.Method, r.URL.EscapedPath(), r.URL.RawQuery)}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ops++; t.ops >= costAgeEvery {
		t.ageLocked()
	}
	e, ok := t.byKey[c.key]
	if !ok && len(t.byKey) >= maxCostKeys && !t.evictLocked() {
		return c // not remembered: treated as unknown, and not measured
	}
	e.uses = min(e.uses+1, 1<<31)
	c.light = e.samples > 0 && e.cpu <= t.light
	if !e.pending {
		switch {
		case e.misses >= costMaxMisses:
			c.measure = rand.N(costMissEvery) == 0
		case e.samples < costWarmSamples:
			c.measure = true
		default:
			c.measure = rand.N(costSampleEvery) == 0
		}
	}
	e.pending = e.pending || c.measure
	// The sample of an endpoint never measured goes by the light lane: it
	// is one request, the worker's lane bounds what light handlers
	// compute, and an endpoint that is cheap (the common case) is then
	// known after one of its requests rather than after the wait of one
	// of them behind the expensive ones.
	c.light = c.light || c.measure && e.samples == 0
	t.byKey[c.key] = e
	return c
}

// evictLocked makes room for a newcomer: it forgets the least used of a few
// endpoints taken at random (map iteration starts anywhere) if that one was
// used at most once since the last halving, and reports whether it did.
func (t *costTable) evictLocked() bool {
	var victim uint64
	least, seen := uint32(0), 0
	for k, e := range t.byKey {
		if seen == 0 || e.uses < least {
			victim, least = k, e.uses
		}
		if seen++; seen == evictSamples {
			break
		}
	}
	if least > 1 {
		return false
	}
	delete(t.byKey, victim)
	return true
}

// ageLocked halves every endpoint's uses.
func (t *costTable) ageLocked() {
	for k, e := range t.byKey {
		e.uses /= 2
		t.byKey[k] = e
	}
	t.ops = 0
}

// done ends the measurement c asked for: used is the worker's report, if
// ok; asked says a worker got the request (one refused before that, or
// never sent, is no miss).
func (t *costTable) done(c costClass, used time.Duration, ok, asked bool) {
	if t == nil || !c.measure {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, known := t.byKey[c.key]
	if !known {
		return // forgotten since
	}
	e.pending = false
	switch {
	case !ok && asked:
		e.misses = min(e.misses+1, costMaxMisses)
	case !ok:
	case e.samples == 0:
		e.cpu, e.samples, e.misses = used, 1, 0
	default:
		e.cpu = max(used, e.cpu/2)
		e.samples = min(e.samples+1, 1<<31)
		e.misses = 0
	}
	t.byKey[c.key] = e
}

// counts returns how many endpoints are measured, and how many of them are
// light.
func (t *costTable) counts() (known, light int) {
	if t == nil {
		return 0, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.byKey {
		if e.samples > 0 {
			known++
			if e.cpu <= t.light {
				light++
			}
		}
	}
	return known, light
}

// The cost hints' pseudo-fields (docs/PROTOCOL.md, "Cost hints").
const (
	fieldCost    = ":cost"
	fieldMeasure = ":measure"
	fieldCPUUsed = ":cpu-us"
)

// reportedCPU reads the worker's report of the CPU a handler used from the
// fields of its END (the :cpu-us pseudo-field, decimal microseconds).
func reportedCPU(end ipc.Fields) (time.Duration, bool) {
	for _, f := range end {
		if f.Name == fieldCPUUsed {
			us, err := strconv.ParseInt(f.Value, 10, 64)
			if err != nil || us < 0 || us > int64(time.Hour/time.Microsecond) {
				return 0, false
			}
			return time.Duration(us) * time.Microsecond, true
		}
	}
	return 0, false
}

// appendHints appends c's hints to a request head; light says the request
// took the light lane.
func appendHints(head ipc.Fields, c costClass, light bool) ipc.Fields {
	if light {
		head = append(head, ipc.Field{Name: fieldCost, Value: "light"})
	}
	if c.measure {
		head = append(head, ipc.Field{Name: fieldMeasure, Value: "cpu"})
	}
	return head
}

// endpointKey hashes an endpoint's name (see the top of this file) without
// building it: segments and parameter names are hashed in place, and the
// names are summed, so that their order does not matter.
func endpointKey(method, path, rawQuery string) uint64 {
	var h maphash.Hash
	h.SetSeed(costSeed)
	h.WriteString(method)
	h.WriteByte(' ')
	for seg := range strings.SplitSeq(path, "/") {
		if strings.ContainsAny(seg, "0123456789") {
			seg = "#"
		}
		h.WriteString(seg)
		h.WriteByte('/')
	}
	key := h.Sum64()
	params := 0
	for param := range strings.SplitSeq(rawQuery, "&") {
		name, _, _ := strings.Cut(param, "=")
		if name == "" {
			continue
		}
		if params++; params > maxKeyParams {
			break
		}
		key += maphash.String(costSeed, name)
	}
	return key
}
