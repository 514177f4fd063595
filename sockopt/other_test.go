//go:build !linux

package sockopt

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestNotSupportedElsewhere(t *testing.T) {
	calls := map[string]func() error{
		"SetSendBuffer": func() error { _, err := SetSendBuffer(nil, 1<<20); return err },
		"SetRecvBuffer": func() error { _, err := SetRecvBuffer(nil, 1<<20); return err },
		"SendBuffer":    func() error { _, err := SendBuffer(nil); return err },
		"RecvBuffer":    func() error { _, err := RecvBuffer(nil); return err },
		"Unsent":        func() error { _, err := Unsent(nil); return err },
		"PeerCred":      func() error { _, err := PeerCred(nil); return err },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: got %v, want an error wrapping ErrNotSupported", name, err)
			continue
		}
		if !strings.Contains(err.Error(), runtime.GOOS) {
			t.Errorf("%s: error should name the system: %v", name, err)
		}
	}
}
