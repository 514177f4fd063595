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
