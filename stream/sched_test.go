package stream

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// fakeSource is a Source whose sendable bytes the test sets directly.
type fakeSource struct{ n int }

func (f *fakeSource) Sendable() int { return f.n }

// step is one action of a scheduling script: open, close or set a stream,
// push a control frame, or pop and compare what comes out.
type step struct {
	do   string // "open", "close", "set", "ctrl", "pop", "drain"
	id   uint32
	n    int    // open/set: sendable bytes; pop/drain: max
	want string // ctrl: the frame; pop/drain: the expected pops, space-separated
}

func open(id uint32, n int) step { return step{do: "open", id: id, n: n} }
func closeS(id uint32) step      { return step{do: "close", id: id} }
func set(id uint32, n int) step  { return step{do: "set", id: id, n: n} }
func ctrl(frame string) step     { return step{do: "ctrl", want: frame} }

// pop pops once with max and expects want: "id:n", "ctrl:frame" or "none".
func pop(max int, want string) step { return step{do: "pop", n: max, want: want} }

// drain pops with max until nothing is left and expects exactly want, the
// pops in order; a popped stream's sendable bytes drop by what it was given,
// as if the writer had sent them.
func drain(max int, want string) step { return step{do: "drain", n: max, want: want} }

// popOnce pops from s, checks the invariants every pop must keep, charges
// the sent bytes to the source, and describes the pop as "id:n",
// "ctrl:frame" or "none".
func popOnce(t *testing.T, s *Scheduler, srcs map[uint32]*fakeSource, max int) string {
	t.Helper()
	control, id, n, ok := s.Pop(max)
	switch {
	case !ok:
		for sid, src := range srcs {
			if src.n > 0 && max > 0 && s.ControlLen() == 0 {
				t.Fatalf("Pop(%d) = !ok, but stream %d has %d sendable bytes", max, sid, src.n)
			}
		}
		return "none"
	case control != nil:
		return "ctrl:" + string(control)
	}
	src := srcs[id]
	if src == nil {
		t.Fatalf("Pop(%d) chose stream %d, which is not open", max, id)
	}
	if n <= 0 || n > max || n > src.n {
		t.Fatalf("Pop(%d) = stream %d, n=%d; want 0 < n <= min(max=%d, sendable=%d)", max, id, n, max, src.n)
	}
	src.n -= n
	return fmt.Sprintf("%d:%d", id, n)
}

func runScript(t *testing.T, s *Scheduler, script []step) {
	t.Helper()
	srcs := map[uint32]*fakeSource{}
	for i, st := range script {
		switch st.do {
		case "open":
			srcs[st.id] = &fakeSource{n: st.n}
			s.Open(st.id, srcs[st.id])
		case "close":
			delete(srcs, st.id)
			s.Close(st.id)
		case "set":
			srcs[st.id].n = st.n
		case "ctrl":
			s.PushControl([]byte(st.want))
		case "pop":
			if got := popOnce(t, s, srcs, st.n); got != st.want {
				t.Fatalf("step %d: Pop(%d) = %s; want %s", i, st.n, got, st.want)
			}
		case "drain":
			var got []string
			for len(got) < 10000 {
				p := popOnce(t, s, srcs, st.n)
				if p == "none" {
					break
				}
				got = append(got, p)
			}
			if g := strings.Join(got, " "); g != st.want {
				t.Fatalf("step %d: drain(%d) =\n\t%s\nwant\n\t%s", i, st.n, g, st.want)
			}
		default:
			t.Fatalf("step %d: unknown action %q", i, st.do)
		}
	}
}

