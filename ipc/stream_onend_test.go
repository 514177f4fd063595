package ipc

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestOnEndCallsOnceWithTheCause: OnEnd's function runs once when the
// stream's context ends (here the peer's reset), with the context's cause;
// set on a stream that has already ended, it runs at once; the function of
// a second call replaces the first's.
func TestOnEndCallsOnceWithTheCause(t *testing.T) {
	oc, ac := pair(t, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	ost, ast := openAccepted(t, ctx, oc, ac, false)
	causes := make(chan error, 4)
	ast.OnEnd(func(error) { t.Error("the replaced function was called") })
	ast.OnEnd(func(cause error) { causes <- cause })
	select {
	case err := <-causes:
		t.Fatalf("called before the stream ended, with %v", err)
	default:
	}
	ost.Reset(CodeCancel)
	cause := within(t, 10*time.Second, causes, "OnEnd's call after the peer's reset")
	var se *StreamError
	if !errors.As(cause, &se) || se.Code != CodeCancel || !se.Remote {
		t.Fatalf("cause %v; want the peer's CANCEL reset", cause)
	}
	if want := context.Cause(ast.Context()); cause != want {
		t.Fatalf("cause %v; the context's is %v", cause, want)
	}
	waitFor(t, func() bool { return ac.NumStreams() == 0 }, "the acceptor forgets the stream")
	select {
	case err := <-causes:
		t.Fatalf("called a second time, with %v", err)
	default:
	}
	// Already ended: at once, on this goroutine.
	var late error
	ast.OnEnd(func(cause error) { late = cause })
	if late != cause {
		t.Fatalf("OnEnd on an ended stream: %v; want %v at once", late, cause)
	}
}
