//go:build !linux

package sockopt

import "syscall"

// Other Unixes expose peer credentials differently (LOCAL_PEERCRED without a
// pid, getpeereid); sluice does not rely on them.
func peerCred(syscall.Conn) (Cred, error) {
	return Cred{}, notSupported("SO_PEERCRED (PeerCred)")
}
