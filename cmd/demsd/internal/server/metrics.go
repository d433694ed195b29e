package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/opendems/opendems/evidence"
	"github.com/opendems/opendems/evidence/api"
	"github.com/opendems/opendems/evidence/identity"
	"github.com/opendems/opendems/evidence/jobs"
	"github.com/opendems/opendems/storage"
)

// Metrics are demsd's Prometheus measurements beyond HTTP (evidence/api)
// and fixity (evidence/custody). Every family is registered on the app's
// one Registry; the parts receive what they need through their Deps or
// fields (or are wrapped here by decorators), never through globals.
//
// Two kinds live side by side:
//   - process counters and histograms (this process's work: bytes it
//     received, jobs it ran, decisions it made); sum them over processes;
//   - cluster gauges read from PostgreSQL at scrape time (dbCollector:
//     queue depth, active upload sessions, last checkpoint). Every process
//     reports the same value; aggregate them with max(), not sum().
type Metrics struct {
	IngestBytes         prometheus.Counter
	IngestCommitSeconds *prometheus.HistogramVec // outcome
	IngestVerifyFailed  *prometheus.CounterVec   // check: chunk_digest, digest, size

	JobRunSeconds *prometheus.HistogramVec // kind
	JobFailures   *prometheus.CounterVec   // kind

	// Media throughput: transcode by proxy method (remux, encode),
	// redaction by job (detect, preview, render, leak_check).
	Transcode *mediaMeter
	Redaction *mediaMeter

	CheckpointsSigned     prometheus.Counter
	CheckpointsFailed     prometheus.Counter
	CustodyVerifySeconds  prometheus.Histogram
	CustodyVerifyFailures *prometheus.CounterVec // log: custody, audit
	PolicyDecisions       *prometheus.CounterVec // outcome: allow, deny, error
	PolicyDecisionTime    prometheus.Histogram
	dbCollector           *dbCollector
}

// fastBuckets suit in-memory decisions (casbin): 10 µs to 100 ms.
var fastBuckets = prometheus.ExponentialBuckets(0.00001, 4, 8)

// jobBuckets suit jobs: 10 ms to about 3 hours (long transcodes).
var jobBuckets = prometheus.ExponentialBuckets(0.01, 4, 10)

// newMetrics makes the families and registers them on reg.
func newMetrics(reg prometheus.Registerer, pool *pgxpool.Pool, logger *slog.Logger) (*Metrics, error) {
	m := &Metrics{
		IngestBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "opendems_ingest_received_bytes_total",
			Help: "Bytes of upload chunks received by this process (request bodies read)."}),
		IngestCommitSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "opendems_ingest_commit_seconds",
			Help: "Time to verify and commit an upload (the commit call), by outcome.", Buckets: prometheus.ExponentialBuckets(0.005, 3, 10)},
			[]string{"outcome"}),
		IngestVerifyFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "opendems_ingest_verification_failures_total",
			Help: "Uploaded bytes that did not verify: a chunk against its declared hash, or the whole file against its sha256 or size."},
			[]string{"check"}),
		JobRunSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "opendems_job_run_seconds",
			Help: "Run time of jobs worked by this process, by kind.", Buckets: jobBuckets}, []string{"kind"}),
		JobFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "opendems_job_failures_total",
			Help: "Job runs that returned an error (river retries or discards them), by kind."}, []string{"kind"}),
		Transcode: newMediaMeter("transcode", "method", "web proxies made (remuxed or encoded)", "remux", "encode"),
		Redaction: newMediaMeter("redaction", "job", "redaction work (detect, preview, render, leak_check)",
			"detect", "preview", "render", "leak_check"),
		CheckpointsSigned: prometheus.NewCounter(prometheus.CounterOpts{Name: "opendems_custody_checkpoints_signed_total",
			Help: "Custody checkpoint jobs that signed (or confirmed) a checkpoint."}),
		CheckpointsFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "opendems_custody_checkpoint_failures_total",
			Help: "Custody checkpoint jobs that failed."}),
		CustodyVerifySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "opendems_custody_verification_seconds",
			Help:    "Run time of the periodic custody verification (every chain against the latest checkpoint, the audit log against its anchors).",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
		CustodyVerifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "opendems_custody_verification_failures_total",
			Help: "Periodic verifications in which the custody chains (log=custody) or the audit log (log=audit) did not verify."},
			[]string{"log"}),
		PolicyDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "opendems_policy_decisions_total",
			Help: "Access decisions by outcome (allow, deny, error)."}, []string{"outcome"}),
		PolicyDecisionTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "opendems_policy_decision_seconds",
			Help: "Time to take one access decision.", Buckets: fastBuckets}),
		dbCollector: &dbCollector{pool: pool, logger: logger},
	}
	// Series that should exist (at 0) from the start, so alerts and
	// dashboards see them before the first event.
	for _, c := range []string{"chunk_digest", "digest", "size"} {
		m.IngestVerifyFailed.WithLabelValues(c)
	}
	for _, o := range []string{"allow", "deny", "error"} {
		m.PolicyDecisions.WithLabelValues(o)
	}
	for _, o := range []string{"ok", "error"} {
		m.IngestCommitSeconds.WithLabelValues(o)
	}
	for _, l := range []string{"custody", "audit"} {
		m.CustodyVerifyFailures.WithLabelValues(l)
	}
	for _, c := range []prometheus.Collector{m.IngestBytes, m.IngestCommitSeconds, m.IngestVerifyFailed, m.JobRunSeconds,
		m.JobFailures, m.Transcode, m.Redaction, m.CheckpointsSigned, m.CheckpointsFailed, m.CustodyVerifySeconds,
		m.CustodyVerifyFailures, m.PolicyDecisions, m.PolicyDecisionTime, m.dbCollector} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// mediaMeter counts the workers' media throughput (jobs.MediaMeter):
