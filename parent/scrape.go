package parent

import (
	"context"
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
)

// workerScrapeTimeout bounds the fetch of one worker's metrics, so that a
// wedged worker costs a scrape its own figures, not the whole answer.
const workerScrapeTimeout = 2 * time.Second

// serveMetrics answers one scrape with the parent's figures and every
// worker's, each worker's carried over its connection (an admin stream) and
// labelled worker="ID".
func (g *Gateway) serveMetrics(w http.ResponseWriter, r *http.Request) {
	fams, err := g.metrics.reg.Gather()
	if err != nil {
		g.log.Warn("gathering the parent's metrics", "err", err)
	}
	all := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		all[f.GetName()] = f
	}
	for _, id := range g.pool.ids() {
		wf, err := g.scrapeWorker(r.Context(), id)
		if err != nil {
			g.log.Warn("scraping a worker's metrics", "worker", id, "err", err)
			continue
		}
		mergeFamilies(all, wf, itoa(id))
	}
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, name := range names {
		if err := enc.Encode(all[name]); err != nil {
			return
		}
	}
}

func (g *Gateway) scrapeWorker(ctx context.Context, id int) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, workerScrapeTimeout)
	defer cancel()
	code, _, st, err := g.adminStream(ctx, id, "GET", "/metrics", nil)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if code != http.StatusOK {
		return nil, &headError{"worker /metrics answered " + itoa(code)}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(st)
}

// mergeFamilies adds a worker's families to all, labelling every metric with
// worker=id. A family whose type differs from the parent's of the same name
// is skipped rather than mixed.
func mergeFamilies(all map[string]*dto.MetricFamily, worker map[string]*dto.MetricFamily, id string) {
	for name, f := range worker {
		for _, m := range f.Metric {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String("worker"), Value: proto.String(id)})
		}
		have, ok := all[name]
		switch {
		case !ok:
			all[name] = f
		case have.GetType() == f.GetType():
			have.Metric = append(have.Metric, f.Metric...)
		}
	}
}
