package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellsd/cellsd/engine"
)

// metrics are the daemon's Prometheus metrics, on a registry of its own so
// that several daemons can live in one process (tests).
type metrics struct {
	reg         *prometheus.Registry
	runs        prometheus.Counter
	cells       *prometheus.CounterVec
	duration    prometheus.Histogram
	rows        prometheus.Counter
	bytes       prometheus.Counter
	published   prometheus.Counter
	retries     prometheus.Counter
	sessions    prometheus.Gauge
	apiRequests *prometheus.CounterVec
}

func newMetrics(buffered func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cellsd_runs_total", Help: "Runs started, in every session."}),
		cells: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellsd_cells_total", Help: "Cells that reached a final state, by that state."}, []string{"status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cellsd_cell_duration_seconds", Help: "Wall time of cells that ran (success, error or cancel).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cellsd_rows_materialized_total", Help: "Rows of the results materialized."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cellsd_bytes_materialized_total", Help: "Bytes received from external connectors (Arrow buffers) and materialized."}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cellsd_events_published_total", Help: "Events stored by JetStream."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cellsd_events_publish_retries_total", Help: "Batches of events published again after a failure."}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cellsd_sessions_open", Help: "Sessions open in this daemon."}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellsd_api_requests_total", Help: "Job API requests, by operation and outcome."}, []string{"op", "outcome"}),
	}
	m.reg.MustRegister(m.runs, m.cells, m.duration, m.rows, m.bytes, m.published, m.retries, m.sessions, m.apiRequests,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cellsd_events_buffered", Help: "Events waiting to be stored by JetStream."}, buffered),
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// observe counts one event.
func (m *metrics) observe(ev engine.Event) {
	if ev.SessionLevel() {
		if ev.Status == engine.StatusRunning {
			m.runs.Inc()
		}
		return
	}
	if !ev.Status.Final() {
		return
	}
	m.cells.WithLabelValues(string(ev.Status)).Inc()
	if ev.Status != engine.StatusBlocked && !ev.Cached {
		m.duration.Observe(ev.Duration.Seconds())
	}
	if ev.Status == engine.StatusSuccess && ev.Rows != nil && !ev.Cached {
		m.rows.Add(float64(*ev.Rows))
	}
	if ev.Bytes != nil && !ev.Cached {
		m.bytes.Add(float64(*ev.Bytes))
	}
}
