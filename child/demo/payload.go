package demo

import (
	"encoding/binary"
	"io"
	"sync/atomic"
)

// blockSize is the unit of payload generation: one base block is derived
// from the seed once, and every later block is that base XORed with a
// per-block key. 64 KiB keeps the base in L2 and makes a block a sensible
// write size, so generation costs a load, an XOR and a store per word.
const blockSize = 64 << 10

const blockWords = blockSize / 8

// splitmix64 is a fast, well-mixed 64-bit generator step (Steele, Lea and
// Flood). It is the only source of "randomness": the bytes must be the same
// on every run, machine and process for a given seed.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// generator produces the blocks of the payload for one seed.
type generator struct {
	seed uint64
	base [blockWords]uint64
}

// generators caches the generators of recent seeds, so that a request does
// not derive a 64 KiB base block first: for a small payload that dominated
// the cost of serving it. A generator is read-only once made, so requests
// share it. The cache is direct-mapped by seed, which bounds its memory
// whatever seeds clients send; seeds that collide just derive again.
var generators [8]atomic.Pointer[generator]

// generatorFor returns the generator for seed, from the cache if it holds it.
func generatorFor(seed uint64) *generator {
	slot := &generators[seed%uint64(len(generators))]
	if g := slot.Load(); g != nil && g.seed == seed {
		return g
	}
	g := newGenerator(seed)
	slot.Store(g)
	return g
}

func newGenerator(seed uint64) *generator {
	g := &generator{seed: seed}
	x := splitmix64(seed)
	for i := range g.base {
		x = splitmix64(x)
		g.base[i] = x
	}
	return g
}

// fill writes block k into dst[:blockSize]. The words are stored little
// endian explicitly so that the bytes do not depend on the machine.
func (g *generator) fill(dst []byte, k uint64) {
	key := splitmix64(g.seed ^ splitmix64(k))
	dst = dst[:blockSize]
	for i := 0; i < blockWords; i++ {
		binary.LittleEndian.PutUint64(dst[i*8:i*8+8], g.base[i]^key)
	}
}

// fillAt writes into dst the bytes of block k from offset off on, as fill
// would have put them at dst[off:]; off+len(dst) must not pass the block.
// Words are generated independently, so a partial block costs only its own
// words: no block buffer is needed for a read that is not a whole block.
func (g *generator) fillAt(dst []byte, k uint64, off int) {
	key := splitmix64(g.seed ^ splitmix64(k))
	var word [8]byte
	for len(dst) > 0 {
		i, in := off/8, off%8
		if in == 0 && len(dst) >= 8 {
			binary.LittleEndian.PutUint64(dst, g.base[i]^key)
			dst, off = dst[8:], off+8
			continue
		}
		binary.LittleEndian.PutUint64(word[:], g.base[i]^key)
		c := copy(dst, word[in:])
		dst, off = dst[c:], off+c
	}
}

// Payload returns a reader of the size bytes that /payload?seed=seed serves.
// Clients use it to check that a relayed payload is byte-for-byte intact.
func Payload(seed uint64, size int64) io.Reader {
	return newPayloadReader(seed, size)
}

// payloadReader reads the payload sequentially, generating straight into
// the caller's buffer, so reading allocates nothing.
type payloadReader struct {
	gen  *generator
	size int64
	off  int64
}

func newPayloadReader(seed uint64, size int64) *payloadReader {
	return &payloadReader{gen: generatorFor(seed), size: max(size, 0)}
}

// Read implements io.Reader.
func (r *payloadReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if rem := r.size - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	for n < len(p) {
		k, in := r.off/blockSize, int(r.off%blockSize)
		if in == 0 && len(p)-n >= blockSize {
			r.gen.fill(p[n:], uint64(k))
			n += blockSize
			r.off += blockSize
			continue
		}
		c := min(len(p)-n, blockSize-in)
		r.gen.fillAt(p[n:n+c], uint64(k), in)
		n += c
		r.off += int64(c)
	}
	return n, nil
}
