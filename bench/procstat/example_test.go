//go:build linux

package procstat_test

import (
	"fmt"
	"os"
	"time"

	"github.com/sluicegw/sluice/bench/procstat"
)

// RSS and PeakRSS read one process; a Sampler polls the summed RSS of a
// whole process tree (the gateway and its workers) and keeps the peak of
// the sum, which per-process peaks cannot give.
func ExampleStartSampler() {
	rss, err := procstat.RSS(os.Getpid())
	if err != nil {
		fmt.Println(err)
		return
	}
	peak, _ := procstat.PeakRSS(os.Getpid())
	fmt.Println("resident:", rss > 0, "peak >= resident:", peak >= rss)

	s := procstat.StartSampler(os.Getpid(), 5*time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	treePeak, err := s.Stop()
	fmt.Println("tree peak:", treePeak > 0, "error:", err)
	// Output:
	// resident: true peak >= resident: true
	// tree peak: true error: <nil>
}
