package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/lnplaylive/lnplaylive/ops"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// temporalOrders answers the sweeper's "is this order live" from Temporal.
type temporalOrders struct{ c client.Client }

func (o temporalOrders) Lookup(ctx context.Context, orderID string) (bool, time.Time, error) {
	d, err := o.c.DescribeWorkflowExecution(ctx, "lnplaylive-"+orderID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, err
	}
	info := d.GetWorkflowExecutionInfo()
	var expiresAt time.Time
	if p, ok := info.GetSearchAttributes().GetIndexedFields()["ExpiresAt"]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &expiresAt)
	}
	return info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, expiresAt, nil
}

// SweepScheduleID names the sweeper's schedule for a task queue.
func SweepScheduleID(taskQueue string) string { return ops.SweepScheduleID(taskQueue) }

// ensureSweepSchedule creates the sweeper's Temporal Schedule if it does not
// exist yet; every worker calls it, the first one wins.
func ensureSweepSchedule(ctx context.Context, c client.Client, taskQueue string, every time.Duration, log *slog.Logger) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      SweepScheduleID(taskQueue),
		Spec:    client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID:        taskQueue + "-sweep",
			Workflow:  workflows.SweepWorkflow,
			TaskQueue: taskQueue,
		},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create sweeper schedule: %w", err)
	}
	log.Info("sweeper scheduled", "schedule", SweepScheduleID(taskQueue), "every", every)
	return nil
}
