package demo

import (
	"context"
	"crypto/sha256"
	"time"
)

// MaxCPU bounds the cpu parameter, so that one request cannot occupy a
// worker's core for longer than any sensible replay needs.
const MaxCPU = 10 * time.Minute

// spin hashes a small buffer a few times; it is the unit of burnCPU's work,
// sized so that checking the clock costs little against it (~30 µs).
func spin(buf *[4096]byte) {
	for range 8 {
		sum := sha256.Sum256(buf[:])
		copy(buf[:], sum[:])
	}
}

// burnUntil spends CPU until used() reports at least d, or ctx ends, and
// returns what used() measured. It is the shared loop of the per-OS burnCPU.
func burnUntil(ctx context.Context, d time.Duration, used func() (time.Duration, error)) (time.Duration, error) {
	var buf [4096]byte
	for {
		u, err := used()
		if err != nil || u >= d {
			return u, err
		}
		if ctx.Err() != nil {
			return u, ctx.Err()
		}
		spin(&buf)
	}
}
