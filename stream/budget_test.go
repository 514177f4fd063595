package stream

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// waitHook makes b report on the returned channel each time a goroutine is
// about to block in Acquire or WaitLow.
func waitHook(b *Budget) <-chan struct{} {
	ch := make(chan struct{}, 16)
	b.onWait = func() { ch <- struct{}{} }
	return ch
}

func TestBudgetCap(t *testing.T) {
	ctx := context.Background()
	b := NewBudget(100, 0, 0)
	waiting := waitHook(b)
	steps := []struct {
		op   string // "try" or "release"
		n    int64
		ok   bool
		used int64
	}{
		{"try", 60, true, 60},
		{"try", 40, true, 100},
		{"try", 1, false, 100},
		{"release", 100, true, 0},
		{"try", 250, true, 250}, // larger than the cap, but nothing is in use
		{"try", 1, false, 250},
		{"release", 250, true, 0},
		{"try", 0, true, 0},
		{"try", -1, true, 0},
	}
	for i, st := range steps {
		ok := true
		if st.op == "try" {
			ok = b.TryAcquire(st.n)
		} else {
			b.Release(st.n)
		}
		if ok != st.ok || b.Used() != st.used {
			t.Fatalf("step %d: %s(%d) = %v with %d used; want %v with %d", i, st.op, st.n, ok, b.Used(), st.ok, st.used)
		}
	}

	if err := b.Acquire(ctx, 80); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Acquire(ctx, 30) }()
	recv(t, waiting, "Acquire to block over the cap")
	b.Release(5) // 75 + 30 > 100: still blocked
	recv(t, waiting, "Acquire to block again")
	b.Release(5) // 70 + 30 = 100: fits
	if err := recv(t, done, "Acquire to return"); err != nil {
		t.Fatal(err)
	}
	if got := b.Used(); got != 100 {
		t.Fatalf("Used() = %d; want 100", got)
	}
}

func TestBudgetAcquireContext(t *testing.T) {
	b := NewBudget(10, 0, 0)
	waiting := waitHook(b)
	if err := b.Acquire(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Acquire(ctx, 1) }()
	recv(t, waiting, "Acquire to block")
	cancel()
	if err := recv(t, done, "Acquire to return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire = %v; want context.Canceled", err)
	}
	if got := b.Used(); got != 10 {
		t.Fatalf("Used() = %d; a cancelled Acquire must take nothing", got)
	}
}

func TestBudgetHysteresis(t *testing.T) {
	b := NewBudget(0, 100, 40) // no cap, watermarks only
	steps := []struct {
		delta int64 // added to the backlog
		high  bool
	}{
		{50, false},
		{49, false},  // 99
		{1, true},    // 100 reaches high
		{-30, true},  // 70: between the marks, still high
		{-29, true},  // 41
		{20, true},   // 61
		{-21, false}, // 40 reaches low
		{59, false},  // 99: between the marks, still low
		{10, true},   // 109
		{-109, false},
	}
	for i, st := range steps {
		b.AddBacklog(st.delta)
		if got := b.High(); got != st.high {
			t.Fatalf("step %d: High() = %v with a backlog of %d; want %v", i, got, b.Backlog(), st.high)
		}
	}
}

// TestBudgetHighIgnoresUsed: bytes held but not in the backlog (queued on a
// stream without credit) never make the budget High, however many.
func TestBudgetHighIgnoresUsed(t *testing.T) {
	b := NewBudget(1000, 100, 40)
	if !b.TryAcquire(900) {
		t.Fatal("TryAcquire(900) failed under the cap")
	}
	if b.High() {
		t.Fatalf("High() with %d used and a backlog of %d; want false", b.Used(), b.Backlog())
	}
	b.AddBacklog(100)
	if !b.High() || b.Used() != 900 {
		t.Fatalf("after a backlog of 100: High() = %v, Used() = %d; want true, 900", b.High(), b.Used())
	}
	b.Release(900) // the memory goes; the backlog is the writer's to report
	if !b.High() {
		t.Fatal("High() turned false on Release with the backlog unchanged")
	}
}

