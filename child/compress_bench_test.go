package child

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicegw/sluice/child/demo"
	"github.com/sluicegw/sluice/ipc/settings"
)

// BenchmarkCompressSmall compresses JSON bodies of export rows, from a
// fraction of a TCP segment to a few, with each coding and without
// ("identity", the baseline of the same run), and reports the bytes that
// would be sent (wire-B/op) and saved (saved-B/op). It is the measurement
// behind settings.DefaultCompressMinSize: where a body fits one segment
// either way, the saving buys nothing and the time is lost.
func BenchmarkCompressSmall(b *testing.B) {
	var rows bytes.Buffer
	enc := json.NewEncoder(&rows)
	for id := int64(0); rows.Len() < 8<<10; id++ {
		enc.Encode(demo.MakeRecord(id))
	}
	cfg, _ := settings.ParseCompression("zstd,gzip;min=0")
	c, err := newCompressor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{256, 512, 1024, 1448, 4096, 8192} {
		body := rows.Bytes()[:size]
		h := c.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}))
		for _, coding := range []string{"identity", "gzip", "zstd"} {
			b.Run(fmt.Sprintf("%dB/%s", size, coding), func(b *testing.B) {
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("Accept-Encoding", coding)
				var wire int
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					wire = rec.Body.Len()
				}
				b.ReportMetric(float64(wire), "wire-B/op")
				b.ReportMetric(float64(size-wire), "saved-B/op")
			})
		}
	}
}