func TestSequentialOrder(t *testing.T) {
	tests := []struct {
		name      string
		threshold int64
		script    []step
	}{{
		name: "admission order, cut to max",
		script: []step{
			open(1, 100), open(2, 50), open(3, 70),
			drain(40, "1:40 1:40 1:20 2:40 2:10 3:40 3:30"),
		},
	}, {
		name: "cut to sendable (partial frames cut to the credit available)",
		script: []step{
			open(1, 25), open(2, 10),
			pop(1000, "1:25"), pop(1000, "2:10"), pop(1000, "none"),
		},
	}, {
		name: "skip zero sendable",
		script: []step{
			open(1, 0), open(2, 30), open(3, 0), open(4, 10),
			drain(100, "2:30 4:10"),
		},
	}, {
		name: "first completes first: a stalled stream resumes ahead of later ones",
		script: []step{
			open(1, 100), open(2, 100),
			pop(40, "1:40"),
			set(1, 0), // out of credit: the client is slow
			pop(40, "2:40"),
			set(1, 60), // credit granted back
			drain(40, "1:40 1:20 2:40 2:20"),
		},
	}, {
		name:      "threshold: over-threshold streams yield, in admission order",
		threshold: 100,
		script: []step{
			open(1, 300), open(2, 120), open(3, 60),
			drain(50, "1:50 1:50 2:50 2:50 3:50 3:10 1:50 1:50 1:50 1:50 2:20"),
		},
	}, {
		name:      "threshold: a newly admitted stream goes before an over-threshold one",
		threshold: 100,
		script: []step{
			open(1, 1000),
			pop(100, "1:100"),
			pop(100, "1:100"), // alone, so still served
			open(2, 150),
			drain(100, "2:100 1:100 1:100 1:100 1:100 1:100 1:100 1:100 1:100 2:50"),
		},
	}, {
		name:      "threshold: a stream reaching the threshold mid-frame still gets the frame",
		threshold: 100,
		script: []step{
			open(1, 500), open(2, 500),
			pop(60, "1:60"), pop(60, "1:60"), // 120 >= 100: yields now
			pop(60, "2:60"), pop(60, "2:60"),
			pop(60, "1:60"), pop(60, "1:60"), // both over: admission order again
		},
	}, {
		name: "no threshold: the oldest stream keeps the connection",
		script: []step{
			open(1, 1<<30), open(2, 10),
			pop(1<<20, "1:1048576"), pop(1<<20, "1:1048576"),
			set(1, 0),
			pop(1<<20, "2:10"),
		},
	}, {
		name: "close keeps the order of the others",
		script: []step{
			open(1, 10), open(2, 10), open(3, 10),
			closeS(2), closeS(9), // 9 was never opened
			drain(100, "1:10 3:10"),
		},
	}, {
		name: "reopen is a new admission",
		script: []step{
			open(1, 10), open(2, 10), open(1, 10),
			drain(100, "2:10 1:10"),
		},
	}, {
		name: "max < 1 pops nothing",
		script: []step{
			open(1, 10),
			pop(0, "none"), pop(-1, "none"), pop(10, "1:10"),
		},
	}, {
		name:   "no streams",
		script: []step{pop(100, "none")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runScript(t, NewScheduler(NewSequential(tt.threshold)), tt.script)
		})
	}
}

func TestRoundRobinOrder(t *testing.T) {
	tests := []struct {
		name    string
		quantum int
		script  []step
	}{{
		name:    "fairness: a quantum per stream per turn",
		quantum: 100,
		script: []step{
			open(1, 300), open(2, 300), open(3, 300),
			drain(64, ""+
				"1:64 1:36 2:64 2:36 3:64 3:36 "+
				"1:64 1:36 2:64 2:36 3:64 3:36 "+
				"1:64 1:36 2:64 2:36 3:64 3:36"),
		},
	}, {
		name:    "quantum smaller than max",
		quantum: 10,
		script: []step{
			open(1, 25), open(2, 25),
			drain(1000, "1:10 2:10 1:10 2:10 1:5 2:5"),
		},
	}, {
		name:    "work conserving: skips streams with nothing sendable",
		quantum: 10,
		script: []step{
			open(1, 0), open(2, 20), open(3, 0), open(4, 5),
			drain(100, "2:10 4:5 2:10"),
		},
	}, {
		name:    "an emptied stream loses the rest of its turn",
		quantum: 100,
		script: []step{
			open(1, 30), open(2, 300),
			pop(50, "1:30"), // 1 is empty: the turn passes on
			set(1, 300),
			pop(50, "2:50"), pop(50, "2:50"),
			pop(50, "1:50"),
		},
	}, {
		name:    "closing the current stream passes a whole turn on",
		quantum: 100,
		script: []step{
			open(1, 300), open(2, 300), open(3, 300),
			pop(60, "1:60"),
			closeS(1),
			pop(60, "2:60"), pop(60, "2:40"), pop(60, "3:60"),
		},
	}, {
		name:    "closing an earlier stream keeps the current turn",
		quantum: 100,
		script: []step{
			open(1, 300), open(2, 300), open(3, 300),
			pop(100, "1:100"), pop(60, "2:60"),
			closeS(1),
			pop(60, "2:40"), pop(100, "3:100"), pop(100, "2:100"),
		},
	}, {
		name:    "closing the last stream wraps the turn",
		quantum: 100,
		script: []step{
			open(1, 300), open(2, 300),
			pop(100, "1:100"), pop(60, "2:60"),
			closeS(2),
			pop(100, "1:100"),
		},
	}, {
		name:    "a stream opened later joins the end of the rotation",
		quantum: 10,
		script: []step{
			open(1, 100), open(2, 100),
			pop(100, "1:10"),
			open(3, 100),
			drain(100, strings.Repeat("2:10 3:10 1:10 ", 9)+"2:10 3:10"),
		},
	}, {
		name:    "quantum <= 0 means ChunkSize",
		quantum: 0,
		script: []step{
			open(1, 3*ChunkSize), open(2, 3*ChunkSize),
			pop(1<<20, fmt.Sprintf("1:%d", ChunkSize)),
			pop(1<<20, fmt.Sprintf("2:%d", ChunkSize)),
		},
	}, {
		name:    "max < 1 pops nothing",
		quantum: 10,
		script:  []step{open(1, 10), pop(0, "none"), pop(5, "1:5")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runScript(t, NewScheduler(NewRoundRobin(tt.quantum)), tt.script)
		})
	}
}

