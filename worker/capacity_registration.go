package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/lnplaylive/lnplaylive/activities"
	"github.com/lnplaylive/lnplaylive/capacity"
	"github.com/lnplaylive/lnplaylive/infra/hostpool"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// CapacityConfigFor is what a worker with this provider registers.
func CapacityConfigFor(kind string, pool []hostpool.Slot) workflows.CapacityConfig {
	cfg := workflows.CapacityConfig{Provider: kind}
	for _, s := range pool {
		cfg.Slots = append(cfg.Slots, workflows.Slot{ID: s.ID, MaxNodes: s.MaxNodes, Host: s.Host})
	}
	return cfg
}

// registerCapacity tells the task queue's capacity workflow (starting it if
// it is not running) what this worker deploys with. It needs a worker
// polling, since an update completes in the workflow; it retries while the
// server or the workflow is not ready.
func registerCapacity(ctx context.Context, c client.Client, taskQueue string, cfg workflows.CapacityConfig, log *slog.Logger) error {
	backoff := 200 * time.Millisecond
	for {
		err := configure(ctx, c, taskQueue, cfg)
		if err == nil {
			log.Info("capacity registered", "provider", cfg.Provider, "slots", len(cfg.Slots))
			return nil
		}
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			return fmt.Errorf("register capacity: %w", err) // refused: the config is wrong
		}
		log.Warn("registering capacity; retrying", "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("register capacity: %w", err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func configure(ctx context.Context, c client.Client, taskQueue string, cfg workflows.CapacityConfig) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       workflows.CapacityWorkflowID(taskQueue),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, workflows.CapacityWorkflow, workflows.CapacityState{})
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   workflows.UpdateConfigure,
			Args:         []any{cfg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return err
	}
	return h.Get(ctx, nil)
}

// capacityLeaser keeps a host pool's leases in the capacity workflow.
type capacityLeaser struct{ c capacity.Client }

func (l capacityLeaser) Acquire(ctx context.Context, orderID string, nodeCount int) (hostpool.Lease, error) {
	sl, err := l.c.Acquire(ctx, orderID, nodeCount)
	if errors.Is(err, capacity.ErrNoFreeSlot) {
		return hostpool.Lease{}, fmt.Errorf("%w: %v", hostpool.ErrNoFreeSlot, err)
	}
	if err != nil {
		return hostpool.Lease{}, err
	}
	return toLease(sl), nil
}

func (l capacityLeaser) Release(ctx context.Context, orderID string) error {
	return l.c.Release(ctx, orderID)
}

func (l capacityLeaser) Leases(ctx context.Context) ([]hostpool.Lease, error) {
	st, err := l.c.State(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]hostpool.Lease, 0, len(st.Leases))
	for _, sl := range st.Leases {
		out = append(out, toLease(sl))
	}
	return out, nil
}

func toLease(sl workflows.SlotLease) hostpool.Lease {
	return hostpool.Lease{OrderID: sl.OrderID, SlotID: sl.Slot.ID, Host: sl.Slot.Host, LeasedAt: sl.LeasedAt, Held: sl.Held()}
}

// registerAdmission puts the admission and warm-pool activities on w:
// they ask the capacity workflow, which decides.
func registerAdmission(w sdkworker.Registry, leases capacity.Client, orders activities.OrderLookup) {
	w.RegisterActivityWithOptions(leases.Admit, activity.RegisterOptions{Name: workflows.ActivityAdmit})
	w.RegisterActivityWithOptions(leases.Release, activity.RegisterOptions{Name: workflows.ActivityReleaseAdmission})
	w.RegisterActivityWithOptions(leases.Claim, activity.RegisterOptions{Name: workflows.ActivityClaimWarm})
	w.RegisterActivityWithOptions(func(ctx context.Context, in workflows.WarmInput) error {
		_, err := leases.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.WarmWorkflowID(in.ID), TaskQueue: leases.TaskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		}, workflows.WarmPlaygroundWorkflow, in)
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return nil // a retry: it runs already
		}
		return err
	}, activity.RegisterOptions{Name: workflows.ActivityStartWarm})
	w.RegisterActivityWithOptions(func(ctx context.Context, orderID string) (bool, error) {
		live, _, err := orders.Lookup(ctx, orderID)
		return live, err
	}, activity.RegisterOptions{Name: workflows.ActivityOrderLive})
}
