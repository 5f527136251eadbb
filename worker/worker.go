// Package worker hosts lnplaylive's workflows and activities: configuration
// from the environment, the Temporal client, registration, run.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/lnplaylive/lnplaylive/activities"
	"github.com/lnplaylive/lnplaylive/capacity"
	"github.com/lnplaylive/lnplaylive/infra"
	"github.com/lnplaylive/lnplaylive/infra/hostpool"
	"github.com/lnplaylive/lnplaylive/infra/wsproxy"
	"github.com/lnplaylive/lnplaylive/internal/temporalconn"
	"github.com/lnplaylive/lnplaylive/metrics"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// Config is the worker's configuration.
type Config struct {
	Temporal   temporalconn.Config
	TaskQueue  string
	SweepEvery time.Duration
	// MetricsAddr serves Prometheus metrics ("" disables).
	MetricsAddr string
	// Registry collects the metrics; nil disables them.
	Registry *prometheus.Registry
	// MaxMachines bounds the playgrounds live at once on Hetzner (0: no
	// bound): paid orders beyond it wait in the capacity workflow's queue.
	MaxMachines int
	// Warm is the warm pool to keep (LNPLAYLIVE_WARM, _WARM_MAX, _WARM_IDLE).
	Warm workflows.WarmConfig
}

// DefaultMaxMachines is LNPLAYLIVE_MAX_MACHINES when unset.
const DefaultMaxMachines = 10

// ConfigFromEnv reads TEMPORAL_* like the temporal CLI, and LNPLAYLIVE_*.
func ConfigFromEnv() (Config, error) {
	c := Config{Temporal: temporalconn.FromEnv(), TaskQueue: os.Getenv("LNPLAYLIVE_TASK_QUEUE")}
	if c.TaskQueue == "" {
		c.TaskQueue = workflows.DefaultTaskQueue
	}
	c.MetricsAddr = os.Getenv("LNPLAYLIVE_METRICS_ADDR")
	if c.MetricsAddr == "" {
		c.MetricsAddr = "127.0.0.1:9464"
	} else if c.MetricsAddr == "off" {
		c.MetricsAddr = ""
	}
	c.SweepEvery = 5 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("LNPLAYLIVE_SWEEP_EVERY")); err == nil && d > 0 {
		c.SweepEvery = d
	}
	c.MaxMachines = DefaultMaxMachines
	if v := os.Getenv("LNPLAYLIVE_MAX_MACHINES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("LNPLAYLIVE_MAX_MACHINES=%q: want the most playgrounds live at once on Hetzner, 0 for no bound", v)
		}
		c.MaxMachines = n
	}
	warm, err := WarmConfigFromEnv()
	if err != nil {
		return c, err
	}
	c.Warm = warm
	return c, nil
}

// Register puts the workflows and activities on w.
func Register(w sdkworker.Registry, acts *activities.Activities) {
	w.RegisterWorkflow(workflows.OrderWorkflow)
	w.RegisterWorkflow(workflows.SweepWorkflow)
	w.RegisterWorkflow(workflows.CapacityWorkflow)
	w.RegisterWorkflow(workflows.UnservedPaymentWorkflow)
	w.RegisterWorkflow(workflows.WarmPlaygroundWorkflow)
	w.RegisterActivity(acts)
}

