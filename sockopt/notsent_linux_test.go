package sockopt

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetNotSentLowat: the option reaches the socket, as the kernel reads
// it back, and a socket that is not TCP gets an error naming it.
func TestSetNotSentLowat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	if err := SetNotSentLowat(tc, 128<<10); err != nil {
		t.Fatal(err)
	}
	var got int
	withFD(tc, "read back", func(fd int) error {
		got, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
		return err
	})
	if err != nil || got != 128<<10 {
		t.Errorf("TCP_NOTSENT_LOWAT reads back %d, %v; want %d", got, err, 128<<10)
	}
	a, b, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	if err := SetNotSentLowat(a, 1); err == nil {
		t.Error("a Unix socket took TCP_NOTSENT_LOWAT; want an error")
	}
}
