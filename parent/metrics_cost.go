package parent

import "github.com/prometheus/client_golang/prometheus"

// registerCost makes and registers the cost table's metrics (cost.go).
func (m *metrics) registerCost(g *Gateway) {
	m.light = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_http_light_total",
		Help: "Attempts sent by the light lane (a retry counts again): their endpoint's handlers use little CPU, so they went to a worker at once instead of waiting for the CPU limits.",
	})
	known := func(pick func(known, light int) int) func() float64 {
		return func() float64 { return float64(pick(g.costs.counts())) }
	}
	m.reg.MustRegister(m.light,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_gateway_endpoints_measured",
			Help: "Endpoints (method, path with ids folded, query parameter names) whose handlers' CPU the gateway has measured.",
		}, known(func(k, _ int) int { return k })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_gateway_endpoints_light",
			Help: "Measured endpoints whose requests are light now (their CPU estimate is at most --light-cpu).",
		}, known(func(_, l int) int { return l })),
	)
}
