package parent

import (
	"cmp"
	"hash/maphash"
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
// CPU time its handlers use until their response head: a sample of the
// requests asks the worker to measure it (hints, docs/PROTOCOL.md "Cost
// hints"), and the worker reports it in the response head. A request of an
// endpoint whose average is at most the light threshold is light: it goes
// to a worker at once, past the queue and the CPU limits, and the worker
// starts it beside the handlers that compute. An endpoint not yet measured
// is treated as it was before the table existed: it waits its turn.
//
// An endpoint is named by what usually decides the cost: the method, the
// path with every segment that holds a digit folded into one (ids), and the
// names of the query's parameters, in any order, without their values.

// Cost table constants.
const (
	// DefaultLightCPU is the CPU time before the head, on an endpoint's
	// average, at or under which its requests are light: a fraction of
	// the Go scheduler's 10 ms time slice, so that a light handler that
	// runs beside computing ones holds a CPU no longer than they would
	// make it wait.
	DefaultLightCPU = 5 * time.Millisecond
	// maxCostKeys bounds the endpoints remembered: paths come from
	// clients, and one beyond it replaces an arbitrary one.
	maxCostKeys = 4096
	// costWarmSamples is how many samples an endpoint gets in a row
	// before sampling thins to one request in costSampleEvery.
	costWarmSamples = 4
	costSampleEvery = 16
	// costWeight is the weight of a new sample in an endpoint's average:
	// a handful of samples that disagree move it.
	costWeight = 0.25
)

// costSeed makes endpoint hashes of one process agree; they never leave it.
var costSeed = maphash.MakeSeed()

// costEntry is what the table knows of one endpoint.
type costEntry struct {
	cpu     time.Duration // average CPU before the head
	samples uint32        // measured so far
	seen    uint32        // requests since the last one measured
}

// costTable is the gateway's cost table; its methods are safe for
// concurrent use. A nil table (the light lane off) knows nothing.
type costTable struct {
	light time.Duration // the light threshold
	mu    sync.Mutex
	byKey map[uint64]costEntry
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
	measure bool // ask the worker to measure it
}

// classify names r's endpoint and says what is known of it.
func (t *costTable) classify(r *http.Request) costClass {
	if t == nil {
		return costClass{}
	}
	c := costClass{key: endpointKey(r.Method, r.URL.EscapedPath(), r.URL.RawQuery)}
	t.mu.Lock()
	e, ok := t.byKey[c.key]
	switch {
	case !ok:
		c.measure = true
	default:
		c.light = e.samples > 0 && e.cpu <= t.light
		e.seen++
		c.measure = e.samples < costWarmSamples || e.seen >= costSampleEvery
		t.byKey[c.key] = e
	}
	t.mu.Unlock()
	return c
}

// observe takes a response head's report of the CPU its handler used, if
// it has one, into the average of c's endpoint.
func (t *costTable) observe(c costClass, head ipc.Fields) {
	if t == nil || !c.measure {
		return
	}
	used, ok := reportedCPU(head)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, known := t.byKey[c.key]
	if !known && len(t.byKey) >= maxCostKeys {
		for k := range t.byKey {
			delete(t.byKey, k)
			break
		}
	}
	if e.samples == 0 {
		e.cpu = used
	} else {
		e.cpu += time.Duration(costWeight * float64(used-e.cpu))
	}
	e.samples++
	e.seen = 0
	t.byKey[c.key] = e
}

// counts returns how many endpoints are known, and how many of them light.
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

// reportedCPU reads the worker's report of the CPU a handler used before
// its head (the :cpu-us pseudo-field, decimal microseconds).
func reportedCPU(head ipc.Fields) (time.Duration, bool) {
	for _, f := range head {
		if f.Name == fieldCPUUsed {
			us, err := strconv.ParseUint(f.Value, 10, 32)
			if err != nil {
				return 0, false
			}
			return time.Duration(us) * time.Microsecond, true
		}
	}
	return 0, false
}

// The cost hints' pseudo-fields (docs/PROTOCOL.md, "Cost hints").
const (
	fieldCost    = ":cost"
	fieldMeasure = ":measure"
	fieldCPUUsed = ":cpu-us"
)

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
// parameter names are summed, so that their order does not matter.
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
	for param := range strings.SplitSeq(rawQuery, "&") {
		name, _, _ := strings.Cut(param, "=")
		if name != "" {
			key += maphash.String(costSeed, name)
		}
	}
	return key
}
