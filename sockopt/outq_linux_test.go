package sockopt

import (
	"io"
	"os"
	"testing"
	"time"
)

func TestUnsent(t *testing.T) {
	local, remote := pair(t)
	deadline := time.Now().Add(10 * time.Second)
	local.SetDeadline(deadline)
	remote.SetDeadline(deadline)

	if n, err := Unsent(local); err != nil || n != 0 {
		t.Fatalf("Unsent on a fresh socket = %d, %v; want 0", n, err)
	}
	sndbuf, err := SendBuffer(local)
	if err != nil {
		t.Fatal(err)
	}
	// Well under the buffer, so the write completes with nobody reading.
	const n = 64 << 10
	if _, err := local.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	// The kernel charges the payload plus its per-buffer overhead, in the
	// units the send buffer is limited by.
	q, err := Unsent(local)
	if err != nil {
		t.Fatal(err)
	}
	if q < n || q > sndbuf {
		t.Fatalf("Unsent after writing %d unread bytes = %d; want between %d and the send buffer's %d", n, q, n, sndbuf)
	}

	if _, err := io.ReadFull(remote, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "Unsent dropping to 0 after the peer read everything", func() (bool, error) {
		q, err := Unsent(local)
		return q == 0, err
	})
}

func TestUnsentNotASocket(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if n, err := Unsent(r); err == nil {
		t.Fatalf("Unsent on a pipe = %d, want an error", n)
	}
}
