package settings

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDecodeConfig(t *testing.T) {
	c, err := DecodeConfig(strings.NewReader(`{"max_inflight": 3, "queue_timeout": "10s", "high_watermark": 16777216, "low_watermark": 4194304, "queue_limit": 67108864, "admission": false, "sched": "round-robin"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{MaxInFlight: new(3), QueueTimeout: new("10s"), HighWatermark: new(int64(16 << 20)), LowWatermark: new(int64(4 << 20)),
		QueueLimit: new(int64(64 << 20)), Admission: new(false), Sched: new(PolicyRoundRobin)}
	if !c.Equal(want) {
		t.Errorf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if d, err := c.Timeout(); d != 10*time.Second || err != nil {
		t.Errorf("Timeout = %v, %v", d, err)
	}
	for _, tc := range []struct{ body, want string }{
		{`not json`, "JSON"},
		{`{"bogus": 1}`, `unknown field "bogus"`},
		{`{"max_inflight": "2"}`, "max_inflight"},
		{`{"high_watermark": 1.5}`, "high_watermark"},
		{`[1]`, "JSON object"},
		{`{"sched": "` + strings.Repeat("x", MaxConfigBody) + `"}`, "JSON"},
	} {
		if _, err := DecodeConfig(strings.NewReader(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeConfig(%.40s): %v; want an error saying %q", tc.body, err, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string // "" means valid
	}{
		{Config{}, ""},
		{Config{MaxInFlight: new(1)}, ""},
		{Config{MaxInFlight: new(MaxInFlightLimit)}, ""},
		{Config{MaxInFlight: new(0)}, ""}, // automatic
		{Config{MaxInFlight: new(-4)}, "max_inflight -4 is out of range; use 0 (automatic) or a hard cap of 1..1048576"},
		{Config{MaxInFlight: new(MaxInFlightLimit + 1)}, "max_inflight 1048577"},
		{Config{QueueTimeout: new("1ns")}, ""},
		{Config{QueueTimeout: new("0s")}, `queue_timeout "0s" is not a positive duration`},
		{Config{QueueTimeout: new("-1s")}, "queue_timeout"},
		{Config{QueueTimeout: new("10")}, "queue_timeout"},
		{Config{HighWatermark: new(int64(1)), LowWatermark: new(int64(1))}, ""},
		{Config{HighWatermark: new(MaxSize)}, ""},
		{Config{HighWatermark: new(int64(0))}, "high_watermark 0 is out of range"},
		{Config{HighWatermark: new(MaxSize + 1)}, "high_watermark"},
		{Config{LowWatermark: new(int64(0))}, "low_watermark 0 is out of range"},
		{Config{LowWatermark: new(int64(2000000))}, ""}, // against the high in force: the receiver's check
		{Config{HighWatermark: new(int64(1000)), LowWatermark: new(int64(2000))}, "low_watermark 2000 is above high_watermark 1000"},
		{Config{QueueLimit: new(int64(0))}, "queue_limit 0"},
		{Config{Admission: new(false)}, ""},
		{Config{Sched: new("round-robin")}, ""},
		{Config{Sched: new("")}, `sched ""`},
		{Config{Sched: new("random")}, "use sequential or round-robin"},
	} {
		err := tc.c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v; want valid", tc.c.LogValue(), err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v; want an error saying %q", tc.c.LogValue(), err, tc.want)
		}
	}
}

func TestConfigJSONFieldNames(t *testing.T) {
	b, err := json.Marshal(Config{MaxInFlight: new(3), HighWatermark: new(int64(1)), LowWatermark: new(int64(1)), QueueLimit: new(int64(4)), Admission: new(true), Sched: new("sequential")})
	want := `{"max_inflight":3,"high_watermark":1,"low_watermark":1,"queue_limit":4,"admission":true,"sched":"sequential"}`
	if err != nil || string(b) != want {
		t.Errorf("JSON %s, %v; want %s", b, err, want)
	}
	if b, _ := json.Marshal(Config{Admission: new(false)}); string(b) != `{"admission":false}` {
		t.Errorf("a present false is dropped: %s", b)
	}
}

func TestConfigEnv(t *testing.T) {
	c := Config{MaxInFlight: new(3), QueueTimeout: new("5s"), HighWatermark: new(int64(16 << 20)), LowWatermark: new(int64(1 << 20)),
		QueueLimit: new(int64(64 << 20)), Admission: new(false), Sched: new(PolicyRoundRobin)}
	base := Worker{MaxInFlight: 2, Root: "/r"}
	w, err := FromEnv(lookupIn(append(base.Env(), c.Env()...)))
	want := Worker{MaxInFlight: 3, HighWatermark: 16 << 20, LowWatermark: 1 << 20, QueueLimit: 64 << 20, DisableAdmission: true, Sched: PolicyRoundRobin, Root: "/r"}
	if err != nil || w != want {
		t.Errorf("a Worker's env with a Config's appended decodes to %+v, %v; want %+v", w, err, want)
	}
	if env := (Config{QueueTimeout: new("5s")}).Env(); len(env) != 0 {
		t.Errorf("queue_timeout is the gateway's, but Env gives %q", env)
	}
	if env := (Config{Admission: new(true)}).Env(); len(env) != 1 || env[0] != "SLUICE_ADMISSION=on" {
		t.Errorf("admission true: %q", env)
	}
}

func TestConfigEqualAndLog(t *testing.T) {
	a := Config{MaxInFlight: new(3), Sched: new("sequential")}
	if !a.Equal(Config{MaxInFlight: new(3), Sched: new("sequential")}) || a.Equal(Config{MaxInFlight: new(3)}) || a.Equal(Config{MaxInFlight: new(4), Sched: new("sequential")}) {
		t.Error("Equal compares presence and values")
	}
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "config", a)
	if !strings.Contains(sb.String(), "config.max_inflight=3 config.sched=sequential") {
		t.Errorf("logged as %s", sb.String())
	}
	if s := fmt.Sprint(Config{}.LogValue()); s != "[]" {
		t.Errorf("empty config logs as %s", s)
	}
}
