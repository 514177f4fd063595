//go:build linux

package procstat

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startSleep starts a child "sleep" that the test kills and reaps at the end.
func startSleep(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sleep: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

func TestOwnMemory(t *testing.T) {
	me := os.Getpid()
	rss, err := RSS(me)
	if err != nil || rss < 1<<20 {
		t.Fatalf("RSS(self) = %d, %v; want at least 1 MiB", rss, err)
	}
	peak, err := PeakRSS(me)
	if err != nil || peak < rss {
		t.Fatalf("PeakRSS(self) = %d, %v; want at least RSS %d", peak, err, rss)
	}
}

// TestPSSCountsSharedPagesOnce: two processes of one executable share its
// text and their libraries' pages, which PSS divides between them and RSS
// counts in each. Each sleep is read once it sleeps, so that its loader is
// no longer faulting pages in, and its Rss and Pss come from one read of
// smaps_rollup.
func TestPSSCountsSharedPagesOnce(t *testing.T) {
	a, b := startSleep(t), startSleep(t)
	var rss, pss int64
	for _, pid := range []int{a, b} {
		waitAsleep(t, pid)
		r, p := rssAndPSS(t, pid)
		if p <= 0 || p > r {
			t.Fatalf("sleep %d: Pss %d bytes; want more than 0 and at most its Rss %d", pid, p, r)
		}
		rss, pss = rss+r, pss+p
	}
	if pss >= rss {
		t.Fatalf("two sleeps: PSS %d bytes in all, RSS %d; want less PSS, as they share pages", pss, rss)
	}
	if p, err := PSS(a); err != nil || p <= 0 {
		t.Fatalf("PSS(sleep %d) = %d, %v; want more than 0", a, p, err)
	}
	// Other processes starting meanwhile may take shares of the same
	// pages, so the tree is only checked to hold the sleeps: this test
	// process alone holds megabytes more than any such change.
	treeRSS, treePSS, err := TreeMemory(os.Getpid())
	if err != nil || treePSS <= pss || treeRSS <= rss {
		t.Fatalf("TreeMemory(self) = RSS %d, PSS %d, %v; want more than the sleeps' RSS %d and PSS %d", treeRSS, treePSS, err, rss, pss)
	}
}

// waitAsleep waits until pid is in state S (sleeping), for up to 10 s.
func waitAsleep(t *testing.T, pid int) {
	t.Helper()
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The state follows the parenthesised command name.
		if _, after, ok := strings.Cut(string(b), ") "); ok && strings.HasPrefix(after, "S") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d is not asleep after 10 s: %s", pid, b)
		}
		time.Sleep(time.Millisecond)
	}
}

// rssAndPSS reads pid's Rss and Pss, in bytes, from one read of its
// smaps_rollup.
func rssAndPSS(t *testing.T, pid int) (rss, pss int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("smaps_rollup of %d: %q: %v", pid, line, err)
		}
		switch f[0] {
		case "Rss:":
			rss = kb << 10
		case "Pss:":
			pss = kb << 10
		}
	}
	if rss == 0 {
		t.Fatalf("smaps_rollup of %d has no Rss line: %s", pid, b)
	}
	return rss, pss
}

func TestTreeIncludesChild(t *testing.T) {
	me := os.Getpid()
	child := startSleep(t)
	kids, err := Descendants(me)
	if err != nil || !slices.Contains(kids, child) {
		t.Fatalf("Descendants(self) = %v, %v; want it to contain the sleep %d", kids, err, child)
	}
	// Start returns after the exec succeeded, so the sleep already has
	// its own memory to report.
	childPeak, err := PeakRSS(child)
	if err != nil {
		t.Fatalf("PeakRSS(sleep): %v", err)
	}
	own, err := PeakRSS(me)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := TreePeakRSS(me)
	if err != nil || tree < own+childPeak {
		t.Fatalf("TreePeakRSS(self) = %d, %v; want at least self %d + sleep %d", tree, err, own, childPeak)
	}
}

func TestSampler(t *testing.T) {
	me := os.Getpid()
	startSleep(t)
	s := StartSampler(me, time.Millisecond)
	peak, err := s.Stop()
	if err != nil || peak < 1<<20 {
		t.Fatalf("Sampler peak = %d, %v; want at least 1 MiB", peak, err)
	}
	if again, _ := s.Stop(); again != peak {
		t.Fatalf("second Stop = %d; want %d", again, peak)
	}
}

func TestErrorsNameThePID(t *testing.T) {
	const gone = 1 << 30 // above pid_max: no such process
	if _, err := RSS(gone); err == nil {
		t.Fatal("RSS of a missing process succeeded")
	} else if want := "1073741824"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name pid %s", err, want)
	}
	s := StartSampler(gone, time.Millisecond)
	if _, err := s.Stop(); err == nil {
		t.Fatal("sampling a missing process reported no error")
	}
}
