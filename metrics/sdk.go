// Package metrics exposes the worker's metrics to Prometheus: the Temporal
// SDK's own (through Handler), the orders by status, the live VMs, and
// what workflows and activities record (payment → provisioned, sweeper
// deletions) through the SDK's replay-safe metrics API.
package metrics

import (
	"errors"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// Handler implements the SDK's metrics handler on a Prometheus registry.
// A metric's label names are fixed by its first use (Prometheus requires
// one label set per name); later tags outside that set are dropped.
type Handler struct {
	store *store
	tags  map[string]string
}

type store struct {
	reg      prometheus.Registerer
	mu       sync.Mutex
	counters map[string]*vec[*prometheus.CounterVec]
	gauges   map[string]*vec[*prometheus.GaugeVec]
	timers   map[string]*vec[*prometheus.HistogramVec]
}

type vec[T any] struct {
	v      T
	labels []string
}

// NewHandler registers SDK metrics in reg as they appear.
func NewHandler(reg prometheus.Registerer) *Handler {
	return &Handler{store: &store{reg: reg, counters: map[string]*vec[*prometheus.CounterVec]{},
		gauges: map[string]*vec[*prometheus.GaugeVec]{}, timers: map[string]*vec[*prometheus.HistogramVec]{}}}
}

var _ client.MetricsHandler = (*Handler)(nil)

var invalid = regexp.MustCompile(`[^a-zA-Z0-9_]`)

func sanitize(s string) string { return invalid.ReplaceAllString(s, "_") }

// WithTags returns a handler adding tags to every metric.
func (h *Handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[sanitize(k)] = v
	}
	return &Handler{store: h.store, tags: merged}
}

func (h *Handler) labelNames() []string {
	names := make([]string, 0, len(h.tags))
	for k := range h.tags {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (h *Handler) values(labels []string) []string {
	vals := make([]string, len(labels))
	for i, l := range labels {
		vals[i] = h.tags[l]
	}
	return vals
}

func lookup[T any](s *store, m map[string]*vec[T], name string, labels []string, make func(string, []string) (T, prometheus.Collector)) *vec[T] {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := m[name]; ok {
		return v
	}
	t, c := make(name, labels)
	v := &vec[T]{v: t, labels: labels}
	if err := s.reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				v.v = existing
			}
		}
	}
	m[name] = v
	return v
}

// Counter implements the SDK's counter.
func (h *Handler) Counter(name string) client.MetricsCounter {
	n := sanitize(name)
	v := lookup(h.store, h.store.counters, n, h.labelNames(), func(n string, l []string) (*prometheus.CounterVec, prometheus.Collector) {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: n, Help: "Temporal SDK / lnplaylive counter " + n}, l)
		return c, c
	})
	c := v.v.WithLabelValues(h.values(v.labels)...)
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

// Gauge implements the SDK's gauge.
func (h *Handler) Gauge(name string) client.MetricsGauge {
	n := sanitize(name)
	v := lookup(h.store, h.store.gauges, n, h.labelNames(), func(n string, l []string) (*prometheus.GaugeVec, prometheus.Collector) {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: "Temporal SDK / lnplaylive gauge " + n}, l)
		return g, g
	})
	g := v.v.WithLabelValues(h.values(v.labels)...)
	return gaugeFunc(g.Set)
}

// Timer implements the SDK's timer as a histogram in seconds.
func (h *Handler) Timer(name string) client.MetricsTimer {
	n := strings.TrimSuffix(sanitize(name), "_latency") + "_seconds"
	v := lookup(h.store, h.store.timers, n, h.labelNames(), func(n string, l []string) (*prometheus.HistogramVec, prometheus.Collector) {
		hv := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: n, Help: "Temporal SDK / lnplaylive duration " + n,
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}}, l)
		return hv, hv
	})
	o := v.v.WithLabelValues(h.values(v.labels)...)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(d float64) { f(d) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
