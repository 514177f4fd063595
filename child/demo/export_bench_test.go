package demo

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/valyala/bytebufferpool"
)

// BenchmarkExport streams /export?rows=1000 into a discarding writer: its
// allocations per request are what the row encoding costs.
func BenchmarkExport(b *testing.B) {
	req := httptest.NewRequest("GET", "/export?rows=1000", nil)
	w := discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		writeExport(req, w, 1000)
	}
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}

// BenchmarkChunkPool compares, for /payload's and /upload's buffer of
// blockSize bytes taken per request, the sync.Pool of fixed-size arrays
// (chunks) with a bytebufferpool.ByteBuffer grown to that size: each op
// takes a buffer, fills it once from the payload generator and gives it
// back, as a request does.
func BenchmarkChunkPool(b *testing.B) {
	b.Run("fixed", func(b *testing.B) {
		pr := newPayloadReader(1, MaxSize)
		b.ReportAllocs()
		for b.Loop() {
			buf := chunks.Get().(*[blockSize]byte)
			pr.Read(buf[:])
			chunks.Put(buf)
		}
	})
	b.Run("bytebufferpool", func(b *testing.B) {
		pr := newPayloadReader(1, MaxSize)
		var pool bytebufferpool.Pool
		b.ReportAllocs()
		for b.Loop() {
			bb := pool.Get()
			if cap(bb.B) < blockSize {
				bb.B = make([]byte, blockSize)
			}
			bb.B = bb.B[:blockSize]
			pr.Read(bb.B)
			pool.Put(bb)
		}
	})
}
