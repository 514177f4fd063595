//go:build race

package parent

// raceEnabled is set in race builds, where sync.Pool drops a share of the
// items put back on purpose, so allocation counts mean nothing.
const raceEnabled = true
