package demo

import (
	"encoding/binary"
	"io"
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

// Payload returns a reader of the size bytes that /payload?seed=seed serves.
// Clients use it to check that a relayed payload is byte-for-byte intact.
func Payload(seed uint64, size int64) io.Reader {
	return newPayloadReader(seed, size)
}

// payloadReader reads the payload sequentially. Reads of whole aligned
// blocks are generated straight into the caller's buffer; anything else goes
// through one cached block, so steady-state reading allocates nothing.
type payloadReader struct {
	gen     *generator
	size    int64
	off     int64
	block   []byte
	blockNo int64 // the block held in block, or -1
}

func newPayloadReader(seed uint64, size int64) *payloadReader {
	return &payloadReader{gen: newGenerator(seed), size: max(size, 0), blockNo: -1}
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
		if r.blockNo != k {
			if r.block == nil {
				r.block = make([]byte, blockSize)
			}
			r.gen.fill(r.block, uint64(k))
			r.blockNo = k
		}
		c := copy(p[n:], r.block[in:])
		n += c
		r.off += int64(c)
	}
	return n, nil
}
