//go:build !linux

package sockopt

import (
	"fmt"
	"runtime"
)

// notSupported names the operation and the system in the error, because a
// bare ErrNotSupported would not say which call a caller should drop.
func notSupported(what string) error {
	return fmt.Errorf("%w: %s needs Linux and this is %s; run on Linux, or skip this tuning here",
		ErrNotSupported, what, runtime.GOOS)
}
