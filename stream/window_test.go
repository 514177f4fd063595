package stream

import (
	"strings"
	"sync"
	"testing"
)

func TestSendWindowTake(t *testing.T) {
	w := NewSendWindow(100)
	tests := []struct{ take, want, left int }{
		{0, 0, 100},
		{-3, 0, 100},
		{30, 30, 70},
		{100, 70, 0}, // cut to the credit available
		{10, 0, 0},
	}
	for _, tt := range tests {
		if got := w.Take(tt.take); got != tt.want {
			t.Fatalf("Take(%d) = %d; want %d", tt.take, got, tt.want)
		}
		if got := w.Available(); got != tt.left {
			t.Fatalf("after Take(%d): Available() = %d; want %d", tt.take, got, tt.left)
		}
	}
}

func TestSendWindowRefund(t *testing.T) {
	w := NewSendWindow(100)
	took := w.Take(60)
	w.Refund(took - 45) // 45 spent
	if got := w.Available(); got != 55 {
		t.Fatalf("Available() = %d after refunding 15 of 60; want 55", got)
	}
	w.Refund(0)
	w.Refund(-4)
	if got := w.Available(); got != 55 {
		t.Fatalf("Available() = %d after empty refunds; want 55", got)
	}
	full := NewSendWindow(MaxWindow)
	full.Refund(10)
	if got := full.Available(); got != MaxWindow {
		t.Fatalf("Available() = %d after a refund at the maximum; want %d", got, MaxWindow)
	}
}

func TestNewSendWindowClamps(t *testing.T) {
	for _, tt := range []struct{ initial, want int }{
		{-5, 0}, {0, 0}, {7, 7}, {MaxWindow, MaxWindow}, {MaxWindow + 1, MaxWindow},
	} {
		if got := NewSendWindow(tt.initial).Available(); got != tt.want {
			t.Errorf("NewSendWindow(%d).Available() = %d; want %d", tt.initial, got, tt.want)
		}
	}
}

func TestSendWindowAdd(t *testing.T) {
	tests := []struct {
		name     string
		initial  int
		add      int
		wantErr  []string // substrings the error must contain; nil: no error
		wantLeft int
	}{
		{"grant", 10, 5, nil, 15},
		{"up to the maximum", 10, MaxWindow - 10, nil, MaxWindow},
		{"zero", 10, 0, []string{"0"}, 10},
		{"negative", 10, -4, []string{"-4"}, 10},
		{"overflow", 10, MaxWindow - 9, []string{"2147483638", "10", "2147483647"}, 10},
		{"huge", MaxWindow, 1 << 40, []string{"1099511627776"}, MaxWindow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewSendWindow(tt.initial)
			err := w.Add(tt.add)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Add(%d) = %v; want nil", tt.add, err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("Add(%d) = nil; want an error", tt.add)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Add(%d) error %q does not name %s", tt.add, err, s)
				}
			}
			if got := w.Available(); got != tt.wantLeft {
				t.Fatalf("Available() = %d; want %d", got, tt.wantLeft)
			}
		})
	}
}

