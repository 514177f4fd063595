package sockopt

import (
	"os"
	"strings"
	"testing"
)

// A socketpair's credentials are its creator's, on both ends.
func TestPeerCred(t *testing.T) {
	local, remote, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	defer remote.Close()
	want := Cred{PID: os.Getpid(), UID: os.Getuid(), GID: os.Getgid()}
	if got, err := PeerCred(local); err != nil || got != want {
		t.Errorf("PeerCred(local) = %+v, %v; want %+v", got, err, want)
	}
	if got, err := PeerCred(remote); err != nil || got != want {
		t.Errorf("PeerCred(remote) = %+v, %v; want %+v", got, err, want)
	}
}

func TestPeerCredNotASocket(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	_, err = PeerCred(r)
	if err == nil || !strings.Contains(err.Error(), "SO_PEERCRED") {
		t.Fatalf("PeerCred on a pipe: %v; want an error naming SO_PEERCRED", err)
	}
}
