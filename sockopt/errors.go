package sockopt

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotSupported is wrapped by every error that reports an operation this
// system cannot do. Test for it with errors.Is.
var ErrNotSupported = errors.New("sockopt: not supported on this system")

// BufferError reports that the kernel granted a smaller socket buffer than
// requested, even after trying the privileged *BUFFORCE option. It comes with
// the effective size: the socket is still usable with Effective.
type BufferError struct {
	// Option is "SO_SNDBUF" or "SO_RCVBUF".
	Option string
	// Requested is the size asked for, in bytes.
	Requested int
	// Effective is what the kernel reads back after the attempt. On Linux
	// that is twice the size it granted (see SetSendBuffer).
	Effective int
	// Sysctl is the limit that capped the request: "net.core.wmem_max" or
	// "net.core.rmem_max".
	Sysctl string
	// Max is the current value of Sysctl if it could be read from
	// /proc/sys, else 0.
	Max int
	// ForceErr is why the privileged attempt (SO_SNDBUFFORCE or
	// SO_RCVBUFFORCE) failed, typically EPERM without CAP_NET_ADMIN. It is
	// what Unwrap returns.
	ForceErr error
}

// Error says what was asked and granted, which sysctl to raise and with
// which command, and that the FORCE option needs CAP_NET_ADMIN.
func (e *BufferError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sockopt: %s: asked for %d bytes, the kernel granted %d (it reads back %d, doubled for its own bookkeeping)",
		e.Option, e.Requested, e.Effective/2, e.Effective)
	if e.Max > 0 {
		fmt.Fprintf(&b, "; %s caps it at %d", e.Sysctl, e.Max)
	} else {
		fmt.Fprintf(&b, "; %s caps it", e.Sysctl)
	}
	fmt.Fprintf(&b, ": raise the cap with \"sysctl -w %s=%d\", or give the process CAP_NET_ADMIN so that %sFORCE may exceed it",
		e.Sysctl, e.Requested, e.Option)
	if e.ForceErr != nil {
		fmt.Fprintf(&b, " (%sFORCE failed: %v)", e.Option, e.ForceErr)
	}
	b.WriteString("; the socket works meanwhile with the smaller buffer")
	return b.String()
}

// Unwrap returns ForceErr, so that errors.Is(err, unix.EPERM) tells a
// missing capability apart from other failures.
func (e *BufferError) Unwrap() error { return e.ForceErr }