func TestSchedulerControlFirst(t *testing.T) {
	for _, policy := range []string{PolicySequential, PolicyRoundRobin} {
		t.Run(policy, func(t *testing.T) {
			p, err := NewPolicy(policy, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			s := NewScheduler(p)
			runScript(t, s, []step{
				open(1, 100),
				ctrl("ping"), ctrl(""), ctrl("credit"),
				pop(1, "ctrl:ping"), // control is whole, whatever max is
				pop(40, "ctrl:credit"),
				pop(40, "1:40"),
				ctrl("reset"),
				pop(40, "ctrl:reset"),
				pop(40, "1:40"),
				set(1, 0),
				ctrl("goaway"),
				pop(40, "ctrl:goaway"),
				pop(40, "none"),
			})
			if n := s.ControlLen(); n != 0 {
				t.Fatalf("ControlLen() = %d after draining; want 0", n)
			}
		})
	}
}

func TestSchedulerControlFIFO(t *testing.T) {
	// Push two frames per pop, so that the FIFO's head moves while it
	// grows and its backing array is compacted along the way; the frames
	// must still come out in push order.
	s := NewScheduler(nil)
	var pushed, popped []string
	popOne := func() {
		c, _, _, ok := s.Pop(1)
		if !ok || len(c) == 0 {
			t.Fatalf("Pop = %q, %v; want a control frame", c, ok)
		}
		popped = append(popped, string(c))
	}
	for i := range 1000 {
		for j := range 2 {
			f := fmt.Sprintf("%d.%d", i, j)
			pushed = append(pushed, f)
			s.PushControl([]byte(f))
		}
		popOne()
		if n := s.ControlLen(); n != i+1 {
			t.Fatalf("ControlLen() = %d; want %d", n, i+1)
		}
	}
	for s.ControlLen() > 0 {
		popOne()
	}
	if _, _, _, ok := s.Pop(1); ok {
		t.Fatal("Pop after draining = ok; want nothing to do")
	}
	if g, w := strings.Join(popped, " "), strings.Join(pushed, " "); g != w {
		t.Fatalf("control frames popped out of push order:\n\t%s\nwant\n\t%s", g, w)
	}
}

// TestPolicyModel runs both policies through random opens, closes and
// sendable changes, checking every Next against the rules: work
// conservation (ok=false only when nothing is sendable), the bounds on n,
// and, for the sequential policy, the exact stream a reference model picks.
func TestPolicyModel(t *testing.T) {
	const threshold = 500
	for _, name := range []string{PolicySequential, PolicyRoundRobin} {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			p, err := NewPolicy(name, threshold, 200)
			if err != nil {
				t.Fatal(err)
			}
			type model struct {
				id   uint32
				src  *fakeSource
				sent int64
			}
			var open []*model // admission order
			nextID := uint32(1)
			for i := range 20000 {
				switch r := rng.IntN(10); {
				case r == 0 && len(open) < 20:
					m := &model{id: nextID, src: &fakeSource{n: rng.IntN(3) * rng.IntN(1000)}}
					nextID++
					open = append(open, m)
					p.Open(m.id, m.src)
				case r == 1 && len(open) > 0:
					k := rng.IntN(len(open))
					p.Close(open[k].id)
					open = append(open[:k], open[k+1:]...)
				case r == 2 && len(open) > 0:
					open[rng.IntN(len(open))].src.n = rng.IntN(3) * rng.IntN(1000)
				}

				max := 1 + rng.IntN(300)
				var want *model
				if name == PolicySequential {
					for _, m := range open {
						if m.src.n > 0 && m.sent < threshold {
							want = m
							break
						}
					}
					for _, m := range open {
						if want == nil && m.src.n > 0 {
							want = m
						}
					}
				}
				anySendable := false
				for _, m := range open {
					anySendable = anySendable || m.src.n > 0
				}

				id, n, ok := p.Next(max)
				if ok != anySendable {
					t.Fatalf("op %d: Next ok=%v; want %v (work conservation)", i, ok, anySendable)
				}
				if !ok {
					continue
				}
				var got *model
				for _, m := range open {
					if m.id == id {
						got = m
					}
				}
				if got == nil {
					t.Fatalf("op %d: Next chose stream %d, which is not open", i, id)
				}
				if n <= 0 || n > max || n > got.src.n {
					t.Fatalf("op %d: Next = stream %d, n=%d; want 0 < n <= min(%d, %d)", i, id, n, max, got.src.n)
				}
				if want != nil && want != got {
					t.Fatalf("op %d: Next chose stream %d; the sequential rule picks %d", i, id, want.id)
				}
				got.src.n -= n
				got.sent += int64(n)
			}
		})
	}
}