// Dial connects to Temporal, waiting for it while ctx lasts: a worker
// started before its server (as compose and `make run` may do) just waits.
func Dial(ctx context.Context, cfg temporalconn.Config, log *slog.Logger, mh client.MetricsHandler) (client.Client, error) {
	opts, err := cfg.Options(log)
	if err != nil {
		return nil, err
	}
	opts.MetricsHandler = mh
	backoff := 200 * time.Millisecond
	for {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			return c, nil
		}
		log.Warn("waiting for Temporal", "address", cfg.Address, "error", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.Address, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// capacityConfig is what the worker registers: the kind its provider is,
// and a pool's slots.
func capacityConfig(p infra.Provider, cfg Config) workflows.CapacityConfig {
	if p == nil {
		return CapacityConfigFor(workflows.ProviderNone, nil)
	}
	var cc workflows.CapacityConfig
	if pool, ok := p.(*hostpool.Provider); ok {
		cc = CapacityConfigFor(workflows.ProviderHosts, pool.Slots())
	} else {
		cc = CapacityConfigFor(workflows.ProviderHetzner, nil)
		cc.MaxMachines = cfg.MaxMachines
	}
	cc.Warm = cfg.Warm
	return cc
}

// checkOutsideWorld runs the provider's start-up check, logging each line.
// It returns why no order can be served ("" when every check passed): the
// worker still runs, so orders already paid go on and are released, but
// it registers that reason and createorder refuses new orders with it.
func checkOutsideWorld(ctx context.Context, p infra.Provider, log *slog.Logger) string {
	checker, ok := p.(infra.Checker)
	if !ok {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	checks := checker.Check(ctx)
	// The attendees' proxy is reported, not a reason to stop selling: the
	// playground works without it (direct ws: links, the CLI), and a proxy
	// outage is for the operator to fix, not for the customer to pay for.
	proxy := wsproxy.Check(ctx, ClamsProxy())
	if proxy.Err != nil {
		log.Error("start-up check failed: attendees' Clams links will not connect until it passes", "check", proxy.Name, "error", proxy.Err, "fix", proxy.Fix)
	} else {
		log.Info("start-up check", "check", proxy.Name, "detail", proxy.Detail)
	}
	for _, c := range checks {
		switch {
		case c.Transient():
			log.Warn("start-up check could not finish: sales go on, and orders retry while it lasts", "check", c.Name, "error", c.Err, "fix", c.Fix)
		case c.Err != nil:
			log.Error("start-up check failed: no order is sold until it passes (fix it, then restart the worker)", "check", c.Name, "error", c.Err, "fix", c.Fix)
		case c.Warning:
			log.Warn("start-up check", "check", c.Name, "detail", c.Detail)
		default:
			log.Info("start-up check", "check", c.Name, "detail", c.Detail)
		}
	}
	return infra.Failed(checks)
}

// Run serves the task queue until ctx ends.
func Run(ctx context.Context, cfg Config, acts *activities.Activities, log *slog.Logger) error {
	var mh client.MetricsHandler
	if cfg.Registry != nil {
		mh = metrics.NewHandler(cfg.Registry)
	}
	c, err := Dial(ctx, cfg.Temporal, log, mh)
	if err != nil {
		return err
	}
	defer c.Close()
	if cfg.Registry != nil && cfg.MetricsAddr != "" {
		cfg.Registry.MustRegister(metrics.OrdersCollector(c, cfg.TaskQueue, log))
		if acts.Provider != nil {
			cfg.Registry.MustRegister(metrics.LiveVMsCollector(acts.Provider, log))
		}
		stop, err := serveMetrics(cfg.MetricsAddr, cfg.Registry, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if acts.Orders == nil {
		acts.Orders = temporalOrders{c}
	}
	if acts.Progress == nil {
		acts.Progress = signalProgress{c}
	}
	// A worker whose keys cannot read what the other workers wrote would
	// fail every task it picks up: it refuses to start, saying why.
	cdc, err := cfg.Temporal.Codec()
	if err != nil {
		return err
	}
	if err := (capacity.Client{Temporal: c, TaskQueue: cfg.TaskQueue}).CheckCodec(ctx, cdc); err != nil && !errors.Is(err, capacity.ErrNoWorkerYet) {
		return fmt.Errorf("codec keys: %w", err)
	}
	if err := workflows.EnsureSearchAttributes(ctx, c, cfg.Temporal.Namespace, log); err != nil {
		return err
	}
	if err := ensureSweepSchedule(ctx, c, cfg.TaskQueue, cfg.SweepEvery, log); err != nil {
		return err
	}
	registered := capacityConfig(acts.Provider, cfg)
	registered.Unavailable = checkOutsideWorld(ctx, acts.Provider, log)
	leases := capacity.Client{Temporal: c, TaskQueue: cfg.TaskQueue}
	if acts.Admissions == nil {
		acts.Admissions = leases
	}
	if pool, ok := acts.Provider.(*hostpool.Provider); ok {
		pool.UseLeaser(capacityLeaser{leases})
	}
	w := sdkworker.New(c, cfg.TaskQueue, sdkworker.Options{})
	Register(w, acts)
	registerAdmission(w, leases, acts.Orders)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on %s: %w", cfg.TaskQueue, err)
	}
	// Registered once this worker polls: the update completes in the
	// capacity workflow, which may need this very worker to run.
	if err := registerCapacity(ctx, c, cfg.TaskQueue, registered, log); err != nil {
		w.Stop()
		return err
	}
	log.Info("worker running", "address", cfg.Temporal.Address, "namespace", cfg.Temporal.Namespace, "task_queue", cfg.TaskQueue)
	<-ctx.Done()
	w.Stop()
	return nil
}
