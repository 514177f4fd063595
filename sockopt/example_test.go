//go:build linux

package sockopt_test

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/sluicegw/sluice/sockopt"
)

// The parent's side of a worker link: a socketpair whose send buffer is set
// and read back. Linux doubles the size it grants (the limit covers its own
// bookkeeping too), so a full grant reads back as at least the size asked;
// a short one comes with a *BufferError naming the sysctl to raise.
func ExampleSetSendBuffer() {
	local, remote, err := sockopt.Socketpair()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer local.Close()
	defer remote.Close()

	const asked = 32 << 10
	effective, err := sockopt.SetSendBuffer(local, asked)
	var short *sockopt.BufferError
	switch {
	case errors.As(err, &short):
		fmt.Println("short grant; raise", short.Sysctl)
	case err != nil:
		fmt.Println(err)
	}
	fmt.Println("effective >= asked:", effective >= asked)
	// Output: effective >= asked: true
}

// Unsent (SIOCOUTQ) is how much of the send buffer holds data the peer has
// not read yet; it falls to zero once the peer has read everything.
func ExampleUnsent() {
	local, remote, err := sockopt.Socketpair()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer local.Close()
	// The end a child would inherit, turned back into a connection as
	// the child does.
	peer, err := net.FileConn(remote)
	remote.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer peer.Close()

	local.Write([]byte("hello"))
	n, _ := sockopt.Unsent(local)
	fmt.Println("unsent after a write:", n > 0)

	buf := make([]byte, 5)
	io.ReadFull(peer, buf)
	n, _ = sockopt.Unsent(local)
	fmt.Println("unsent after the peer read:", n)
	// Output:
	// unsent after a write: true
	// unsent after the peer read: 0
}
