package sockopt

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// The range check comes before any system call, so it behaves the same on
// every system and needs no socket.
func TestSetBufferOutOfRange(t *testing.T) {
	for _, n := range []int{0, -1, MaxBuffer + 1} {
		for name, set := range map[string]func(int) (int, error){
			"SO_SNDBUF": func(n int) (int, error) { return SetSendBuffer(nil, n) },
			"SO_RCVBUF": func(n int) (int, error) { return SetRecvBuffer(nil, n) },
		} {
			eff, err := set(n)
			if err == nil || eff != 0 {
				t.Fatalf("%s of %d: got (%d, %v), want an error", name, n, eff, err)
			}
			if errors.Is(err, ErrNotSupported) {
				t.Errorf("%s of %d: a bad size must be reported as such, not as unsupported: %v", name, n, err)
			}
			for _, want := range []string{name, strconv.Itoa(n), strconv.Itoa(MaxBuffer)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s of %d: error lacks %q: %v", name, n, want, err)
				}
			}
		}
	}
}
