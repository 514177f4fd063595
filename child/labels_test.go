package child

import (
	"context"
	"maps"
	"runtime/pprof"
	"strconv"
	"testing"
)

// TestRouteLabelsAreMadeOncePerRoute: a route's label context is reused,
// routes past the bound still get correct labels, and Serve's own labels
// are kept as pprof.Do would keep them.
func TestRouteLabelsAreMadeOncePerRoute(t *testing.T) {
	base := pprof.WithLabels(context.Background(), pprof.Labels("app", "x"))
	s := &server{base: base, workerID: "7"}
	labels := func(ctx context.Context) map[string]string {
		m := map[string]string{}
		pprof.ForLabels(ctx, func(k, v string) bool { m[k] = v; return true })
		return m
	}
	first := s.routeLabels("/payload")
	if s.routeLabels("/payload") != first {
		t.Error("the label context of /payload was made twice")
	}
	if got := labels(first); !maps.Equal(got, map[string]string{"app": "x", "route": "/payload", "worker": "7"}) {
		t.Errorf("labels %v", got)
	}
	for i := range maxLabelRoutes + 10 {
		s.routeLabels("/r" + strconv.Itoa(i))
	}
	if got := labels(s.routeLabels("/late")); got["route"] != "/late" || got["worker"] != "7" {
		t.Errorf("a route past the bound got labels %v", got)
	}
	n := 0
	s.labelCtxs.Range(func(any, any) bool { n++; return true })
	if n > maxLabelRoutes {
		t.Errorf("%d routes kept, more than %d", n, maxLabelRoutes)
	}
}
