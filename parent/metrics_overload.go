package parent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descOverloaded    = prometheus.NewDesc("sluice_gateway_overloaded", "1 while the wait queue is overloaded (it has stood and grown for the queue interval): a request that finds no worker with room is refused unless a worker is expected to free a slot for it soon.", nil, nil)
	descOverloadedFor = prometheus.NewDesc("sluice_gateway_overloaded_seconds_total", "Time the wait queue has spent overloaded.", nil, nil)
	descOverloads     = prometheus.NewDesc("sluice_gateway_overloads_total", "Times the wait queue became overloaded; many for little time spent overloaded means load at the edge of capacity, or a --queue-interval too short for its bursts.", nil, nil)
	descQueueTarget   = prometheus.NewDesc("sluice_gateway_queue_target_seconds", "The least a request is held for a worker while the queue is overloaded; 0 when the control is off.", nil, nil)
	descQueueInterval = prometheus.NewDesc("sluice_gateway_queue_interval_seconds", "How long the queue must stand and grow to count as overloaded.", nil, nil)
	descRouteRate     = prometheus.NewDesc("sluice_gateway_routed_per_second", "Requests routed to workers per second, smoothed over a second: the drain rate behind Retry-After.", nil, nil)
)

// overloadCollector reports the wait queue's overload state at scrape time.
type overloadCollector struct{ g *Gateway }

func (c *overloadCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOverloaded, descOverloadedFor, descOverloads, descQueueTarget, descQueueInterval, descRouteRate} {
		ch <- d
	}
}

func (c *overloadCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.g.pool
	total, now := p.overload()
	p.mu.Lock()
	p.control.advance(time.Now())
	target, interval, rate, entries := p.control.target, p.control.interval, p.control.grantRate, p.control.overloads
	p.mu.Unlock()
	on := 0.0
	if now {
		on = 1
	}
	ch <- prometheus.MustNewConstMetric(descOverloaded, prometheus.GaugeValue, on)
	ch <- prometheus.MustNewConstMetric(descOverloadedFor, prometheus.CounterValue, total.Seconds())
	ch <- prometheus.MustNewConstMetric(descOverloads, prometheus.CounterValue, float64(entries))
	ch <- prometheus.MustNewConstMetric(descQueueTarget, prometheus.GaugeValue, target.Seconds())
	ch <- prometheus.MustNewConstMetric(descQueueInterval, prometheus.GaugeValue, interval.Seconds())
	ch <- prometheus.MustNewConstMetric(descRouteRate, prometheus.GaugeValue, rate)
}
