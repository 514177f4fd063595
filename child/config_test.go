package child

import (
	"strings"
	"testing"
)

func TestVerifyConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // "" means valid
	}{
		{Config{}, ""},
		{Config{MaxInFlight: 1, HighWatermark: 1 << 20, LowWatermark: 1 << 20, QueueLimit: 1 << 20, SendBuffer: -1}, ""},
		{Config{MaxInFlight: -1}, "MaxInFlight -1"},
		{Config{HighWatermark: -1}, "HighWatermark -1"},
		{Config{LowWatermark: -5}, "LowWatermark -5"},
		{Config{QueueLimit: -1}, "QueueLimit -1"},
		{Config{HighWatermark: 1 << 20, LowWatermark: 2 << 20}, "LowWatermark 2097152 is above HighWatermark 1048576"},
		{Config{HighWatermark: 2 << 20, QueueLimit: 1 << 20}, "HighWatermark 2097152 is above QueueLimit 1048576"},
		{Config{SendBuffer: 1 << 31}, "SendBuffer"},
	} {
		err := VerifyConfig(&tc.cfg)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v, want valid", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
	if err := VerifyConfig(nil); err != nil {
		t.Errorf("nil config: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	s := (&Config{}).settings()
	if s.maxInFlight != DefaultMaxInFlight || s.high != 8<<20 || s.low != 2<<20 || s.limit != 32<<20 || s.sendBuffer != 4<<20 || !s.admission {
		t.Errorf("defaults %+v", s)
	}
	s = (&Config{HighWatermark: 1 << 20, SendBuffer: -1}).settings()
	if s.low != 256<<10 || s.limit != 4<<20 || s.sendBuffer != -1 {
		t.Errorf("derived defaults %+v", s)
	}
}

func TestMainConfig(t *testing.T) {
	t.Setenv(EnvMaxInFlight, "3")
	t.Setenv(EnvHighWatermark, "16MiB")
	t.Setenv(EnvLowWatermark, "0")
	t.Setenv(EnvQueueLimit, "64MiB")
	t.Setenv(EnvSendBuffer, "-1")
	t.Setenv(EnvAdmission, "off")
	t.Setenv(EnvSched, "round-robin")
	t.Setenv(EnvLogFormat, "json")
	c, err := MainConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInFlight != 3 || c.HighWatermark != 16<<20 || c.LowWatermark != 0 || c.QueueLimit != 64<<20 ||
		c.SendBuffer != -1 || !c.DisableAdmission || c.IPC == nil || c.IPC.Policy != "round-robin" || c.Logger == nil {
		t.Errorf("MainConfig: %+v", c)
	}
}

func TestMainConfigErrors(t *testing.T) {
	for _, tc := range []struct{ env, value, want string }{
		{EnvMaxInFlight, "four", `SLUICE_MAX_INFLIGHT="four"`},
		{EnvHighWatermark, "8 parsecs", `unknown unit "parsecs"`},
		{EnvSendBuffer, "4XB", `SLUICE_SNDBUF="4XB"`},
		{EnvAdmission, "maybe", "use on or off"},
		{EnvSched, "random", "use sequential or round-robin"},
		{EnvLogFormat, "xml", "use text or json"},
		{EnvLowWatermark, "1GiB", "LowWatermark 1073741824 is above HighWatermark"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := MainConfig()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s=%q: %v, want an error saying %q", tc.env, tc.value, err, tc.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "4096": 4096, "64KiB": 64 << 10, "8MiB": 8 << 20, "1GiB": 1 << 30, "2 mib": 2 << 20,
		"10MB": 10e6, "5B": 5, " 7 ": 7,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "MiB", "1.5MiB", "2TiB", "99999999999999999999"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}

func TestSocketFDDefault(t *testing.T) {
	t.Setenv(EnvFD, "")
	if fd, err := socketFD(); fd != 3 || err != nil {
		t.Errorf("socketFD with SLUICE_FD unset: %d, %v; want 3", fd, err)
	}
}
