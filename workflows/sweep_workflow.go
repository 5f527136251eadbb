package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lnplaylive/lnplaylive/activities"
)

// SweepGrace: a machine is deleted once its paid time is this far behind,
// live workflow or not (SPEC §4 allows at most 10 minutes).
const SweepGrace = 10 * time.Minute

// SweepWorkflow runs from a Schedule every few minutes: it is the safety net
// that deletes machines no live order owns (a workflow terminated by hand, a
// release that was given up, a VM made outside any order).
func SweepWorkflow(ctx workflow.Context) (activities.SweepResult, error) {
	var a *activities.Activities
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		// The next scheduled run retries anyway; three attempts ride out a
		// passing API error without piling runs up.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 3},
	})
	var res activities.SweepResult
	err := workflow.ExecuteActivity(ctx, a.Sweep, activities.SweepInput{Grace: SweepGrace}).Get(ctx, &res)
	return res, err
}