// seconds of media, video frames and wall seconds of processing, by one
// label. Throughput is a ratio of rates, e.g. frames per second:
// rate(opendems_redaction_frames_total[5m]) / rate(opendems_redaction_processing_seconds_total[5m]).
type mediaMeter struct {
	media, frames, busy *prometheus.CounterVec
}

var _ jobs.MediaMeter = (*mediaMeter)(nil)

func newMediaMeter(area, label, what string, values ...string) *mediaMeter {
	vec := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "opendems_" + area + "_" + name, Help: help + " in " + what + " by this process."},
			[]string{label})
	}
	m := &mediaMeter{
		media:  vec("media_seconds_total", "Seconds of media processed"),
		frames: vec("frames_total", "Video frames decoded or encoded"),
		busy:   vec("processing_seconds_total", "Wall-clock seconds spent"),
	}
	for _, v := range values { // present at 0 from the start
		m.MediaProcessed(v, 0, 0, 0)
	}
	return m
}

// MediaProcessed implements jobs.MediaMeter.
func (m *mediaMeter) MediaProcessed(work string, mediaSeconds float64, frames int64, took time.Duration) {
	m.media.WithLabelValues(work).Add(max(mediaSeconds, 0))
	m.frames.WithLabelValues(work).Add(float64(max(frames, 0)))
	m.busy.WithLabelValues(work).Add(took.Seconds())
}

// Describe implements prometheus.Collector.
func (m *mediaMeter) Describe(ch chan<- *prometheus.Desc) {
	m.media.Describe(ch)
	m.frames.Describe(ch)
	m.busy.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *mediaMeter) Collect(ch chan<- prometheus.Metric) {
	m.media.Collect(ch)
	m.frames.Collect(ch)
	m.busy.Collect(ch)
}

// jobMetrics times every job this process works, by kind (river worker
// middleware, so no worker needs to know about metrics).
type jobMetrics struct {
	river.MiddlewareDefaults
	m *Metrics
}

var _ rivertype.WorkerMiddleware = (*jobMetrics)(nil)

// Work implements rivertype.WorkerMiddleware.
func (j *jobMetrics) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	start := time.Now()
	err := doInner(ctx)
	j.m.JobRunSeconds.WithLabelValues(job.Kind).Observe(time.Since(start).Seconds())
	if err != nil {
		j.m.JobFailures.WithLabelValues(job.Kind).Inc()
	}
	return err
}

// meteredUploads counts what ingest's storage refuses as not verifying:
// the storage layer is where every upload's bytes are checked (STYLE 3),
// so the count needs no code in ingest.
type meteredUploads struct {
	storage.Backend
	m *Metrics
}

// WritePart implements storage.Uploads.
func (u meteredUploads) WritePart(ctx context.Context, id storage.UploadID, ref storage.Ref, prev *storage.Part, r io.Reader, n int64, partSum *storage.Digest) (storage.Part, error) {
	pt, err := u.Backend.WritePart(ctx, id, ref, prev, r, n, partSum)
	if errors.Is(err, storage.ErrDigestMismatch) {
		u.m.IngestVerifyFailed.WithLabelValues("chunk_digest").Inc()
	}
	return pt, err
}

