package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/sockopt"
)

// The reverse relay is bench/relay's minimal relay turned around, for
// uploads: this process sends over loopback TCP to a relay process, which
// copies with a 1 MiB read/write loop into a Unix socket, at whose other end
// a sink process hashes what it reads with SHA-256, as /upload does, and
// answers the sum back the same way. bench/relay moves bytes one way only,
// and a sink that answers needs the return path, hence its own processes.
//
// The processes are this binary re-executed with reverseRoleEnv set; init
// below runs their role before main, as relay.Dispatch does for its own.
const reverseRoleEnv = "SLUICE_BENCH_REVERSE_ROLE"

func init() {
	switch os.Getenv(reverseRoleEnv) {
	case "relay":
		os.Exit(reverseRelayRole())
	case "sink":
		os.Exit(reverseSinkRole())
	}
}

// reverseRelay starts a relay and a sink, sends the upload body through
// them and returns the time from the first byte sent to the sum's arrival,
// which must be want.
func reverseRelay(ctx context.Context, want string) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	lnFile, err := ln.(*net.TCPListener).File()
	if err != nil {
		return 0, err
	}
	defer lnFile.Close()
	local, b, err := sockopt.Socketpair()
	if err != nil {
		return 0, err
	}
	defer b.Close()
	a, err := local.File()
	local.Close()
	if err != nil {
		return 0, err
	}
	defer a.Close()
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	start := func(role string, files ...*os.File) (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, self)
		cmd.Env = append(os.Environ(), reverseRoleEnv+"="+role)
		cmd.ExtraFiles = files
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = sysProcAttr()
		return cmd, cmd.Start()
	}
	relayCmd, err := start("relay", lnFile, a)
	if err != nil {
		return 0, fmt.Errorf("starting the reverse relay: %w", err)
	}
	defer relayCmd.Wait()
	sinkCmd, err := start("sink", b)
	if err != nil {
		relayCmd.Process.Kill()
		return 0, fmt.Errorf("starting the sink: %w", err)
	}
	defer sinkCmd.Wait()
	a.Close()
	b.Close()
	lnFile.Close()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	begin := time.Now()
	if _, err := io.CopyBuffer(struct{ io.Writer }{conn}, demo.Payload(uploadSeed, uploadSize), make([]byte, relayReadBuffer)); err != nil {
		return 0, fmt.Errorf("sending to the reverse relay: %w", err)
	}
	conn.(*net.TCPConn).CloseWrite()
	answer, err := io.ReadAll(conn)
	el := time.Since(begin)
	if err != nil {
		return 0, fmt.Errorf("reading the sink's sum: %w", err)
	}
	if got := strings.TrimSpace(string(answer)); got != fmt.Sprintf("%d %s", uploadSize, want) {
		return 0, fmt.Errorf("the sink answered %q; want %d %s", got, uploadSize, want)
	}
	return el, nil
}

// reverseRelayRole accepts one connection on the listener at fd 3 and
// copies it into the Unix socket at fd 4 with a 1 MiB loop, and the answer
// back.
func reverseRelayRole() int {
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return fail("reverse relay", err)
	}
	up, err := net.FileConn(os.NewFile(4, "sink"))
	if err != nil {
		return fail("reverse relay", err)
	}
	sockopt.SetSendBuffer(up.(*net.UnixConn), relaySndBuf)
	c, err := ln.Accept()
	if err != nil {
		return fail("reverse relay", err)
	}
	back := make(chan error, 1)
	go func() { _, err := io.Copy(c, up); back <- err }()
	buf := make([]byte, relayReadBuffer)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := up.Write(buf[:n]); werr != nil {
				return fail("reverse relay", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail("reverse relay", err)
		}
	}
	up.(*net.UnixConn).CloseWrite()
	if err := <-back; err != nil {
		return fail("reverse relay", err)
	}
	c.Close()
	return 0
}

// reverseSinkRole reads the Unix socket at fd 3 to its end with a 1 MiB
// buffer, hashing it, and answers "SIZE SHA256HEX\n" as /upload does.
func reverseSinkRole() int {
	c, err := net.FileConn(os.NewFile(3, "relay"))
	if err != nil {
		return fail("sink", err)
	}
	sum := sha256.New()
	n, err := io.CopyBuffer(sum, struct{ io.Reader }{c}, make([]byte, relayReadBuffer))
	if err != nil {
		return fail("sink", err)
	}
	fmt.Fprintf(c, "%d %s\n", n, hex.EncodeToString(sum.Sum(nil)))
	c.Close()
	return 0
}

func fail(who string, err error) int {
	fmt.Fprintf(os.Stderr, "sluice-bench %s: %v\n", who, err)
	return 1
}