// TestSendWindowConcurrent has the reader grant credit while the writer
// takes it; every byte granted must be taken exactly once. Run with -race.
func TestSendWindowConcurrent(t *testing.T) {
	const grants, grant = 10000, 100
	w := NewSendWindow(0)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range grants {
			if err := w.Add(grant); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	taken := 0
	for taken < grants*grant {
		taken += w.Take(37)
	}
	wg.Wait()
	if taken != grants*grant || w.Available() != 0 {
		t.Fatalf("took %d with %d left; want %d with 0 left", taken, w.Available(), grants*grant)
	}
}

func TestRecvWindowReceive(t *testing.T) {
	w := NewRecvWindow(100)
	if err := w.Receive(60); err != nil {
		t.Fatal(err)
	}
	if err := w.Receive(40); err != nil {
		t.Fatal(err)
	}
	err := w.Receive(1)
	if err == nil {
		t.Fatal("Receive beyond the credit succeeded; want a protocol error")
	}
	for _, s := range []string{"sent 1 bytes", "only 0 bytes of credit"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if err := w.Receive(-1); err == nil {
		t.Fatal("Receive(-1) succeeded; want an error")
	}
	if got := w.Credit(); got != 0 {
		t.Fatalf("Credit() = %d after failed Receives; want 0, unchanged", got)
	}
}

func TestRecvWindowConsumedBatching(t *testing.T) {
	w := NewRecvWindow(100) // threshold: 25
	if err := w.Receive(100); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ consumed, grant, credit int }{
		{10, 0, 0},
		{10, 0, 0},
		{4, 0, 0},
		{1, 25, 25}, // 25 unreported reaches size/4: all of it goes back
		{24, 0, 25},
		{30, 54, 79}, // everything unreported, not just the threshold
		{0, 0, 79},
		{-5, 0, 79},
		{100, 0, 79}, // capped at the 21 bytes buffered: no grant yet
		{1, 0, 79},   // nothing left buffered to consume
	}
	for i, tt := range tests {
		if got := w.Consumed(tt.consumed); got != tt.grant {
			t.Fatalf("step %d: Consumed(%d) = %d; want %d", i, tt.consumed, got, tt.grant)
		}
		if got := w.Credit(); got != tt.credit {
			t.Fatalf("step %d: Credit() = %d; want %d", i, got, tt.credit)
		}
	}
	// The batched 21 go back with the next consumption that reaches 25.
	if err := w.Receive(4); err != nil {
		t.Fatal(err)
	}
	if got := w.Consumed(4); got != 25 {
		t.Fatalf("Consumed(4) = %d; want 25", got)
	}
	if got := w.Credit(); got != w.Size() {
		t.Fatalf("Credit() = %d with nothing buffered or unreported; want the size, %d", got, w.Size())
	}
}

func TestNewRecvWindowClamps(t *testing.T) {
	for _, tt := range []struct{ size, want int }{
		{-1, 1}, {0, 1}, {1, 1}, {3, 3}, {MaxWindow + 1, MaxWindow},
	} {
		w := NewRecvWindow(tt.size)
		if w.Size() != tt.want || w.Credit() != tt.want {
			t.Errorf("NewRecvWindow(%d): Size() = %d, Credit() = %d; want %d", tt.size, w.Size(), w.Credit(), tt.want)
		}
	}
	// A tiny window grants back every byte: its threshold is at least 1.
	w := NewRecvWindow(3)
	if err := w.Receive(1); err != nil {
		t.Fatal(err)
	}
	if got := w.Consumed(1); got != 1 {
		t.Fatalf("Consumed(1) on a 3-byte window = %d; want 1", got)
	}
}

// TestRecvWindowConcurrent runs a peer that sends whatever credit it has
// (through the reader's Receive) against an application that consumes what
// arrives and grants credit back: every Receive must stay within the credit,
// and the stream must never stall. Run with -race.
func TestRecvWindowConcurrent(t *testing.T) {
	const total, size = 1 << 20, 4096
	w := NewRecvWindow(size)
	arrived := make(chan int, size)           // at most size bytes are in flight
	granted := make(chan int, total/(size/4)) // one grant per quarter window at most
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(arrived)
		credit := size
		for sent := 0; sent < total; {
			if credit == 0 {
				credit += <-granted
				continue
			}
			n := min(credit, 1000, total-sent)
			if err := w.Receive(n); err != nil {
				t.Error(err)
				return
			}
			credit -= n
			sent += n
			arrived <- n
		}
	}()
	consumed := 0
	for n := range arrived {
		for n > 0 {
			k := min(n, 777)
			n -= k
			consumed += k
			if g := w.Consumed(k); g > 0 {
				granted <- g
			}
		}
	}
	wg.Wait()
	if consumed != total {
		t.Fatalf("consumed %d bytes; want %d", consumed, total)
	}
}
