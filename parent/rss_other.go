//go:build !linux

package parent

import "errors"

// residentBytes is not available here: --worker-max-rss does nothing.
func residentBytes(pid int) (int64, error) {
	return 0, errors.New("parent: reading a worker's resident memory needs Linux /proc")
}
