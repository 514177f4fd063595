//go:build linux

package relay

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setSndbuf sets SO_SNDBUF, and if the kernel capped it at
// net.core.wmem_max, tries SO_SNDBUFFORCE (which needs CAP_NET_ADMIN). The
// cap is not an error: the caller reads back and reports what it got.
func setSndbuf(fd, n int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n); err != nil {
		return fmt.Errorf("relay: setting SO_SNDBUF to %d: %w", n, err)
	}
	// Linux doubles the value it stores for its own bookkeeping.
	if got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil && got < 2*n {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n)
	}
	return nil
}
