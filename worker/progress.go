package worker

import (
	"context"

	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/workflows"
)

// signalProgress reports bootstrap progress to the order's workflow.
type signalProgress struct{ c client.Client }

func (s signalProgress) Progress(ctx context.Context, orderID, step string, nodesReady int) error {
	return s.c.SignalWorkflow(ctx, "lnplaylive-"+orderID, "", workflows.SignalProgress,
		workflows.Progress{Step: step, NodesReady: nodesReady})
}
