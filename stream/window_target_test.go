package stream

import (
	"sync"
	"testing"
)

// windowStep is one call on a RecvWindow and what must hold after it.
type windowStep struct {
	op                  string // "recv", "consume", "target", "end", "drop"
	n                   int
	grant, size, credit int // after the call; grant only for "consume"
}

func runWindowSteps(t *testing.T, w *RecvWindow, steps []windowStep) {
	t.Helper()
	ended := false
	for i, s := range steps {
		grant := 0
		switch s.op {
		case "recv":
			if err := w.Receive(s.n); err != nil {
				t.Fatalf("step %d: Receive(%d): %v", i, s.n, err)
			}
		case "consume":
			grant = w.Consumed(s.n)
		case "target":
			w.SetTarget(s.n)
		case "end":
			w.End()
			ended = true
		case "drop":
			w.Drop()
			ended = true
		default:
			t.Fatalf("step %d: unknown op %q", i, s.op)
		}
		if grant != s.grant || w.Size() != s.size || w.Credit() != s.credit {
			t.Fatalf("step %d: %s(%d): grant %d, Size() %d, Credit() %d; want %d, %d, %d",
				i, s.op, s.n, grant, w.Size(), w.Credit(), s.grant, s.size, s.credit)
		}
		if got := w.Credit() + w.Buffered(); !ended && got > w.Size() {
			t.Fatalf("step %d: credit + buffered = %d exceeds the size %d", i, got, w.Size())
		}
	}
}

// TestRecvWindowSetTarget grows a window by granting more than was
// consumed, and shrinks it by withholding, at the batched grants only.
func TestRecvWindowSetTarget(t *testing.T) {
	runWindowSteps(t, NewRecvWindow(100), []windowStep{
		{"recv", 100, 0, 100, 0},
		{"consume", 25, 25, 100, 25},  // a plain grant at a quarter
		{"target", 200, 0, 100, 25},   // nothing moves until the next grant
		{"consume", 24, 0, 100, 25},   // below the threshold: no grant, no growth
		{"consume", 1, 125, 200, 150}, // 25 consumed and 100 more
		{"recv", 150, 0, 200, 0},
		{"target", 60, 0, 200, 0},
		{"consume", 49, 0, 200, 0},
		{"consume", 1, 0, 150, 0},      // all 50 withheld on the way to 60
		{"consume", 50, 0, 100, 0},     // threshold 37: all 50 withheld again
		{"consume", 50, 10, 60, 10},    // 40 withheld reach the target, 10 granted
		{"consume", 50, 50, 60, 60},    // at the target: a plain grant
		{"target", 0, 0, 60, 60},       // clamped to 1: shrinks from the next grant
		{"recv", 60, 0, 60, 0},         //
		{"consume", 60, 1, 1, 1},       // 59 withheld, the window never closes
		{"recv", 1, 0, 1, 0},           //
		{"consume", 1, 1, 1, 1},        //
		{"target", MaxWindow, 0, 1, 1}, // growth up to the largest credit a sender accepts
		{"recv", 1, 0, 1, 0},
		{"consume", 1, MaxWindow, MaxWindow, MaxWindow},
	})
}