// Complete implements storage.Uploads.
func (u meteredUploads) Complete(ctx context.Context, id storage.UploadID, ref storage.Ref, parts []storage.Part) (storage.Object, error) {
	obj, err := u.Backend.Complete(ctx, id, ref, parts)
	switch {
	case errors.Is(err, storage.ErrSizeMismatch):
		u.m.IngestVerifyFailed.WithLabelValues("size").Inc()
	case errors.Is(err, storage.ErrDigestMismatch):
		u.m.IngestVerifyFailed.WithLabelValues("digest").Inc()
	}
	return obj, err
}

// meterIngestRoutes wraps ingest's chunk and commit handlers: the chunk
// body is counted as it is read, the commit is timed as the client sees it
// (outcome "accepted" for the acknowledging commit's 202).
func meterIngestRoutes(m *Metrics, routes []api.Route) []api.Route {
	out := make([]api.Route, len(routes))
	for i, rt := range routes {
		h := rt.Handler
		switch {
		case rt.Method == "PUT" && hasSuffix(rt.Path, "/chunks"):
			rt.Handler = func(c *gin.Context) {
				c.Request.Body = &countingBody{ReadCloser: c.Request.Body, c: m.IngestBytes}
				h(c)
			}
		case rt.Method == "POST" && hasSuffix(rt.Path, "/commit"):
			rt.Handler = func(c *gin.Context) {
				start := time.Now()
				h(c)
				outcome := "ok"
				switch {
				case c.Writer.Status() >= 400:
					outcome = "error"
				case c.Writer.Status() == 202:
					// The acknowledging commit (Prefer: respond-async):
					// timed to its 202, the verification runs after.
					outcome = "accepted"
				}
				m.IngestCommitSeconds.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
			}
		}
		out[i] = rt
	}
	return out
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

type countingBody struct {
	io.ReadCloser
	c prometheus.Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.c.Add(float64(n))
	}
	return n, err
}

// meteredAuthorizer counts and times access decisions (the one
// enforcement point's decider).
type meteredAuthorizer struct {
	api.Authorizer
	m *Metrics
}

// Authorize implements api.Authorizer.
func (a meteredAuthorizer) Authorize(ctx context.Context, p identity.Principal, action string, res *evidence.Attributes) api.Decision {
	start := time.Now()
	d := a.Authorizer.Authorize(ctx, p, action, res)
	a.m.PolicyDecisionTime.Observe(time.Since(start).Seconds())
	outcome := "deny"
	switch {
	case d.Allowed:
		outcome = "allow"
	case strings.HasPrefix(d.Reason, policyErrorReason):
		outcome = "error"
	}
	a.m.PolicyDecisions.WithLabelValues(outcome).Inc()
	return d
}

// dbCollector reads cluster-wide figures from PostgreSQL at scrape time.
// Each query is bounded: it reads only unfinished jobs or open sessions
// (through the indexes river and ingest keep for exactly those rows) or
// one row by primary key, under a short deadline; a failed query is
// logged and its family left out of that scrape, which never fails.
type dbCollector struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
}

// scrapeTimeout bounds the collector's queries together.
const scrapeTimeout = 3 * time.Second

var (
	descJobsQueued = prometheus.NewDesc("opendems_jobs_queued",
		"Unfinished jobs in the shared queue (river_job), by kind and state.", []string{"kind", "state"}, nil)
	descJobsOldest = prometheus.NewDesc("opendems_jobs_oldest_age_seconds",
		"How long the oldest job ready to run (state available) has waited since it became runnable, by kind.", []string{"kind"}, nil)
	descSessions = prometheus.NewDesc("opendems_ingest_sessions_active",
		"Upload sessions open or completing, over all processes.", []string{"state"}, nil)
	descCheckpoint = prometheus.NewDesc("opendems_custody_checkpoint_last_signed_timestamp_seconds",
		"When the latest custody checkpoint was signed (Unix time).", nil, nil)
	descCustodyEvents = prometheus.NewDesc("opendems_custody_events",
		"Custody events in all chains (sum of the chain heads' sequence numbers); its rate is the cluster's custody appends.", nil, nil)
	descPurgeSchedule = prometheus.NewDesc("opendems_purge_schedule",
		"Purge schedule entries by state (scheduled, blocked, cancelled, purged).", []string{"state"}, nil)
	descVerifySuccess = prometheus.NewDesc("opendems_custody_verification_last_success_timestamp_seconds",
		"When the latest periodic custody verification that found no problem finished (Unix time).", nil, nil)
	descVerifyProblems = prometheus.NewDesc("opendems_custody_verification_problems",
		"Problems the latest periodic verification found in the custody chains (log=custody) or the audit log (log=audit); 0 when it verified.", []string{"log"}, nil)
)

