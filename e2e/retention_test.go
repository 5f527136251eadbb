package e2e

import (
	"context"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// An order whose workflow is gone from Temporal (past retention) still
// answers from its invoice: paid, with the vm_expiration_date lightningd's
// paid_at gives.
func TestOrderGoneFromTemporalAnswersFromItsInvoice(t *testing.T) {
	s := newSystem(t, options{})
	r := s.createOrder(map[string]any{"node_count": 8, "hours": 3})
	id := string(r.BOLT11InvoiceID)
	if err := s.node.Pay("lnplaylive-" + id); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(id, 20*time.Second, paidAndDeploying)
	c := s.client()
	_, err := c.WorkflowService().DeleteWorkflowExecution(context.Background(), &workflowservice.DeleteWorkflowExecutionRequest{
		Namespace: "default", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: "lnplaylive-" + id},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until Temporal no longer knows it, then past the status cache.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := c.DescribeWorkflowExecution(context.Background(), "lnplaylive-"+id, ""); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("workflow not deleted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	st := s.status(id)
	d := st.deployment(t)
	paidAt := time.Unix(s.node.Invoices()[0].PaidAt, 0).UTC()
	if st.InvoiceStatus != "paid" || d.VMExpirationDate != paidAt.Add(3*time.Hour).Format(time.RFC3339) || d.Status != "starting_deployment" {
		t.Fatalf("status %+v %+v", st, d)
	}
}
