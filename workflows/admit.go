package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lnplaylive/lnplaylive/order"
)

// admitOptions: asking for admission is one workflow update, answered at
// once (a lease or a place in the queue) and idempotent per order. It is
// retried while the capacity workflow or Temporal is away, for as long as
// a deployment may take to start; an order that can never fit fails at
// once.
var admitOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 20 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: []string{ErrTypeNeverFits, "BadRequest"},
	},
}

// errLeftQueue: the order's paid time ended, or an operator ended it,
// while it waited in the queue. Nothing was deployed.
var errLeftQueue = errors.New("left the queue before admission")

// admit takes the order's capacity from the capacity workflow, waiting in
// its queue (status `queued`, with place and estimate) while there is
// none. The queue does not stop the paid clock (SPEC §3: the end is the
// payment time plus the hours); an order still queued at its end gets
// nothing and says so.
//
// It returns the warm playground the order was admitted to, if one was
// ready when its turn came.
func (o *orderRun) admit(ctx workflow.Context) (*WarmClaim, error) {
	req := AdmitRequest{OrderID: o.in.OrderID.String(), WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		NodeCount: o.in.NodeCount, EndsAt: o.expiration}
	var adm Admission
	// From the request on, the order may hold capacity or a place: it is
	// given back however the order ends.
	o.admitted = true
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, admitOptions), ActivityAdmit, req).Get(ctx, &adm); err != nil {
		return nil, fmt.Errorf("admission: %w", err)
	}
	admissions := workflow.GetSignalChannel(ctx, SignalAdmission)
	teardownCh := workflow.GetSignalChannel(ctx, SignalTeardown)
	for !adm.Admitted {
		o.state.Deployment.Progress = &order.Progress{Step: order.StepQueued, NodeCount: o.in.NodeCount,
			Position: adm.Position, EstimatedStart: formatOptional(adm.EstimatedStart)}
		o.publish(ctx)
		wait := o.expiration.Sub(workflow.Now(ctx))
		if wait <= 0 {
			workflow.GetLogger(ctx).Warn("paid time over while queued; nothing deployed")
			return nil, errLeftQueue
		}
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		over := false
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(workflow.Future) { over = true })
		sel.AddReceive(admissions, func(c workflow.ReceiveChannel, _ bool) {
			var next Admission
			c.Receive(ctx, &next)
			// A place only moves up; an admission ends the wait.
			if next.Admitted || next.Position <= adm.Position {
				adm = next
			}
		})
		o.onTeardown(ctx, sel, teardownCh, &over)
		sel.Select(ctx)
		cancelTimer()
		if over {
			return nil, errLeftQueue
		}
	}
	workflow.GetLogger(ctx).Info("admitted", "Slot", adm.Lease.Slot.ID)
	return adm.Warm, nil
}

func formatOptional(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return order.FormatTime(t)
}
