package settings

import (
	"errors"
	"strings"
	"testing"
)

// lookupIn is os.LookupEnv over env, later entries winning as in exec.Cmd.
func lookupIn(env []string) func(string) (string, bool) {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestWorkerEnvRoundTrip(t *testing.T) {
	for _, w := range []Worker{
		{},
		{FD: 3, ID: "0"},
		{FD: 7, ID: "worker-a", MaxInFlight: 5, HighWatermark: 16 << 20, LowWatermark: 1 << 20, QueueLimit: 64 << 20,
			SendBuffer: 1 << 20, DisableAdmission: true, Sched: PolicyRoundRobin, LogFormat: LogJSON, Root: "/srv/files"},
		{MaxInFlight: MaxInFlightLimit, SendBuffer: -1, Sched: PolicySequential, LogFormat: LogText, Root: " spaced "},
		{HighWatermark: MaxSize, LowWatermark: 1, QueueLimit: MaxSize},
	} {
		env := w.Env()
		got, err := FromEnv(lookupIn(env))
		if err != nil || got != w {
			t.Errorf("FromEnv(%q) = %+v, %v; want %+v", env, got, err, w)
		}
	}
}

func TestWorkerEnvWritesEverySetting(t *testing.T) {
	env := Worker{}.Env()
	for _, name := range []string{EnvMaxInFlight, EnvHighWatermark, EnvLowWatermark, EnvQueueLimit, EnvSendBuffer, EnvAdmission, EnvSched, EnvLogFormat, EnvRoot} {
		if _, ok := lookupIn(env)(name); !ok {
			t.Errorf("Worker{}.Env() = %q lacks %s: an inherited value would win", env, name)
		}
	}
	for _, name := range []string{EnvFD, EnvWorkerID} {
		if _, ok := lookupIn(env)(name); ok {
			t.Errorf("Worker{}.Env() = %q sets %s, which the spawner sets per process", env, name)
		}
	}
	if got := (Worker{SendBuffer: -42}).Env(); !strings.Contains(strings.Join(got, " "), EnvSendBuffer+"=-1 ") {
		t.Errorf("a negative send buffer encodes as %q; want -1", got)
	}
}

func TestFromEnvEmpty(t *testing.T) {
	w, err := FromEnv(lookupIn(nil))
	if err != nil || w != (Worker{}) {
		t.Fatalf("FromEnv of an empty environment = %+v, %v; want the zero Worker", w, err)
	}
	blank := []string{EnvFD + "=", EnvMaxInFlight + "= ", EnvHighWatermark + "=", EnvSched + "=", EnvAdmission + "=", EnvLogFormat + "="}
	if w, err := FromEnv(lookupIn(blank)); err != nil || w != (Worker{}) {
		t.Fatalf("FromEnv of empty variables = %+v, %v; want the zero Worker", w, err)
	}
	if w, _ := FromEnv(lookupIn([]string{EnvMaxInFlight + "= 4 ", EnvHighWatermark + "= 2 MiB"})); w.MaxInFlight != 4 || w.HighWatermark != 2<<20 {
		t.Errorf("spaces around values: %+v", w)
	}
	if w, _ := FromEnv(lookupIn([]string{EnvSendBuffer + "=-1"})); w.SendBuffer != -1 {
		t.Errorf("SLUICE_SNDBUF=-1 decodes to %d", w.SendBuffer)
	}
}

func TestFromEnvErrors(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{EnvFD, "three", "not a file descriptor number"},
		{EnvFD, "-3", "not a file descriptor number"},
		{EnvFD, "0", "stdin, stdout and stderr"},
		{EnvFD, "2", "stdin, stdout and stderr"},
		{EnvMaxInFlight, "four", "use a whole number 1..1048576 for a hard cap, or 0 for automatic"},
		{EnvMaxInFlight, "-1", "use a whole number"},
		{EnvMaxInFlight, "1048577", "use a whole number 1..1048576"},
		{EnvMaxInFlight, "2.5", "use a whole number"},
		{EnvHighWatermark, "8 parsecs", `unknown unit "parsecs"`},
		{EnvHighWatermark, "2TiB", "maximum of 1TiB"},
		{EnvLowWatermark, "-5", "negative"},
		{EnvQueueLimit, "lots", "not a byte count"},
		{EnvSendBuffer, "4XB", `unknown unit "XB"`},
		{EnvSendBuffer, "-x", "-1 for the kernel's default"},
		{EnvAdmission, "maybe", "use on or off"},
		{EnvAdmission, "ON", "use on or off"},
		{EnvSched, "random", "use sequential or round-robin"},
		{EnvLogFormat, "xml", "use text or json"},
		{EnvLowWatermark, "1GiB", "above SLUICE_HIGH_WATERMARK (8MiB)"},
		{EnvQueueLimit, "1MiB", `SLUICE_HIGH_WATERMARK="8MiB": above SLUICE_QUEUE_LIMIT (1MiB)`},
	} {
		_, err := FromEnv(lookupIn([]string{tc.name + "=" + tc.value}))
		var ee *EnvError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ee) {
			t.Errorf("%s=%q: %v; want an *EnvError saying %q", tc.name, tc.value, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), ee.Name+"=") || ee.Name == "" {
			t.Errorf("%s=%q: %v does not name the variable", tc.name, tc.value, err)
		}
		if ee.Name == tc.name && !strings.Contains(err.Error(), tc.name+"="+quote(tc.value)) {
			t.Errorf("%s=%q: %v does not quote the value", tc.name, tc.value, err)
		}
	}
}

