package parent

import "testing"

// TestBodyLeft: what an attempt's end makes of its body, for every state
// its sender can be in; a sender that gave up mid-body (its write failed on
// the stream the worker answered) leaves it cut, as one still reading does,
// so that net/http does not read on into the rest after the response.
func TestBodyLeft(t *testing.T) {
	tests := []struct {
		name             string
		held, senderDone bool
		state            int32
		cut, abandoned   bool
		stateAfter       int32
	}{
		{"held in memory", true, false, bodyReading, false, false, bodyReading},
		{"never begun", false, false, bodyUntouched, false, true, bodyAbandoned},
		{"being read", false, false, bodyReading, true, false, bodyReading},
		{"read to its end, sender returning", false, false, bodyReadAll, false, false, bodyReadAll},
		{"sender gave up mid-body", false, true, bodyReading, true, false, bodyReading},
		{"sender done, read to its end", false, true, bodyReadAll, false, false, bodyReadAll},
		{"sender done, never read it (100-continue not asked)", false, true, bodyUntouched, false, false, bodyUntouched},
	}
	for _, tt := range tests {
		x := new(exchange)
		x.bodyState.Store(tt.state)
		cut, abandoned := x.bodyLeft(tt.held, tt.senderDone)
		if cut != tt.cut || abandoned != tt.abandoned || x.bodyState.Load() != tt.stateAfter {
			t.Errorf("%s: cut %v, abandoned %v, state %d; want %v, %v, %d", tt.name, cut, abandoned, x.bodyState.Load(), tt.cut, tt.abandoned, tt.stateAfter)
		}
	}
}
