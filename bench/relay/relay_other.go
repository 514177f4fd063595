//go:build !unix

package relay

import (
	"context"
	"fmt"
	"runtime"
)

// Run returns an error: the relay needs Unix sockets.
func Run(ctx context.Context, size int64, sndbuf int) (Result, error) {
	return Result{}, fmt.Errorf("relay: needs Unix domain sockets, not available on %s", runtime.GOOS)
}

// Dispatch does nothing where Run cannot run.
func Dispatch() {}