// TestRecvWindowShared has two windows share a budget: the first grows to
// its ceiling while alone, the second only into the room left, and each
// moves toward half once both are open.
func TestRecvWindowShared(t *testing.T) {
	b := NewRecvBudget(1000)
	var w1, w2 RecvWindow
	w1.InitShared(100, 800, b)
	check := func(step string, granted, buffered int64, windows int) {
		t.Helper()
		if b.Granted() != granted || b.Buffered() != buffered || b.Windows() != windows {
			t.Fatalf("%s: budget granted %d, buffered %d, windows %d; want %d, %d, %d",
				step, b.Granted(), b.Buffered(), b.Windows(), granted, buffered, windows)
		}
	}
	check("w1 open", 100, 0, 1)
	runWindowSteps(t, &w1, []windowStep{
		{"recv", 100, 0, 100, 0},
		{"consume", 24, 0, 100, 0},
		{"consume", 1, 725, 800, 725}, // alone: the target is the ceiling
	})
	check("w1 grown", 800, 75, 1)
	w2.InitShared(100, 800, b)
	check("w2 open", 900, 75, 2)
	if got := w1.Target(); got != 500 {
		t.Fatalf("w1.Target() = %d with two windows; want 500", got)
	}
	runWindowSteps(t, &w2, []windowStep{
		{"recv", 100, 0, 100, 0},
		{"consume", 25, 125, 200, 125}, // wants 400 more, the budget has 100
	})
	check("w2 grown", 1000, 150, 2)
	runWindowSteps(t, &w1, []windowStep{
		{"recv", 725, 0, 800, 0},
		{"consume", 200, 0, 600, 0}, // withheld toward 500
	})
	check("w1 shrunk", 800, 675, 2)
	runWindowSteps(t, &w2, []windowStep{
		{"consume", 50, 250, 400, 375}, // the room w1 gave back
	})
	check("w2 grown again", 1000, 625, 2)
	runWindowSteps(t, &w1, []windowStep{
		{"end", 0, 0, 600, 0}, // all of it buffered: it all stays charged
		{"consume", 100, 0, 500, 0},
	})
	check("w1 ended", 900, 525, 1)
	if got := w2.Target(); got != 800 {
		t.Fatalf("w2.Target() = %d alone again; want its ceiling, 800", got)
	}
	runWindowSteps(t, &w1, []windowStep{{"drop", 0, 0, 0, 0}})
	check("w1 dropped", 400, 25, 1)
	runWindowSteps(t, &w2, []windowStep{
		{"recv", 375, 0, 400, 0},
		{"consume", 100, 500, 800, 500}, // 100 consumed, 400 grown
		{"end", 0, 0, 300, 500},         // 300 still buffered; the credit only checks late data
		{"consume", 500, 0, 0, 500},     // capped at the 300: they go back
		{"recv", 200, 0, 0, 300},        // crossed a reset: checked, not counted
		{"drop", 0, 0, 0, 300},
	})
	check("all gone", 0, 0, 0)
}

// TestRecvBudgetTarget checks the share and its clamps.
func TestRecvBudgetTarget(t *testing.T) {
	b := NewRecvBudget(1 << 20)
	if got := b.Target(64<<10, 4<<20); got != 1<<20 {
		t.Fatalf("Target with no window open = %d; want the whole budget", got)
	}
	var ws [8]RecvWindow
	for i := range ws {
		ws[i].InitShared(64<<10, 4<<20, b)
	}
	for _, tt := range []struct{ floor, ceiling, want int }{
		{1, 4 << 20, 128 << 10},
		{256 << 10, 4 << 20, 256 << 10}, // the floor
		{1, 100 << 10, 100 << 10},       // the ceiling
		{256 << 10, 100 << 10, 256 << 10},
	} {
		if got := b.Target(tt.floor, tt.ceiling); got != tt.want {
			t.Errorf("Target(%d, %d) with 8 windows of 1 MiB = %d; want %d", tt.floor, tt.ceiling, got, tt.want)
		}
	}
	if got := NewRecvBudget(-3).Limit(); got != 1 {
		t.Errorf("NewRecvBudget(-3).Limit() = %d; want 1", got)
	}
}

// TestRecvBudgetConcurrent runs windows that receive and consume at once
// on their own goroutines: the budget's books must balance at the end, and
// the credit granted must never pass the limit plus every initial size.
// Run with -race.
func TestRecvBudgetConcurrent(t *testing.T) {
	const windows, initial, ceiling, limit = 8, 1000, 16000, 20000
	b := NewRecvBudget(limit)
	var wg sync.WaitGroup
	for range windows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w RecvWindow
			w.InitShared(initial, ceiling, b)
			for range 2000 {
				n := w.Credit()
				if err := w.Receive(n); err != nil {
					t.Error(err)
					return
				}
				if g := b.Granted(); g > limit+windows*initial {
					t.Errorf("granted %d exceeds the limit plus every initial size, %d", g, limit+windows*initial)
					return
				}
				w.Consumed(w.Buffered())
			}
			w.Drop()
		}()
	}
	wg.Wait()
	if b.Granted() != 0 || b.Buffered() != 0 || b.Windows() != 0 {
		t.Fatalf("after every window dropped: granted %d, buffered %d, windows %d; want 0", b.Granted(), b.Buffered(), b.Windows())
	}
}
