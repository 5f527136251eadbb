package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/infra"
)

// OrderStatuses are the OrderStatus search attribute's values.
var OrderStatuses = []string{"unpaid", "invoice_expired", "starting_deployment", "provisioned", "failed", "expired"}

// cached runs f at most once per ttl; scrapes in between see the last value.
type cached[T any] struct {
	ttl time.Duration
	f   func(context.Context) (T, error)
	mu  sync.Mutex
	at  time.Time
	val T
	err error
}

func (c *cached[T]) get() (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) >= c.ttl {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.val, c.err = c.f(ctx)
		cancel()
		c.at = time.Now()
	}
	return c.val, c.err
}

var ordersDesc = prometheus.NewDesc("lnplaylive_orders", "Orders by OrderStatus (Temporal visibility).", []string{"status"}, nil)

// OrdersCollector counts the orders of a task queue by status on scrape
// (cached for 15 s: one count query per status).
func OrdersCollector(c client.Client, taskQueue string, log *slog.Logger) prometheus.Collector {
	counts := &cached[map[string]int64]{ttl: 15 * time.Second, f: func(ctx context.Context) (map[string]int64, error) {
		out := map[string]int64{}
		for _, st := range OrderStatuses {
			resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
				Query: fmt.Sprintf("WorkflowType = 'OrderWorkflow' AND TaskQueue = '%s' AND OrderStatus = '%s'", taskQueue, st),
			})
			if err != nil {
				return nil, err
			}
			out[st] = resp.GetCount()
		}
		return out, nil
	}}
	return collectorFunc{desc: ordersDesc, collect: func(ch chan<- prometheus.Metric) {
		counts, err := counts.get()
		if err != nil {
			log.Warn("metrics: count orders", "error", err)
			return
		}
		for st, n := range counts {
			ch <- prometheus.MustNewConstMetric(ordersDesc, prometheus.GaugeValue, float64(n), st)
		}
	}}
}

var liveVMsDesc = prometheus.NewDesc("lnplaylive_live_vms", "Machines the provider holds for lnplaylive.", nil, nil)

// LiveVMsCollector counts the provider's machines on scrape (cached 30 s).
func LiveVMsCollector(p infra.Provider, log *slog.Logger) prometheus.Collector {
	leases := &cached[int]{ttl: 30 * time.Second, f: func(ctx context.Context) (int, error) {
		l, err := p.List(ctx)
		return len(l), err
	}}
	return collectorFunc{desc: liveVMsDesc, collect: func(ch chan<- prometheus.Metric) {
		n, err := leases.get()
		if err != nil {
			log.Warn("metrics: list machines", "error", err)
			return
		}
		ch <- prometheus.MustNewConstMetric(liveVMsDesc, prometheus.GaugeValue, float64(n))
	}}
}

type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
