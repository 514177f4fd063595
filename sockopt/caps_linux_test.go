package sockopt

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func hasNetAdmin(t *testing.T) bool {
	t.Helper()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	return data[0].Effective&(1<<unix.CAP_NET_ADMIN) != 0
}

// withoutNetAdmin runs f on an OS thread whose effective capabilities lack
// CAP_NET_ADMIN, so that the real short-grant path can be tested even as
// root. Linux keeps capabilities per thread; the thread stays locked to the
// goroutine, so the runtime ends it with the goroutine instead of reusing it
// elsewhere without the capability. f must not call t.Fatal.
func withoutNetAdmin(t *testing.T, f func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("dropping CAP_NET_ADMIN from a test thread: %v", err)
	}
}
