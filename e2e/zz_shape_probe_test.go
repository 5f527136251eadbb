package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

func timerWorkflow(ctx workflow.Context) error { return workflow.Sleep(ctx, 2*time.Hour) }

func TestZZShapeProbe(t *testing.T) {
	if os.Getenv("PROBE") == "" {
		t.Skip()
	}
	s := newSystem(t, options{})
	c, q := plainStarter(t, s.addr)
	w := worker.New(c, q+"-t", worker.Options{})
	w.RegisterWorkflow(timerWorkflow)
	_ = w.Start()
	defer w.Stop()
	ctx := context.Background()
	in := workflows.OrderInput{OrderID: order.NewID(), NodeCount: 8, Hours: 3}
	attrs, memo := workflows.StartAttributes(in)
	variants := []struct {
		name string
		f    func(int) error
	}{
		{"plain", func(int) error {
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "a-" + order.NewID().String(), TaskQueue: q}, floorWorkflow)
			return err
		}},
		{"plain+SA", func(int) error {
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "b-" + order.NewID().String(), TaskQueue: q, TypedSearchAttributes: attrs}, floorWorkflow)
			return err
		}},
		{"plain+memo", func(int) error {
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "c-" + order.NewID().String(), TaskQueue: q, Memo: memo}, floorWorkflow)
			return err
		}},
		{"timer", func(int) error {
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "d-" + order.NewID().String(), TaskQueue: q + "-t"}, timerWorkflow)
			return err
		}},
		{"timer+SA+memo", func(int) error {
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e-" + order.NewID().String(), TaskQueue: q + "-t", Memo: memo, TypedSearchAttributes: attrs}, timerWorkflow)
			return err
		}},
	}
	_ = temporal.SearchAttributes{}
	for round := 0; round < 2; round++ {
		for _, v := range variants {
			time.Sleep(time.Second)
			_, tp := run(t, 200, 20, v.f)
			t.Logf("%s: %.0f/s", v.name, tp)
		}
	}
}