func TestFromEnvReportsEveryBadVariable(t *testing.T) {
	_, err := FromEnv(lookupIn([]string{EnvMaxInFlight + "=x", EnvSched + "=y", EnvLogFormat + "=z"}))
	for _, name := range []string{EnvMaxInFlight, EnvSched, EnvLogFormat} {
		if err == nil || !strings.Contains(err.Error(), name+"=") {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestWorkerValidate(t *testing.T) {
	for _, tc := range []struct {
		w    Worker
		want string // "" means valid
	}{
		{Worker{}, ""},
		{Worker{FD: 3, MaxInFlight: 1, HighWatermark: 1, LowWatermark: 1, QueueLimit: 1, SendBuffer: -1}, ""},
		{Worker{MaxInFlight: MaxInFlightLimit}, ""},
		{Worker{HighWatermark: 1 << 20, QueueLimit: 1 << 20, LowWatermark: 1 << 20}, ""},
		{Worker{FD: 2}, EnvFD},
		{Worker{FD: -1}, EnvFD},
		{Worker{MaxInFlight: -1}, EnvMaxInFlight},
		{Worker{MaxInFlight: MaxInFlightLimit + 1}, EnvMaxInFlight},
		{Worker{HighWatermark: -1}, EnvHighWatermark},
		{Worker{HighWatermark: MaxSize + 1}, EnvHighWatermark},
		{Worker{LowWatermark: -1}, EnvLowWatermark},
		{Worker{QueueLimit: -1}, EnvQueueLimit},
		{Worker{SendBuffer: MaxSize + 1}, EnvSendBuffer},
		{Worker{Sched: "fifo"}, EnvSched},
		{Worker{LogFormat: "xml"}, EnvLogFormat},
		{Worker{HighWatermark: 1 << 20, LowWatermark: 1<<20 + 1}, EnvLowWatermark},
		{Worker{HighWatermark: 2 << 20, QueueLimit: 1 << 20}, EnvHighWatermark},
		{Worker{QueueLimit: DefaultHighWatermark - 1}, EnvHighWatermark},
	} {
		err := tc.w.Validate()
		var ee *EnvError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v; want valid", tc.w, err)
		case tc.want != "" && (!errors.As(err, &ee) || ee.Name != tc.want):
			t.Errorf("%+v: %v; want an error naming %s", tc.w, err, tc.want)
		}
	}
}

func TestWatermarks(t *testing.T) {
	if h, l, q := Watermarks(0, 0, 0); h != DefaultHighWatermark || l != DefaultHighWatermark/4 || q != 2*DefaultHighWatermark {
		t.Errorf("defaults %d %d %d", h, l, q)
	}
	if h, l, q := Watermarks(1<<20, 0, 0); h != 1<<20 || l != 256<<10 || q != 2<<20 {
		t.Errorf("derived from high: %d %d %d", h, l, q)
	}
	if h, l, q := Watermarks(1<<20, 5, 7<<20); h != 1<<20 || l != 5 || q != 7<<20 {
		t.Errorf("explicit: %d %d %d", h, l, q)
	}
}

func TestCheckMaxInFlight(t *testing.T) {
	for n, ok := range map[int]bool{-1: false, 0: true, 1: true, MaxInFlightLimit: true, MaxInFlightLimit + 1: false} {
		err := CheckMaxInFlight("--max-inflight", n)
		if (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "--max-inflight") {
			t.Errorf("CheckMaxInFlight(%d) = %v; want ok=%v and the setting named", n, err, ok)
		}
	}
}

func TestCheckSched(t *testing.T) {
	for name, ok := range map[string]bool{"sequential": true, "round-robin": true, "": false, "Sequential": false, "fifo": false} {
		if err := CheckSched(name); (err == nil) != ok {
			t.Errorf("CheckSched(%q) = %v; want ok=%v", name, err, ok)
		}
	}
}

// TestNamesAreTheContract pins the names operators and embedders write:
// renaming one breaks every worker built against an older sluice and every
// deployment that sets it, so it must fail a test first.
func TestNamesAreTheContract(t *testing.T) {
	for got, want := range map[string]string{
		EnvFD: "SLUICE_FD", EnvWorkerID: "SLUICE_WORKER_ID", EnvMaxInFlight: "SLUICE_MAX_INFLIGHT",
		EnvHighWatermark: "SLUICE_HIGH_WATERMARK", EnvLowWatermark: "SLUICE_LOW_WATERMARK", EnvQueueLimit: "SLUICE_QUEUE_LIMIT",
		EnvSendBuffer: "SLUICE_SNDBUF", EnvAdmission: "SLUICE_ADMISSION", EnvSched: "SLUICE_SCHED",
		EnvLogFormat: "SLUICE_LOG_FORMAT", EnvRoot: "SLUICE_ROOT", EnvMemoryLimit: "GOMEMLIMIT",
		PolicySequential: "sequential", PolicyRoundRobin: "round-robin",
		AdmissionOn: "on", AdmissionOff: "off", LogText: "text", LogJSON: "json",
	} {
		if got != want {
			t.Errorf("%q is now %q", want, got)
		}
	}
	if DefaultFD != 3 || DefaultMaxInFlight != 0 || DefaultHighWatermark != 8<<20 || DefaultSendBuffer != 4<<20 || MaxInFlightLimit != 1<<20 {
		t.Error("a default or limit changed: users and docs quote them")
	}
}
