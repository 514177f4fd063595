package child

import "github.com/sluicegw/sluice/ipc"

// The pseudo-fields by which the parent tells the worker what it knows of a
// request's cost (docs/PROTOCOL.md, "Cost hints"). The parent learns, per
// endpoint, how much CPU its handlers use before their response head; this
// worker measures that on the streams the parent asks it to and admits the
// ones the parent found cheap without waiting for the CPU limit.
const (
	// hintCost, with the value hintLight, marks a request of an endpoint
	// whose handlers have used little CPU: it starts at once, beside the
	// handlers that compute, instead of queueing behind them.
	hintCost  = ":cost"
	hintLight = "light"
	// hintMeasure, with the value hintCPU, asks the worker to report in
	// the response head (as hintCPUUsed, decimal microseconds) the CPU
	// time the handler's goroutine used until its head went out.
	hintMeasure = ":measure"
	hintCPU     = "cpu"
	hintCPUUsed = ":cpu-us"
)

// streamHints is what a request head's cost hints ask of the worker.
type streamHints struct {
	light   bool // start without waiting for the CPU limit
	measure bool // report the handler's CPU time until its head
}

// hintsOf reads the cost hints of a request head; a head without them asks
// for nothing (a parent that sends none, or a request it knows nothing of).
func hintsOf(head ipc.Fields) streamHints {
	var h streamHints
	for _, f := range head {
		switch {
		case f.Name == hintCost && f.Value == hintLight:
			h.light = true
		case f.Name == hintMeasure && f.Value == hintCPU:
			h.measure = true
		}
	}
	return h
}