// Describe implements prometheus.Collector.
func (d *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{descJobsQueued, descJobsOldest, descSessions, descCheckpoint, descCustodyEvents, descPurgeSchedule,
		descVerifySuccess, descVerifyProblems} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector.
func (d *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	fail := func(what string, err error) {
		d.logger.Warn("metrics: database figure not read", "figure", what, "err", err)
	}
	// Jobs: only unfinished states, which river's fetch index leads with.
	rows, err := d.pool.Query(ctx, `SELECT kind, state::text, count(*),
			coalesce(extract(epoch FROM now() - min(scheduled_at) FILTER (WHERE state = 'available'))::float8, 0)
		FROM river_job WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
		GROUP BY kind, state`)
	if err != nil {
		fail("jobs", err)
	} else {
		oldest := map[string]float64{}
		for rows.Next() {
			var kind, state string
			var n int64
			var age float64
			if err := rows.Scan(&kind, &state, &n, &age); err != nil {
				fail("jobs", err)
				break
			}
			ch <- prometheus.MustNewConstMetric(descJobsQueued, prometheus.GaugeValue, float64(n), kind, state)
			if state == "available" {
				oldest[kind] = max(age, 0)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			fail("jobs", err)
		}
		for kind, age := range oldest {
			ch <- prometheus.MustNewConstMetric(descJobsOldest, prometheus.GaugeValue, age, kind)
		}
	}
	counts := func(what string, desc *prometheus.Desc, states []string, sql string) {
		byState := map[string]float64{}
		for _, s := range states {
			byState[s] = 0
		}
		rows, err := d.pool.Query(ctx, sql)
		if err != nil {
			fail(what, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			var n int64
			if err := rows.Scan(&s, &n); err != nil {
				fail(what, err)
				return
			}
			byState[s] = float64(n)
		}
		if err := rows.Err(); err != nil {
			fail(what, err)
			return
		}
		for s, n := range byState {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, n, s)
		}
	}
	counts("ingest sessions", descSessions, []string{"open", "completing"},
		`SELECT state, count(*) FROM ingest_sessions WHERE state IN ('open', 'completing') GROUP BY state`)
	counts("purge schedule", descPurgeSchedule, []string{"scheduled", "blocked", "cancelled", "purged"},
		`SELECT state, count(*) FROM purge_schedule GROUP BY state`)

	var at *time.Time
	if err := d.pool.QueryRow(ctx, `SELECT (SELECT created_at FROM custody_checkpoints ORDER BY id DESC LIMIT 1)`).Scan(&at); err != nil {
		fail("checkpoint", err)
	} else if at != nil {
		ch <- prometheus.MustNewConstMetric(descCheckpoint, prometheus.GaugeValue, float64(at.UnixNano())/1e9)
	}
	// The periodic verification: newest success and newest run (index
	// custody_verifications_ok); absent until the first run.
	var lastOK *time.Time
	var custodyProblems, auditProblems *int64
	if err := d.pool.QueryRow(ctx, `SELECT (SELECT finished_at FROM custody_verifications WHERE ok ORDER BY id DESC LIMIT 1),
			v.custody_problems, v.audit_problems
		FROM (SELECT 1) one LEFT JOIN (SELECT custody_problems::bigint, audit_problems::bigint FROM custody_verifications ORDER BY id DESC LIMIT 1) v ON true`).
		Scan(&lastOK, &custodyProblems, &auditProblems); err != nil {
		fail("custody verification", err)
	} else {
		if lastOK != nil {
			ch <- prometheus.MustNewConstMetric(descVerifySuccess, prometheus.GaugeValue, float64(lastOK.UnixNano())/1e9)
		}
		if custodyProblems != nil {
			ch <- prometheus.MustNewConstMetric(descVerifyProblems, prometheus.GaugeValue, float64(*custodyProblems), "custody")
			ch <- prometheus.MustNewConstMetric(descVerifyProblems, prometheus.GaugeValue, float64(*auditProblems), "audit")
		}
	}
	// One narrow row per item: cheap next to the events themselves.
	var events int64
	if err := d.pool.QueryRow(ctx, `SELECT coalesce(sum(seq), 0)::bigint FROM custody_heads`).Scan(&events); err != nil {
		fail("custody events", err)
	} else {
		ch <- prometheus.MustNewConstMetric(descCustodyEvents, prometheus.GaugeValue, float64(events))
	}
}
