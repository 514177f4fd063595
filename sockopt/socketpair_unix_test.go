//go:build unix

package sockopt

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSocketpairRoundTrip(t *testing.T) {
	local, remote := pair(t)
	deadline := time.Now().Add(10 * time.Second)
	local.SetDeadline(deadline)
	remote.SetDeadline(deadline)

	if _, err := local.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(remote, got); err != nil || string(got) != "ping" {
		t.Fatalf("remote read %q, %v; want \"ping\"", got, err)
	}
	if _, err := remote.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(local, got); err != nil || string(got) != "pong" {
		t.Fatalf("local read %q, %v; want \"pong\"", got, err)
	}
}

// More than any buffer holds, so the bytes must really flow while both ends
// are in the poller, and a half-close must reach the other end as EOF.
func TestSocketpairStreamsAndEOF(t *testing.T) {
	local, remote := pair(t)
	deadline := time.Now().Add(10 * time.Second)
	local.SetDeadline(deadline)
	remote.SetDeadline(deadline)

	want := make([]byte, 8<<20)
	rand.Read(want)
	werr := make(chan error, 1)
	go func() {
		_, err := local.Write(want)
		if err == nil {
			err = local.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(remote)
	if err := <-werr; err != nil {
		t.Fatalf("writing to local: %v", err)
	}
	if err != nil {
		t.Fatalf("reading from remote: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("remote read %d bytes that differ from the %d written", len(got), len(want))
	}
}

func TestSocketpairCloseOnExec(t *testing.T) {
	local, rf, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	defer rf.Close()
	for name, c := range map[string]syscall.Conn{"local": local, "remote": rf} {
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var flags int
		var ferr error
		if err := rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFD, 0) }); err != nil {
			t.Fatal(err)
		}
		if ferr != nil {
			t.Fatal(ferr)
		}
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s end is not close-on-exec; an unrelated child could inherit it", name)
		}
	}
	if _, ok := net.Conn(local).(*net.UnixConn); !ok {
		t.Errorf("local is %T", local)
	}
}
