package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/jobs"
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

func newMetrics(buffered func() float64, jc *jobs.Client) *metrics {
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
	if jc != nil {
		m.reg.MustRegister(jobsCollector{jc})
	}
	return m
}

// jobsCollector reports the jobs no worker has taken, per connector, the
// workers alive, and each worker's counters as its presence last said
// them (the embedded worker's and outside workers' alike).
type jobsCollector struct{ c *jobs.Client }

var (
	descWaiting = prometheus.NewDesc("cellsd_jobs_waiting", "Jobs of this daemon that no worker has taken, per connector.", []string{"connector"}, nil)
	descAlive   = prometheus.NewDesc("cellsd_workers_alive", "Workers heard from in the last three presence intervals.", nil, nil)
	descRunning = prometheus.NewDesc("cellsd_worker_jobs_running", "Jobs a worker runs now.", []string{"worker"}, nil)
	descRun     = prometheus.NewDesc("cellsd_worker_jobs_run_total", "Jobs a worker started.", []string{"worker"}, nil)
	descFailed  = prometheus.NewDesc("cellsd_worker_jobs_failed_total", "Jobs that ended in an error on a worker.", []string{"worker"}, nil)
	descRetried = prometheus.NewDesc("cellsd_worker_jobs_retried_total", "Jobs a worker took after another worker was lost.", []string{"worker"}, nil)
	descRows    = prometheus.NewDesc("cellsd_worker_rows_streamed_total", "Rows a worker streamed.", []string{"worker"}, nil)
	descBytes   = prometheus.NewDesc("cellsd_worker_bytes_streamed_total", "Arrow IPC bytes a worker streamed.", []string{"worker"}, nil)
)

func (jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWaiting, descAlive, descRunning, descRun, descFailed, descRetried, descRows, descBytes} {
		ch <- d
	}
}

func (j jobsCollector) Collect(ch chan<- prometheus.Metric) {
	for conn, n := range j.c.Waiting() {
		ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(n), conn)
	}
	ws := j.c.Workers()
	ch <- prometheus.MustNewConstMetric(descAlive, prometheus.GaugeValue, float64(len(ws)))
	for _, w := range ws {
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(w.Running), w.Worker)
		for _, c := range []struct {
			d *prometheus.Desc
			v int64
		}{{descRun, w.Run}, {descFailed, w.Failed}, {descRetried, w.Retried}, {descRows, w.Rows}, {descBytes, w.Bytes}} {
			ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v), w.Worker)
		}
	}
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
