package parent

import (
	"testing"
	"time"
)

// TestWaitBudgetCutsATrickle: a client that moves bytes slower than the
// rate runs its budget out after about timeout/(1-f) of waiting, however
// often it moves a few; one at the rate keeps it full; one that stops runs
// out after the timeout; without a rate every wait gets the whole timeout.
func TestWaitBudgetCutsATrickle(t *testing.T) {
	const timeout = 60 * time.Second
	// 24 bytes every 10 s against 500 B/s: the R-U-Dead-Yet pace.
	b := newWaitBudget(timeout, 500)
	var waited time.Duration
	for b.left > 0 {
		b.spend(10*time.Second, 24)
		waited += 10 * time.Second
		if waited > 10*timeout {
			t.Fatalf("still %v left after %v of a trickle", b.left, waited)
		}
	}
	if f := 24.0 / 10 / 500; waited < timeout || float64(waited) > float64(timeout)/(1-f)+float64(10*time.Second) {
		t.Errorf("the trickle ran out after %v of waiting; want about %v", waited, time.Duration(float64(timeout)/(1-f)))
	}

	// 64 KiB/s in reads of 1448 bytes, for an hour.
	b = newWaitBudget(timeout, 500)
	for range 3600 * 64 << 10 / 1448 {
		if b.spend(time.Second*1448/(64<<10), 1448) != timeout {
			t.Fatalf("a steady 64 KiB/s lost budget: %v left", b.left)
		}
	}
	// After an hour of fast progress, silence is cut after the timeout
	// all the same: the budget never grows past it.
	if left := b.spend(timeout, 0); left > 0 {
		t.Errorf("%v left after a whole timeout of silence; want none", left)
	}

	b = newWaitBudget(timeout, 0)
	for range 1000 {
		if b.spend(timeout-time.Second, 1) != timeout {
			t.Fatalf("without a rate a wait must always get the whole timeout, got %v", b.left)
		}
	}
}

// TestWaitBudgetDeadline: with a full budget the deadline is kept while it
// is within an eighth of the timeout past what the budget allows, and moved
// otherwise; with a budget spent in part it is what the budget allows.
func TestWaitBudgetDeadline(t *testing.T) {
	const timeout = 80 * time.Second
	b := newWaitBudget(timeout, 500)
	t0 := time.Unix(1000, 0)
	d, moved := b.deadline(t0, time.Time{})
	if !moved || !d.Equal(t0.Add(timeout+timeout/8)) {
		t.Fatalf("first deadline %v (moved %v); want %v", d, moved, t0.Add(timeout+timeout/8))
	}
	// A full budget a little later keeps it: no timer update per write.
	if d2, moved := b.deadline(t0.Add(timeout/16), d); moved || !d2.Equal(d) {
		t.Errorf("moved to %v after an eighth's half; want it kept", d2)
	}
	// Aged past an eighth: moved ahead.
	if d2, moved := b.deadline(t0.Add(timeout/4), d); !moved || !d2.Equal(t0.Add(timeout/4+timeout+timeout/8)) {
		t.Errorf("got %v (moved %v) after a quarter; want it moved ahead", d2, moved)
	}
	// A budget that shrank pulls it in, to what it allows and no more: the
	// client cannot keep the old one, nor the slack of a full budget.
	b.spend(timeout/2, 0)
	if d2, moved := b.deadline(t0, d); !moved || !d2.Equal(t0.Add(timeout/2)) {
		t.Errorf("got %v (moved %v) with half the budget left; want %v", d2, moved, t0.Add(timeout/2))
	}
}