func TestBudgetWaitLow(t *testing.T) {
	b := NewBudget(1000, 100, 40)
	waiting := waitHook(b)
	ctx := context.Background()
	if err := b.WaitLow(ctx); err != nil {
		t.Fatalf("WaitLow on a low budget = %v; want nil at once", err)
	}
	b.AddBacklog(100)
	done := make(chan error, 1)
	go func() { done <- b.WaitLow(ctx) }()
	recv(t, waiting, "WaitLow to block")
	b.AddBacklog(-50) // 50: above low, still waiting, and not woken
	b.AddBacklog(-10) // 40: low
	if err := recv(t, done, "WaitLow to return"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waiting:
		t.Fatal("WaitLow blocked a second time: it was woken above the low watermark")
	default:
	}

	b.AddBacklog(60)
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- b.WaitLow(cctx) }()
	recv(t, waiting, "WaitLow to block")
	cancel()
	if err := recv(t, done, "WaitLow to return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitLow = %v; want context.Canceled", err)
	}
}

// TestBudgetSetWatermarksWakes: lowering the bar re-evaluates the backlog
// and lets WaitLow go.
func TestBudgetSetWatermarksWakes(t *testing.T) {
	b := NewBudget(1000, 100, 40)
	waiting := waitHook(b)
	b.AddBacklog(100)
	done := make(chan error, 1)
	go func() { done <- b.WaitLow(context.Background()) }()
	recv(t, waiting, "WaitLow to block")
	if err := b.SetWatermarks(200, 100); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, done, "WaitLow to return"); err != nil {
		t.Fatal(err)
	}
	if b.High() {
		t.Fatal("High() with a backlog of 100 at the new low watermark 100; want false")
	}
}

func TestBudgetBacklogBelowZero(t *testing.T) {
	b := NewBudget(0, 0, 0)
	b.AddBacklog(10)
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "AddBacklog(-11)") || !strings.Contains(msg, "only 10") {
			t.Fatalf("panic %q; want one naming AddBacklog(-11) and the 10 bytes", msg)
		}
	}()
	b.AddBacklog(-11)
}

func TestNewBudgetClamps(t *testing.T) {
	tests := []struct {
		limit, high, low    int64
		wantL, wantH, wantW int64
		valid               bool
	}{
		{1000, 800, 400, 1000, 800, 400, true},
		{0, 0, 0, 0, 0, 0, true},
		{0, 800, 400, 0, 800, 400, true}, // watermarks without a cap
		{1000, 0, 0, 1000, 0, 0, true},
		{1000, 2000, 400, 1000, 1000, 400, false},
		{1000, 800, 900, 1000, 800, 800, false},
		{1000, 0, 400, 1000, 0, 0, false},
		{-1, -2, -3, 0, 0, 0, false},
	}
	for _, tt := range tests {
		l, h, w := NewBudget(tt.limit, tt.high, tt.low).Limits()
		if l != tt.wantL || h != tt.wantH || w != tt.wantW {
			t.Errorf("NewBudget(%d, %d, %d).Limits() = %d, %d, %d; want %d, %d, %d",
				tt.limit, tt.high, tt.low, l, h, w, tt.wantL, tt.wantH, tt.wantW)
		}
		err := ValidateBudget(tt.limit, tt.high, tt.low)
		if (err == nil) != tt.valid {
			t.Errorf("ValidateBudget(%d, %d, %d) = %v; want valid=%v", tt.limit, tt.high, tt.low, err, tt.valid)
		}
	}
	err := ValidateBudget(1000, 2000, 400)
	if err == nil || !strings.Contains(err.Error(), "2000") || !strings.Contains(err.Error(), "1000") {
		t.Errorf("ValidateBudget error %q does not name the values", err)
	}
}

func TestBudgetNil(t *testing.T) {
	var b *Budget
	if err := b.Acquire(context.Background(), 1<<40); err != nil || !b.TryAcquire(1) || b.Used() != 0 || b.High() {
		t.Fatal("a nil Budget must accept everything and count nothing")
	}
	b.Release(5)
	b.AddBacklog(5)
	if b.Backlog() != 0 || b.High() {
		t.Fatal("a nil Budget must keep no backlog")
	}
	if err := b.WaitLow(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestBudgetOverRelease(t *testing.T) {
	b := NewBudget(100, 0, 0)
	b.TryAcquire(10)
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "Release(11)") {
			t.Fatalf("Release beyond what is in use: recovered %v; want a panic naming it", r)
		}
	}()
	b.Release(11)
}
