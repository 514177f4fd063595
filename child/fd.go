package child

import (
	"fmt"
	"os"
	"strconv"
)

// socketFD is the descriptor named by SLUICE_FD, 3 if it is unset.
func socketFD() (int, error) {
	v := os.Getenv(EnvFD)
	if v == "" {
		return 3, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		return -1, fmt.Errorf("sluice worker: %s=%q is not a file descriptor number; unset it (fd 3) or run me from `sluice serve --worker-cmd`", EnvFD, v)
	}
	return fd, nil
}
