package child

import (
	"fmt"
	"os"

	"github.com/sluicegw/sluice/ipc/settings"
)

// socketFD is the descriptor named by SLUICE_FD, 3 if it is unset.
func socketFD() (int, error) {
	fd, err := settings.FDFromEnv(os.LookupEnv)
	if err != nil {
		return -1, fmt.Errorf("sluice worker: %w", err)
	}
	return fd, nil
}
