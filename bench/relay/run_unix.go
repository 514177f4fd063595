//go:build unix

package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Run moves size bytes through producer → Unix socket → relay → TCP →
// this process and returns the timing. sndbuf sets SO_SNDBUF on both ends
// of the Unix socket (0 keeps the kernel default). Both helper processes are
// killed and reaped before Run returns, also when ctx ends.
func Run(ctx context.Context, size int64, sndbuf int) (Result, error) {
	res := Result{SndBuf: sndbuf}
	if size < 0 || sndbuf < 0 {
		return res, fmt.Errorf("relay: size %d and sndbuf %d must not be negative", size, sndbuf)
	}
	exe, err := os.Executable()
	if err != nil {
		return res, fmt.Errorf("relay: finding the current binary to re-execute: %w", err)
	}
	prodEnd, relayEnd, kernel, err := unixPair(sndbuf)
	if err != nil {
		return res, err
	}
	res.SndBufKernel = kernel
	defer prodEnd.Close()
	defer relayEnd.Close()
	consumer, relayTCP, err := tcpPair()
	if err != nil {
		return res, err
	}
	defer consumer.Close()
	defer relayTCP.Close()

	// Any failure below kills both helpers, so that none is left blocked
	// on a socket nobody reads.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	relay := helper(ctx, exe, "relay", nil, relayEnd, relayTCP)
	producer := helper(ctx, exe, "producer", []string{sizeEnv + "=" + strconv.FormatInt(size, 10)}, prodEnd)
	if err := relay.Start(); err != nil {
		return res, fmt.Errorf("relay: starting the relay process %s: %w", exe, err)
	}
	if err := producer.Start(); err != nil {
		cancel()
		relay.Wait()
		return res, fmt.Errorf("relay: starting the producer process %s: %w", exe, err)
	}
	// Only the helpers may hold these now, or the stream never ends.
	prodEnd.Close()
	relayEnd.Close()
	relayTCP.Close()

	stop := context.AfterFunc(ctx, func() { consumer.Close() })
	res.Bytes, res.Elapsed, err = consume(consumer)
	stop()
	if err != nil || res.Bytes != size {
		cancel()
	}
	perr, rerr := producer.Wait(), relay.Wait()
	switch {
	case ctx.Err() != nil && res.Bytes != size:
		return res, fmt.Errorf("relay: interrupted after %d of %d bytes: %w", res.Bytes, size, context.Cause(ctx))
	case err != nil:
		return res, fmt.Errorf("relay: reading the TCP side after %d of %d bytes: %w", res.Bytes, size, err)
	case perr != nil || rerr != nil:
		return res, fmt.Errorf("relay: helper failed (producer: %v; relay: %v); stderr: %s%s", perr, rerr, producer.Stderr, relay.Stderr)
	case res.Bytes != size:
		return res, fmt.Errorf("relay: received %d bytes, want %d; does %s call relay.Dispatch() first thing in main (or TestMain)?", res.Bytes, size, exe)
	}
	return res, nil
}

// helper prepares the re-execution of exe in a role, with files as fd 3,
// 4, ... The "-test.run=^$" argument is a guard: a test binary that forgot
// to call Dispatch then runs no tests (instead of recursively running Run),
// and the missing bytes are reported.
func helper(ctx context.Context, exe, role string, env []string, files ...*os.File) *exec.Cmd {
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	cmd.ExtraFiles = files
	cmd.Stderr = &limitedBuffer{max: 4096}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// consume reads conn to the end with a 1 MiB loop, timing from the first
// byte.
func consume(conn net.Conn) (int64, time.Duration, error) {
	buf := make([]byte, chunk)
	var n int64
	var first time.Time
	for {
		m, err := conn.Read(buf)
		if m > 0 && first.IsZero() {
			first = time.Now()
		}
		n += int64(m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, 0, err
		}
	}
	if first.IsZero() {
		return 0, 0, nil
	}
	return n, time.Since(first), nil
}

// unixPair makes the Unix socketpair with SO_SNDBUF set on both ends and
// returns the value read back.
func unixPair(sndbuf int) (a, b *os.File, kernel int, err error) {
	// Under ForkLock and close-on-exec, so that no other exec of this
	// process inherits the pair (SOCK_CLOEXEC is not portable).
	syscall.ForkLock.RLock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("relay: socketpair: %w", err)
	}
	a, b = os.NewFile(uintptr(fds[0]), "producer-unix"), os.NewFile(uintptr(fds[1]), "relay-unix")
	for _, fd := range fds {
		if sndbuf > 0 {
			if err = setSndbuf(fd, sndbuf); err != nil {
				break
			}
		}
		if kernel, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil {
			err = fmt.Errorf("relay: reading SO_SNDBUF back: %w", err)
			break
		}
	}
	if err != nil {
		a.Close()
		b.Close()
		return nil, nil, 0, err
	}
	return a, b, kernel, nil
}

// tcpPair connects two loopback TCP sockets in this process: the consumer
// end and, as a file to hand over, the relay's end. Doing it here rather
// than in the relay means nothing waits on an Accept that could hang.
func tcpPair() (net.Conn, *os.File, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("relay: listening on loopback TCP: %w", err)
	}
	defer ln.Close()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, fmt.Errorf("relay: dialing %s: %w", ln.Addr(), err)
	}
	defer dialed.Close() // the relay gets a duplicate
	accepted, err := ln.Accept()
	if err != nil {
		return nil, nil, fmt.Errorf("relay: accepting on %s: %w", ln.Addr(), err)
	}
	f, err := dialed.(*net.TCPConn).File()
	if err != nil {
		accepted.Close()
		return nil, nil, fmt.Errorf("relay: duplicating the TCP socket for the relay: %w", err)
	}
	return accepted, f, nil
}

// limitedBuffer keeps the first max bytes of a helper's stderr: enough for
// an error message, bounded whatever the helper prints.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