func TestNewPolicy(t *testing.T) {
	for _, name := range []string{PolicySequential, PolicyRoundRobin} {
		if p, err := NewPolicy(name, 0, 0); err != nil || p == nil {
			t.Errorf("NewPolicy(%q) = %v, %v; want a policy", name, p, err)
		}
	}
	_, err := NewPolicy("fifo", 0, 0)
	if err == nil {
		t.Fatal(`NewPolicy("fifo") succeeded; want an error`)
	}
	for _, s := range []string{`"fifo"`, `"sequential"`, `"round-robin"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("NewPolicy error %q does not name %s", err, s)
		}
	}
}

// BenchmarkSequentialNext measures one scheduling decision among 256 open
// streams: when the oldest can send (the common case: one Sendable call),
// when only the youngest can (a full scan of Sendable calls), and when every
// stream is over the threshold (a full scan for one under it, then the
// oldest over it).
func BenchmarkSequentialNext(b *testing.B) {
	const streams = 256
	for _, bc := range []struct {
		name      string
		threshold int64
		sendable  func(i int) int
	}{
		{"head-sendable", 0, func(int) int { return 1 << 40 }},
		{"tail-sendable", 0, func(i int) int {
			if i == streams-1 {
				return 1 << 40
			}
			return 0
		}},
		{"all-over-threshold", 1, func(int) int { return 1 << 40 }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := NewSequential(bc.threshold)
			for i := range streams {
				p.Open(uint32(2*i+1), &fakeSource{n: bc.sendable(i)})
			}
			for range streams { // put every stream over a threshold of 1
				p.Next(1)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := p.Next(16 << 10); !ok {
					b.Fatal("Next found nothing to send")
				}
			}
		})
	}
}

func BenchmarkRoundRobinNext(b *testing.B) {
	p := NewRoundRobin(0)
	for i := range 256 {
		p.Open(uint32(2*i+1), &fakeSource{n: 1 << 40})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := p.Next(16 << 10); !ok {
			b.Fatal("Next found nothing to send")
		}
	}
}

// TestRoundRobinFairShare checks that streams that can always send get
// exactly equal bytes per rotation, whatever frame sizes the writer asks for.
func TestRoundRobinFairShare(t *testing.T) {
	const quantum, streams, rotations = 1000, 5, 50
	rng := rand.New(rand.NewPCG(3, 4))
	p := NewRoundRobin(quantum)
	for id := range uint32(streams) {
		p.Open(id, &fakeSource{n: 1 << 40})
	}
	sent := make([]int, streams)
	for r := 1; r <= rotations; r++ {
		for total := 0; total < streams*quantum; {
			id, n, ok := p.Next(1 + rng.IntN(700))
			if !ok {
				t.Fatal("Next found nothing to send")
			}
			sent[id] += n
			total += n
		}
		for id, got := range sent {
			if got != r*quantum {
				t.Fatalf("after %d rotations stream %d sent %d bytes; want %d (all: %v)", r, id, got, r*quantum, sent)
			}
		}
	}
}
