package ipc

import (
	"strings"
	"testing"

	"github.com/sluicegw/sluice/stream"
)

// TestInitialWindowSettings: the initial window's default follows the
// budget, its range is checked against StreamWindow, and CurrentWindow is
// the share a stream would move toward.
func TestInitialWindowSettings(t *testing.T) {
	b := stream.NewRecvBudget(1 << 20)
	for _, c := range []struct {
		cfg              *Config
		initial, current int
	}{
		{nil, DefaultStreamWindow, DefaultStreamWindow},
		{&Config{RecvBudget: b}, DefaultInitialWindow, 1 << 20},
		{&Config{RecvBudget: b, StreamWindow: 128 << 10}, DefaultInitialWindow, 128 << 10},
		{&Config{RecvBudget: b, StreamWindow: 64 << 10}, 64 << 10, 64 << 10},
		{&Config{InitialWindow: 64 << 10}, 64 << 10, DefaultStreamWindow},
	} {
		if err := VerifyConfig(c.cfg); err != nil {
			t.Fatalf("VerifyConfig(%+v): %v", c.cfg, err)
		}
		if got := c.cfg.settings().initialWindow; got != c.initial {
			t.Errorf("%+v: initial window %d; want %d", c.cfg, got, c.initial)
		}
		if got := c.cfg.CurrentWindow(); got != c.current {
			t.Errorf("%+v: CurrentWindow() = %d; want %d", c.cfg, got, c.current)
		}
	}
	for _, cfg := range []*Config{
		{InitialWindow: 1000},
		{InitialWindow: 2 << 20, StreamWindow: 1 << 20},
		{InitialWindow: DefaultStreamWindow + 1},
	} {
		err := VerifyConfig(cfg)
		if err == nil || !strings.Contains(err.Error(), "InitialWindow") {
			t.Errorf("VerifyConfig(%+v) = %v; want an error naming InitialWindow", cfg, err)
		}
	}
}
