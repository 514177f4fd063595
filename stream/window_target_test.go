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
		{"consume", 25, 25, 100, 25}, // a plain grant at a quarter
		{"target", 200, 0, 100, 25},  // nothing moves until the next grant
		{"consume", 24, 0, 100, 25},  // below the threshold: no grant, no growth
		{"consume", 1, 75, 150, 100}, // 25 consumed and 50 more: growth is at most twice the bytes consumed
		{"recv", 100, 0, 150, 0},
		{"consume", 37, 87, 200, 87}, // 37 and the 50 left to the target
		{"recv", 87, 0, 200, 0},
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
		{"target", MaxWindow, 0, 1, 1}, // growth toward the largest credit a sender accepts
		{"recv", 1, 0, 1, 0},
		{"consume", 1, 3, 3, 3}, // each window read whole triples it
		{"recv", 3, 0, 3, 0},
		{"consume", 3, 9, 9, 9},
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
		{"consume", 1, 75, 150, 75}, // alone, toward its ceiling: 25 and twice that
		{"recv", 75, 0, 150, 0},
		{"consume", 150, 450, 450, 450}, // a whole window read: 150 and 300 more
		{"recv", 450, 0, 450, 0},
		{"consume", 350, 700, 800, 700}, // 350 and the 350 left to the ceiling
	})
	check("w1 grown", 800, 100, 1)
	w2.InitShared(100, 800, b)
	check("w2 open", 900, 100, 2)
	if got := w1.Target(); got != 500 {
		t.Fatalf("w1.Target() = %d with two windows; want 500", got)
	}
	runWindowSteps(t, &w2, []windowStep{
		{"recv", 100, 0, 100, 0},
		{"consume", 25, 75, 150, 75}, // 50 of the budget's 100 left
	})
	check("w2 grown", 950, 175, 2)
	runWindowSteps(t, &w1, []windowStep{
		{"recv", 700, 0, 800, 0},
		{"consume", 200, 0, 600, 0}, // withheld toward 500
	})
	check("w1 shrunk", 750, 675, 2)
	runWindowSteps(t, &w2, []windowStep{
		{"consume", 50, 150, 250, 225}, // 50 and twice that, from the room w1 gave back
	})
	check("w2 grown again", 850, 625, 2)
	runWindowSteps(t, &w1, []windowStep{
		{"end", 0, 0, 600, 0}, // all of it buffered: it all stays charged
		{"consume", 100, 0, 500, 0},
	})
	check("w1 ended", 750, 525, 1)
	if got := w2.Target(); got != 800 {
		t.Fatalf("w2.Target() = %d alone again; want its ceiling, 800", got)
	}
	runWindowSteps(t, &w1, []windowStep{{"drop", 0, 0, 0, 0}})
	check("w1 dropped", 250, 25, 1)
	runWindowSteps(t, &w2, []windowStep{
		{"recv", 225, 0, 250, 0},
		{"consume", 100, 300, 450, 300}, // 100 consumed, 200 grown
		{"end", 0, 0, 150, 300},         // 150 still buffered; the credit only checks late data
		{"consume", 500, 0, 0, 300},     // capped at the 150: they go back
		{"recv", 200, 0, 0, 100},        // crossed a reset: checked, not counted
		{"drop", 0, 0, 0, 100},
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
