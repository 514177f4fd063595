package settings_test

import (
	"fmt"
	"strings"

	"github.com/sluicegw/sluice/ipc/settings"
)

// A parent encodes the settings it decided for its workers; a worker
// decodes them from its environment. Here the environment is a map, where
// a worker would pass os.LookupEnv.
func Example() {
	parent := settings.Worker{
		MaxInFlight:   4,
		HighWatermark: 16 << 20,
		Sched:         settings.PolicyRoundRobin,
		LogFormat:     settings.LogJSON,
	}
	env := map[string]string{}
	for _, kv := range append(parent.Env(), settings.EnvFD+"=3", settings.EnvWorkerID+"=0") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	w, err := settings.FromEnv(lookup)
	if err != nil {
		fmt.Println(err)
		return
	}
	high, low, limit := settings.Watermarks(w.HighWatermark, w.LowWatermark, w.QueueLimit)
	fmt.Println("fd", w.FD, "worker", w.ID, "max in flight", w.MaxInFlight, "sched", w.Sched)
	fmt.Println("high", settings.FormatSize(high), "low", settings.FormatSize(low), "queue limit", settings.FormatSize(limit))

	env[settings.EnvLowWatermark] = "1GiB"
	_, err = settings.FromEnv(lookup)
	fmt.Println(err)
	// Output:
	// fd 3 worker 0 max in flight 4 sched round-robin
	// high 16MiB low 4MiB queue limit 32MiB
	// SLUICE_LOW_WATERMARK="1GiB": above SLUICE_HIGH_WATERMARK (16MiB); use at most that, or 0 for a quarter of it
}

// Sizes are what operators write in flags, variables and query parameters.
func ExampleParseSize() {
	for _, s := range []string{"4096", "64KiB", "8 mib", "10MB", "1.5GiB", "2TiB"} {
		n, err := settings.ParseSize(s)
		fmt.Println(n, err)
	}
	// Output:
	// 4096 <nil>
	// 65536 <nil>
	// 8388608 <nil>
	// 10000000 <nil>
	// 0 size "1.5GiB": unknown unit ".5GiB"; use B, KiB, MiB, GiB, TiB (binary) or KB, MB, GB, TB (decimal)
	// 0 size "2TiB": larger than the maximum of 1TiB (1099511627776 bytes); ask for less
}

// A PUT /config body is decoded and validated the same way by the gateway
// and by each worker.
func ExampleDecodeConfig() {
	c, err := settings.DecodeConfig(strings.NewReader(`{"max_inflight": -1}`))
	if err == nil {
		err = c.Validate()
	}
	fmt.Println(err)
	// Output:
	// max_inflight -1 is out of range; use 0 (automatic) or a hard cap of 1..1048576
}
