package sockopt

import (
	"errors"
	"strings"
	"testing"
)

func TestBufferErrorMessage(t *testing.T) {
	denied := errors.New("operation not permitted")
	err := error(&BufferError{
		Option:    "SO_SNDBUF",
		Requested: 8388608,
		Effective: 8388608,
		Sysctl:    "net.core.wmem_max",
		Max:       4194304,
		ForceErr:  denied,
	})
	msg := err.Error()
	for _, want := range []string{
		"SO_SNDBUF",
		"asked for 8388608 bytes",
		"granted 4194304",
		"reads back 8388608",
		"net.core.wmem_max caps it at 4194304",
		`"sysctl -w net.core.wmem_max=8388608"`,
		"CAP_NET_ADMIN",
		"SO_SNDBUFFORCE failed: operation not permitted",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if !errors.Is(err, denied) {
		t.Errorf("errors.Is(err, ForceErr) = false; Unwrap should expose why the FORCE attempt failed")
	}
	var be *BufferError
	if !errors.As(err, &be) || be.Effective != 8388608 {
		t.Errorf("errors.As did not recover the BufferError: %v", be)
	}
}

func TestBufferErrorMessageWithoutMax(t *testing.T) {
	msg := (&BufferError{Option: "SO_RCVBUF", Requested: 1 << 20, Effective: 425984, Sysctl: "net.core.rmem_max"}).Error()
	if strings.Contains(msg, "caps it at 0") {
		t.Errorf("an unreadable sysctl must not be reported as 0:\n%s", msg)
	}
	for _, want := range []string{"SO_RCVBUF", "1048576", "425984", "sysctl -w net.core.rmem_max=1048576", "SO_RCVBUFFORCE"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}
