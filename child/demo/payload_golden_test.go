package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
)

// TestPayloadBytesArePinned: the payload's bytes are part of its contract
// (clients check relayed payloads against Payload), so a change to how they
// are generated must not change them. The digests were taken from the
// generator before it was cached and learned to fill partial blocks.
func TestPayloadBytesArePinned(t *testing.T) {
	for _, tc := range []struct {
		seed uint64
		size int64
		read int // the reads' size
		want string
	}{
		{0, 4096, 1 << 16, "87cbb1d3bd51b756c1b2bb30278483bc0fb0403e4b0d239548bff0a94afe1366"},
		{42, 3*blockSize + 12345, 7777, "9ee42bf967edbe212dd6bc7fb69ed28b0abe8fcff6d7f4c8ff563829b441fd44"},
		{1<<64 - 1, 100, 3, "c748ea77d13bda59b0e56cb97795313ae7089860929aa13f9807cd58bf674549"},
		{7, blockSize + 1, 1 << 16, "9d772bfb2cd2b5dc7d068a72f59735c4b103d9a8624c72c3fc2673a34df80473"},
	} {
		h := sha256.New()
		n, err := io.CopyBuffer(h, onlyReader{Payload(tc.seed, tc.size)}, make([]byte, tc.read))
		if err != nil || n != tc.size {
			t.Fatalf("seed %d: read %d bytes, err %v", tc.seed, n, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != tc.want {
			t.Errorf("seed %d, %d bytes: sha-256 %s, want %s", tc.seed, tc.size, got, tc.want)
		}
	}
}

// onlyReader hides a reader's WriteTo, so that reads have the size asked.
type onlyReader struct{ io.Reader }

// TestGeneratorCache: a cached generator is reused, and seeds that share a
// slot each still get their own bytes.
func TestGeneratorCache(t *testing.T) {
	if first := generatorFor(3); generatorFor(3) != first {
		t.Error("the generator of seed 3 was derived twice in a row")
	}
	a, b := generatorFor(3), generatorFor(3+uint64(len(generators)))
	if a.seed != 3 || b.seed != 3+uint64(len(generators)) || generatorFor(3).base != newGenerator(3).base {
		t.Error("colliding seeds got each other's generator")
	}
}
