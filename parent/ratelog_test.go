package parent

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRateLogHoldsBackAndCounts(t *testing.T) {
	var buf bytes.Buffer
	r := newRateLog(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour)
	for i := 0; i < 100; i++ {
		r.warn("queue_full", "request refused with 503")
	}
	r.warn("draining", "request refused with 503")
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines for 100 refusals of one kind and 1 of another; want 2:\n%s", n, buf.String())
	}
	r.keys["queue_full"].last = time.Now().Add(-2 * time.Hour) // the interval has passed
	r.warn("queue_full", "request refused with 503")
	if !strings.Contains(buf.String(), "suppressed_since_last=99") {
		t.Fatalf("the next line does not count the 99 held back:\n%s", buf.String())
	}
}
