//go:build !unix

package sockopt

import (
	"errors"
	"testing"
)

func TestSocketpairNotSupported(t *testing.T) {
	local, remote, err := Socketpair()
	if !errors.Is(err, ErrNotSupported) || local != nil || remote != nil {
		t.Fatalf("Socketpair() = %v, %v, %v; want nil, nil and ErrNotSupported", local, remote, err)
	}
}
