package ipc

import (
	"strings"
	"testing"
	"time"
)

// TestEndNeverOvertakesHead: with a tiny batch, control frames spill over
// several passes; no END may leave before its stream's HEAD.
func TestEndNeverOvertakesHead(t *testing.T) {
	oc, ac := pair(t, &Config{MaxBatch: 1}, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	for i := 0; i < 20; i++ {
		st, err := oc.OpenStream(ctx, Fields{{":path", strings.Repeat("x", 1000)}}, false)
		if err != nil {
			t.Fatal(err)
		}
		st.CloseWrite()
	}
	for i := 0; i < 20; i++ {
		if _, err := ac.AcceptStream(ctx); err != nil {
			t.Fatalf("stream %d: %v (conn: %v)", i, err, ac.Err())
		}
	}
	if ac.Err() != nil || oc.Err() != nil {
		t.Fatalf("connection ended: %v / %v", ac.Err(), oc.Err())
	}
}

// TestYieldPays pins the writer's yield rule: only a streaming producer,
// seen in the last batch or the queues, is worth yielding for; the queues
// are not summed when the answer is known without them.
func TestYieldPays(t *testing.T) {
	for _, tc := range []struct {
		name          string
		pending, last int
		queued        int
		want, summed  bool
	}{
		{"a control frame or whole response pending", 1, 1 << 20, 1 << 20, false, false},
		{"a small response's data", 0, 4096, 4096, false, true},
		{"nothing queued after a small batch", 0, 0, 0, false, true},
		{"after a large batch", 0, yieldData, 0, true, false},
		{"a large queue", 0, 0, yieldData, true, true},
		{"just under a chunk both ways", 0, yieldData - 1, yieldData - 1, false, true},
	} {
		summed := false
		queued := func(atLeast int) int { summed = true; return min(tc.queued, atLeast) }
		if got := yieldPays(tc.pending, tc.last, queued); got != tc.want {
			t.Errorf("%s: yieldPays = %v, want %v", tc.name, got, tc.want)
		}
		if summed != tc.summed {
			t.Errorf("%s: queues summed %v, want %v", tc.name, summed, tc.summed)
		}
	}
}
