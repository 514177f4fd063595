//go:build !unix

package child

import "time"

// processCPU is not measured here: the controller then lowers the limit on
// pressure alone.
func processCPU() (time.Duration, bool) { return 0, false }
