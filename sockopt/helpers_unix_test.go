//go:build unix

package sockopt

import (
	"net"
	"testing"
	"time"
)

// pair returns both ends of a fresh Socketpair as connections, the remote
// one wrapped the way a child would wrap its inherited descriptor.
func pair(t *testing.T) (local *net.UnixConn, remote net.Conn) {
	t.Helper()
	local, rf, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	remote, err = net.FileConn(rf)
	rf.Close()
	if err != nil {
		local.Close()
		t.Fatalf("net.FileConn(remote): %v", err)
	}
	t.Cleanup(func() {
		local.Close()
		remote.Close()
	})
	return local, remote
}

// waitFor polls cond until it holds, failing the test after timeout. The
// kernel gives no notification for the conditions tested here, so polling
// on a deadline is the honest way to wait.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, timeout)
		}
		<-tick.C
	}
}
