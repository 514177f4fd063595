package sockopt

import (
	"errors"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// bufCase runs each buffer test for both directions.
type bufCase struct {
	option, sysctl string
	set            func(c *net.UnixConn, n int) (int, error)
	get            func(c *net.UnixConn) (int, error)
}

var bufCases = []bufCase{
	{"SO_SNDBUF", "net.core.wmem_max",
		func(c *net.UnixConn, n int) (int, error) { return SetSendBuffer(c, n) },
		func(c *net.UnixConn) (int, error) { return SendBuffer(c) }},
	{"SO_RCVBUF", "net.core.rmem_max",
		func(c *net.UnixConn, n int) (int, error) { return SetRecvBuffer(c, n) },
		func(c *net.UnixConn) (int, error) { return RecvBuffer(c) }},
}

// beyondCap returns a size just above bc's sysctl, or skips when there is
// none to ask for.
func beyondCap(t *testing.T, bc bufCase) int {
	t.Helper()
	max := readSysctl(bc.sysctl)
	if max == 0 {
		t.Skipf("%s is not readable here", bc.sysctl)
	}
	if max+64<<10 > MaxBuffer {
		t.Skipf("%s is %d: nothing above it can be requested", bc.sysctl, max)
	}
	return max + 64<<10
}

func TestSetBufferGrantsRequest(t *testing.T) {
	for _, bc := range bufCases {
		for _, req := range []int{4 << 20, 8 << 10} {
			local, _ := pair(t)
			eff, err := bc.set(local, req)
			var be *BufferError
			switch {
			case err == nil:
				// Granted in full; Linux reads back the doubled size.
				if eff < 2*req {
					t.Errorf("%s %d: success with effective %d, below the doubled request %d", bc.option, req, eff, 2*req)
				}
			case errors.As(err, &be) && !hasNetAdmin(t) && readSysctl(bc.sysctl) < req:
				// Without CAP_NET_ADMIN a stock cap cannot be exceeded; the
				// error must then describe what happened.
				if be.Effective != eff || eff <= 0 || eff >= 2*req {
					t.Errorf("%s %d: returned %d with %+v", bc.option, req, eff, be)
				}
				t.Logf("%s %d: short grant, as expected without CAP_NET_ADMIN: %v", bc.option, req, err)
			default:
				t.Fatalf("%s %d: %v", bc.option, req, err)
			}
			if got, err := bc.get(local); err != nil || got != eff {
				t.Errorf("%s %d: read back %d, %v; Set returned %d", bc.option, req, got, err, eff)
			}
		}
	}
}

// The seam stands in for a missing CAP_NET_ADMIN, so the short-grant path is
// exercised even where the FORCE option would succeed.
func TestSetBufferForceFails(t *testing.T) {
	saved := forceBuffer
	defer func() { forceBuffer = saved }()
	forceBuffer = func(fd, opt, bytes int) error { return unix.EPERM }

	for _, bc := range bufCases {
		req := beyondCap(t, bc)
		local, _ := pair(t)
		eff, err := bc.set(local, req)
		checkShortGrant(t, bc, req, eff, err)
		if got, err := bc.get(local); err != nil || got != eff {
			t.Errorf("%s: read back %d, %v; Set returned %d", bc.option, got, err, eff)
		}
	}
}

// The same path for real: the kernel refuses the FORCE option to a thread
// without CAP_NET_ADMIN.
func TestSetBufferBeyondCapWithoutNetAdmin(t *testing.T) {
	for _, bc := range bufCases {
		req := beyondCap(t, bc)
		local, _ := pair(t)
		var eff int
		var err error
		withoutNetAdmin(t, func() { eff, err = bc.set(local, req) })
		checkShortGrant(t, bc, req, eff, err)
	}
}

func TestSetBufferBeyondCapWithNetAdmin(t *testing.T) {
	if !hasNetAdmin(t) {
		t.Skip("needs CAP_NET_ADMIN for SO_SNDBUFFORCE and SO_RCVBUFFORCE")
	}
	for _, bc := range bufCases {
		req := beyondCap(t, bc)
		local, _ := pair(t)
		eff, err := bc.set(local, req)
		if err != nil {
			t.Fatalf("%s %d with CAP_NET_ADMIN: %v", bc.option, req, err)
		}
		if eff < 2*req {
			t.Errorf("%s %d: the FORCE option should have exceeded %s, effective is %d", bc.option, req, bc.sysctl, eff)
		}
	}
}

func checkShortGrant(t *testing.T, bc bufCase, req, eff int, err error) {
	t.Helper()
	var be *BufferError
	if !errors.As(err, &be) {
		t.Fatalf("%s %d: got (%d, %v), want a *BufferError", bc.option, req, eff, err)
	}
	max := readSysctl(bc.sysctl)
	want := BufferError{Option: bc.option, Requested: req, Effective: 2 * max, Sysctl: bc.sysctl, Max: max}
	if be.Option != want.Option || be.Requested != want.Requested || be.Effective != want.Effective ||
		be.Sysctl != want.Sysctl || be.Max != want.Max {
		t.Errorf("%s: got %+v, want %+v", bc.option, *be, want)
	}
	if eff != be.Effective {
		t.Errorf("%s: returned %d but the error says %d", bc.option, eff, be.Effective)
	}
	if !errors.Is(err, unix.EPERM) {
		t.Errorf("%s: the error should carry the FORCE option's EPERM: %v", bc.option, err)
	}
}

func TestBufferOnClosedConn(t *testing.T) {
	local, _ := pair(t)
	local.Close()
	if _, err := SetSendBuffer(local, 1<<20); err == nil {
		t.Error("SetSendBuffer on a closed connection succeeded")
	}
	if _, err := SendBuffer(local); err == nil {
		t.Error("SendBuffer on a closed connection succeeded")
	}
	if _, err := SendBuffer(nil); err == nil {
		t.Error("SendBuffer(nil) succeeded")
	}
}
