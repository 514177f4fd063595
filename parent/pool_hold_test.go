package parent

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// TestForecast: when a slot is expected to free for the request that finds
// ahead waiting, on two workers taking one stream each.
func TestForecast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := overloadPool(t)
		b1, b2 := p.backends[0], p.backends[1]
		now := time.Now()
		if f := p.forecastLocked(now, 0, nil); f.known {
			t.Fatalf("forecast %v with no service time measured; want none", f.in)
		}
		p.control.service = 100 * ms
		b1.open, b1.starts = 1, []time.Time{now.Add(-80 * ms)}
		b2.open, b2.starts = 1, []time.Time{now.Add(-30 * ms)}
		for _, tc := range []struct {
			name    string
			ahead   int
			exclude *backend
			want    time.Duration
			known   bool
		}{
			{"the first slot", 0, nil, 20 * ms, true},
			{"the second", 1, nil, 70 * ms, true},
			{"no third: not coming", 2, nil, time.Duration(1<<63 - 1), true},
			{"the first worker excluded", 0, b1, 70 * ms, true},
			{"beyond what the queue holds", maxForecast, nil, time.Duration(1<<63 - 1), true},
		} {
			f := p.forecastLocked(now, tc.ahead, tc.exclude)
			if f.known != tc.known || f.in != tc.want {
				t.Errorf("%s: forecast %v (known %t); want %v (known %t)", tc.name, f.in, f.known, tc.want, tc.known)
			}
		}

		// A stream that took longer than the service time is due now;
		// one that took more than twice as long is a long one, not
		// expected to end soon.
		b1.starts[0] = now.Add(-150 * ms)
		if f := p.forecastLocked(now, 0, nil); !f.known || f.in != 0 {
			t.Errorf("an overdue stream: forecast %v (known %t); want 0", f.in, f.known)
		}
		b1.starts[0] = now.Add(-250 * ms)
		if f := p.forecastLocked(now, 0, nil); !f.known || f.in != 70*ms {
			t.Errorf("a long stream beside one due in 70ms: forecast %v (known %t); want 70ms", f.in, f.known)
		}
		if f := p.forecastLocked(now, 0, b2); !f.known || f.in != time.Duration(1<<63-1) {
			t.Errorf("only a long stream: forecast %v (known %t); want never", f.in, f.known)
		}
		b1.starts[0] = now.Add(-80 * ms)

		// Three streams open where the allowance is now one: the slot
		// frees once the third to have started ends.
		b1.open, b1.starts = 3, []time.Time{now.Add(-90 * ms), now.Add(-50 * ms), now.Add(-10 * ms)}
		if f := p.forecastLocked(now, 0, b2); !f.known || f.in != 90*ms {
			t.Errorf("over its allowance: forecast %v (known %t); want 90ms", f.in, f.known)
		}
		b1.open, b1.starts, b2.open, b2.starts = 0, nil, 0, nil
	})
}

// TestControlHold: a few arrivals at the rate requests find no room, at
// most half a service time, at least the target.
func TestControlHold(t *testing.T) {
	for _, tc := range []struct {
		name      string
		offerRate float64
		want      time.Duration
	}{
		{"half a service time", 50, 50 * ms},
		{"three arrivals", 200, 15 * ms},
		{"the target", 10000, 5 * ms},
		{"no rate yet", 0, 50 * ms},
		{"a rate decayed to almost nothing", 1e-12, 50 * ms},
	} {
		q := queueControl{target: 5 * ms, interval: 100 * ms, service: 100 * ms, offerRate: tc.offerRate}
		if got := q.hold(); got != tc.want {
			t.Errorf("%s: hold %v; want %v", tc.name, got, tc.want)
		}
	}
}

// TestControlWaitForecast: an overloaded queue holds a request for a slot
// expected within the hold, and refuses it at once otherwise; the
// forecast changes nothing while the queue is not overloaded.
func TestControlWaitForecast(t *testing.T) {
	over := queueControl{target: 5 * ms, interval: 100 * ms, overloaded: true, grantRate: 20, offerRate: 50, service: 100 * ms}
	normal := over
	normal.overloaded = false
	for _, tc := range []struct {
		name     string
		q        queueControl
		position int
		f        slotForecast
		want     time.Duration
	}{
		{"a slot soon", over, 0, slotForecast{in: 20 * ms, known: true}, 30 * time.Second},
		{"a slot due now, behind one held", over, 1, slotForecast{in: 0, known: true}, 30 * time.Second},
		{"no slot soon, first in line", over, 0, slotForecast{in: 80 * ms, known: true}, 0},
		{"no forecast: the reserve", over, 0, slotForecast{}, 30 * time.Second},
		{"no forecast: past the reserve", over, 1, slotForecast{}, 0},
		{"not overloaded", normal, 3, slotForecast{in: 80 * ms, known: true}, 30 * time.Second},
	} {
		if got := tc.q.wait(tc.position, 1, 30*time.Second, tc.f); got != tc.want {
			t.Errorf("%s: wait %v; want %v", tc.name, got, tc.want)
		}
	}
}

// TestStartsFollowStreams: a backend's starts are those of its streams
// that count against its allowance, whichever ends first: through grants,
// light streams, a release of the newer stream before the older, and a
// grant whose client left.
func TestStartsFollowStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pool{maxQueue: DefaultMaxQueue, control: queueControl{target: DefaultQueueTarget, interval: DefaultQueueInterval}}
		b := pipeBackend(t, 1)
		b.reported.Store(2)
		p.add(b)
		check := func(what string, want ...time.Time) {
			t.Helper()
			p.mu.Lock()
			defer p.mu.Unlock()
			if !slices.Equal(b.starts, want) || b.open-b.light != len(want) {
				t.Fatalf("%s: starts %v with %d open, %d light; want %v", what, b.starts, b.open, b.light, want)
			}
		}
		ctx := context.Background()
		_, at1, err := p.acquireAt(ctx, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * ms)
		_, at2, err := p.acquireAt(ctx, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		light := p.acquireLight(nil, true)
		check("two granted, one light", at1, at2)
		p.releaseLight(light)
		check("the light one ended", at1, at2)

		// A third waits; its client leaves as the newer stream ends.
		waitCtx, leave := context.WithCancel(ctx)
		done := make(chan error)
		go func() {
			_, _, err := p.acquireAt(waitCtx, time.Second, nil)
			done <- err
		}()
		synctest.Wait()
		time.Sleep(10 * ms)
		leave()
		p.releaseAt(b, at2, true)
		if err := <-done; err == nil {
			t.Fatal("the waiter whose client left was served")
		}
		check("the newer ended first, the waiter left", at1)
		time.Sleep(100 * ms)
		p.releaseAt(b, at1, true)
		check("all ended")
		// The newer stream held its slot 10 ms: the first sample. The
		// older held it 120 ms, clipped to four times the estimate.
		if got, want := p.control.service, 10*ms+(40*ms-10*ms)/8; got != want {
			t.Errorf("service %v; want %v", got, want)
		}
	})
}
