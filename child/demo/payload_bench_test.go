package demo

import "testing"

// BenchmarkPayload measures the generator alone: it must stay well above the
// 2 GB/s a relay reaches, so that the bench measures sluice and not the demo.
func BenchmarkPayload(b *testing.B) {
	r := newPayloadReader(1, MaxSize)
	buf := make([]byte, blockSize)
	b.SetBytes(blockSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Read(buf); err != nil {
			b.Fatalf("reading the payload: %v", err)
		}
	}
	b.ReportMetric(float64(b.N)*blockSize/b.Elapsed().Seconds()/1e9, "GB/s")
}
