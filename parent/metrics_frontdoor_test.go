package parent

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
)

// TestMetricsPresentFromTheStart: every refusal, abort and timeout series
// exists at 0 before any event, so that an alert on its rate sees 0, not
// "no data"; and the parent's families pass promlint.
func TestMetricsPresentFromTheStart(t *testing.T) {
	e := gwStart(t, Config{})
	fams, err := e.g.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string][]string{
		"sluice_http_refused_total":          {"reason", "overload", "queue_timeout", "queue_full", "no_worker", "draining", "other"},
		"sluice_http_aborted_total":          {"cause", "worker", "client", "timeout"},
		"sluice_http_request_timeouts_total": {"phase", "before_response", "during_response"},
	}
	for name, labels := range series {
		for _, v := range labels[1:] {
			found := false
			for _, f := range fams {
				if f.GetName() != name {
					continue
				}
				for _, m := range f.Metric {
					for _, l := range m.Label {
						if l.GetName() == labels[0] && l.GetValue() == v {
							found = true
							if got := m.Counter.GetValue(); got != 0 {
								t.Errorf("%s{%s=%q} = %v at the start", name, labels[0], v, got)
							}
						}
					}
				}
			}
			if !found {
				t.Errorf("%s{%s=%q} is missing at the start", name, labels[0], v)
			}
		}
	}
	var buf bytes.Buffer
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	problems, err := promlint.New(&buf).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestRequestsByMethod: requests count by method, and a method not in the
// standard set counts as OTHER rather than make a series of its own.
func TestRequestsByMethod(t *testing.T) {
	e := gwStart(t, Config{})
	e.addWorker(0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), nil)
	for _, m := range []string{"GET", "POST", "BREW", "PROPFIND", "GET"} {
		resp, _, err := e.do(gwRequest(t, m, e.url("/"), nil))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", m, err, resp)
		}
	}
	for m, want := range map[string]float64{"GET": 2, "POST": 1, "OTHER": 2, "BREW": 0, "PROPFIND": 0} {
		if got := gwMetric(t, e.g, "sluice_http_requests_total", map[string]string{"method": m, "code": "200"}); got != want {
			t.Errorf("requests{method=%s,code=200} = %v; want %v", m, got, want)
		}
	}
}
