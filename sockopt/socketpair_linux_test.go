package sockopt

import (
	"os"
	"testing"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// Socketpair opens three descriptors (two sockets and a dup); closing what
// it returns must release all of them.
func TestSocketpairLeavesNoDescriptors(t *testing.T) {
	warm, wf, err := Socketpair() // the first network use opens the poller's own descriptors
	if err != nil {
		t.Fatal(err)
	}
	warm.Close()
	wf.Close()

	before := openFDs(t)
	for range 20 {
		local, remote, err := Socketpair()
		if err != nil {
			t.Fatal(err)
		}
		local.Close()
		remote.Close()
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open before, %d after 20 closed socketpairs", before, after)
	}
}
