package sockopt

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// bufOpt holds the Linux specifics of one buffer direction.
type bufOpt struct {
	opt, force int    // SO_SNDBUF and SO_SNDBUFFORCE, or the RCV pair
	sysctl     string // the cap the plain option is subject to
}

var bufOpts = [...]bufOpt{
	sendBuf: {unix.SO_SNDBUF, unix.SO_SNDBUFFORCE, "net.core.wmem_max"},
	recvBuf: {unix.SO_RCVBUF, unix.SO_RCVBUFFORCE, "net.core.rmem_max"},
}

// forceBuffer makes the privileged attempt. It is a variable so that tests
// running as root (where it succeeds) can still exercise the short-grant
// path.
var forceBuffer = func(fd, opt, bytes int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, bytes)
}

func setBuffer(c syscall.Conn, k bufKind, bytes int) (int, error) {
	o := bufOpts[k]
	name := k.option()
	var effective int
	var short *BufferError
	err := withFD(c, name, func(fd int) error {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.opt, bytes); err != nil {
			return fmt.Errorf("sockopt: setting %s to %d bytes: %w", name, bytes, os.NewSyscallError("setsockopt", err))
		}
		var err error
		if effective, err = readBuffer(fd, k); err != nil {
			return err
		}
		// Linux reads back twice what it granted; less than twice the
		// request means net.core.[wr]mem_max capped it.
		if effective >= 2*bytes {
			return nil
		}
		ferr := forceBuffer(fd, o.force, bytes)
		if ferr == nil {
			if effective, err = readBuffer(fd, k); err != nil {
				return err
			}
			if effective >= 2*bytes {
				return nil
			}
		} else {
			ferr = os.NewSyscallError("setsockopt", ferr)
		}
		short = &BufferError{
			Option:    name,
			Requested: bytes,
			Effective: effective,
			Sysctl:    o.sysctl,
			Max:       readSysctl(o.sysctl),
			ForceErr:  ferr,
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if short != nil {
		return effective, short
	}
	return effective, nil
}

func getBuffer(c syscall.Conn, k bufKind) (int, error) {
	var n int
	err := withFD(c, k.option(), func(fd int) error {
		var err error
		n, err = readBuffer(fd, k)
		return err
	})
	return n, err
}

func readBuffer(fd int, k bufKind) (int, error) {
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, bufOpts[k].opt)
	if err != nil {
		return 0, fmt.Errorf("sockopt: reading back %s: %w", k.option(), os.NewSyscallError("getsockopt", err))
	}
	return n, nil
}
