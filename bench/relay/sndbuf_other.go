//go:build unix && !linux

package relay

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setSndbuf sets SO_SNDBUF; the caller reads back what the kernel kept.
func setSndbuf(fd, n int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n); err != nil {
		return fmt.Errorf("relay: setting SO_SNDBUF to %d: %w", n, err)
	}
	return nil
}
