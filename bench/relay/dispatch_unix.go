//go:build unix

package relay

import (
	"fmt"
	"io"
	"os"
	"strconv"
)

// Dispatch makes this process the producer or the relay if Run started it
// as one, and exits when that job is done; otherwise it returns at once.
// Call it before anything else in main or TestMain (see the package doc).
func Dispatch() {
	role, ok := os.LookupEnv(roleEnv)
	if !ok {
		return
	}
	var err error
	switch role {
	case "producer":
		err = produce()
	case "relay":
		err = copyLoop()
	default:
		err = fmt.Errorf("unknown %s %q; Run sets producer or relay", roleEnv, role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "relay %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// produce writes the size bytes from one fixed 1 MiB buffer into fd 3:
// the producer is meant to cost nothing, so that the relay is measured.
func produce() error {
	size, err := strconv.ParseInt(os.Getenv(sizeEnv), 10, 64)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", sizeEnv, os.Getenv(sizeEnv), err)
	}
	out := os.NewFile(3, "unix")
	defer out.Close()
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i)
	}
	for size > 0 {
		n := int(min(size, chunk))
		if _, err := out.Write(buf[:n]); err != nil {
			return fmt.Errorf("writing to the Unix socket with %d bytes left: %w", size, err)
		}
		size -= int64(n)
	}
	return nil
}

// copyLoop copies fd 3 (Unix socket) to fd 4 (TCP) with a plain 1 MiB
// read/write loop. io.Copy is avoided on purpose: it would splice, which
// is a different (and here slower) relay than the one being measured.
func copyLoop() error {
	in, out := os.NewFile(3, "unix"), os.NewFile(4, "tcp")
	defer in.Close()
	defer out.Close()
	buf := make([]byte, chunk)
	var total int64
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return fmt.Errorf("writing to TCP after %d bytes: %w", total, werr)
			}
			total += int64(n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the Unix socket after %d bytes: %w", total, err)
		}
	}
}
