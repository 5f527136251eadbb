// Command lnplaylive-worker runs lnplaylive's Temporal workflows and
// activities. Configuration comes from the environment; see docs/CONFIGURATION.md.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/lnplaylive/lnplaylive/activities"
	"github.com/lnplaylive/lnplaylive/internal/debugserver"
	"github.com/lnplaylive/lnplaylive/worker"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if addr := os.Getenv("LNPLAYLIVE_DEBUG_ADDR"); addr != "" {
		stopDebug, err := debugserver.Start(addr, log)
		if err != nil {
			log.Error("debug server", "error", err)
			os.Exit(1)
		}
		defer stopDebug()
	}
	if v := os.Getenv("LNPLAYLIVE_WORKFLOW_CACHE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			log.Error("LNPLAYLIVE_WORKFLOW_CACHE: want a positive number", "value", v)
			os.Exit(1)
		}
		// Must be set before any worker starts. An evicted workflow is
		// replayed from its history on its next task: memory for CPU.
		sdkworker.SetStickyWorkflowCacheSize(n)
	}
	cfg, err := worker.ConfigFromEnv()
	if err != nil {
		log.Error("configure worker", "error", err)
		os.Exit(1)
	}
	cfg.Registry = worker.NewRegistry()
	provider, err := worker.ProviderFromEnv(log, cfg.Registry)
	if err != nil {
		log.Error("configure provider", "error", err)
		os.Exit(1)
	}
	acts := &activities.Activities{Provider: provider}
	boot, err := worker.BootstrapperFromEnv(log)
	if err != nil {
		log.Error("configure bootstrap", "error", err)
		os.Exit(1)
	}
	if boot != nil {
		acts.Bootstrapper = boot
	}
	if err := worker.Run(ctx, cfg, acts, log); err != nil {
		log.Error("worker stopped", "error", err)
		os.Exit(1)
	}
}
