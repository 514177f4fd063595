//go:build !race

package parent

const raceEnabled = false
