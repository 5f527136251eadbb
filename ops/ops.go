// Package ops is what an operator does to orders, over Temporal: list and
// show them, extend or end their paid time, retry a failed deployment, run
// the sweeper now. The `lnplaylive` CLI is a thin shell around it.
package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// Ops acts on the orders of one task queue.
type Ops struct {
	Client    client.Client
	TaskQueue string
	// DataConverter reads memos the workers wrote; nil is the SDK default.
	DataConverter converter.DataConverter
}

// Row is one order in a listing.
type Row struct {
	ID        string     `json:"id"`
	Status    string     `json:"status"`
	Workflow  string     `json:"workflow_status"`
	NodeCount int64      `json:"node_count"`
	Hours     int64      `json:"hours"`
	PaidAt    *time.Time `json:"paid_at,omitempty"`
	Source    string     `json:"source,omitempty"` // "operator" for operator-issued orders
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// List returns orders, newest first, optionally only those with an
// OrderStatus (unpaid, invoice_expired, starting_deployment, provisioned,
// failed, expired).
func (o Ops) List(ctx context.Context, status string, limit int) ([]Row, error) {
	q := "WorkflowType = 'OrderWorkflow'"
	if o.TaskQueue != "" {
		q += fmt.Sprintf(" AND TaskQueue = '%s'", o.TaskQueue)
	}
	if status != "" {
		if strings.ContainsAny(status, `'"\`) {
			return nil, fmt.Errorf("status %q: not a status", status)
		}
		q += fmt.Sprintf(" AND OrderStatus = '%s'", status)
	}
	var rows []Row
	err := o.each(ctx, q, func(e *workflowpb.WorkflowExecutionInfo) bool {
		r := Row{ID: strings.TrimPrefix(e.GetExecution().GetWorkflowId(), order.LabelPrefix), Workflow: strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))}
		fields := e.GetSearchAttributes().GetIndexedFields()
		dc := converter.GetDefaultDataConverter()
		if p, ok := fields["OrderStatus"]; ok {
			_ = dc.FromPayload(p, &r.Status)
		}
		if p, ok := fields["NodeCount"]; ok {
			_ = dc.FromPayload(p, &r.NodeCount)
		}
		if p, ok := fields["Hours"]; ok {
			_ = dc.FromPayload(p, &r.Hours)
		}
		if p, ok := fields["OrderSource"]; ok {
			_ = dc.FromPayload(p, &r.Source)
		}
		for name, dst := range map[string]**time.Time{"PaidAt": &r.PaidAt, "ExpiresAt": &r.ExpiresAt} {
			if p, ok := fields[name]; ok {
				var t time.Time
				if dc.FromPayload(p, &t) == nil {
					*dst = &t
				}
			}
		}
		rows = append(rows, r)
		return limit <= 0 || len(rows) < limit
	})
	return rows, err
}

// Unserved returns the payments that bought nothing (an extension paid
// after its order ended, or past the cap on paid hours), newest first: the
// operator refunds them.
func (o Ops) Unserved(ctx context.Context, limit int) ([]workflows.UnservedRecord, error) {
	q := fmt.Sprintf("WorkflowType = 'UnservedPaymentWorkflow' AND OrderStatus = '%s'", workflows.StatusUnservedPayment)
	if o.TaskQueue != "" {
		q += fmt.Sprintf(" AND TaskQueue = '%s'", o.TaskQueue)
	}
	dc := o.DataConverter
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	var recs []workflows.UnservedRecord
	var decodeErr error
	err := o.each(ctx, q, func(e *workflowpb.WorkflowExecutionInfo) bool {
		var rec workflows.UnservedRecord
		p, ok := e.GetMemo().GetFields()[workflows.MemoUnserved]
		if !ok {
			decodeErr = fmt.Errorf("unserved payment %s has no %q memo", e.GetExecution().GetWorkflowId(), workflows.MemoUnserved)
			return false
		}
		if err := dc.FromPayload(p, &rec); err != nil {
			decodeErr = fmt.Errorf("unserved payment %s: read its memo (is the codec key set?): %w", e.GetExecution().GetWorkflowId(), err)
			return false
		}
		recs = append(recs, rec)
		return limit <= 0 || len(recs) < limit
	})
	if err == nil {
		err = decodeErr
	}
	return recs, err
}

// each calls f on the executions that match a visibility query, page by
// page, until f returns false or the pages end.
func (o Ops) each(ctx context.Context, query string, f func(*workflowpb.WorkflowExecutionInfo) bool) error {
	var token []byte
	for {
		resp, err := o.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token, PageSize: 100})
		if err != nil {
			return fmt.Errorf("list workflows (%s): %w", query, err)
		}
		for _, e := range resp.GetExecutions() {
			if !f(e) {
				return nil
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return nil
		}
	}
}

func workflowID(id string) (string, error) {
	oid, err := order.ParseID(id)
	if err != nil {
		return "", fmt.Errorf("%q: not an order id", id)
	}
	return oid.WorkflowID(), nil
}

// Show returns an order's state, runes included (decrypted by the codec).
func (o Ops) Show(ctx context.Context, id string) (workflows.State, error) {
	wid, err := workflowID(id)
	if err != nil {
		return workflows.State{}, err
	}
	v, err := o.Client.QueryWorkflow(ctx, wid, "", workflows.QueryStatus)
	if err != nil {
		return workflows.State{}, fmt.Errorf("query order %s: %w", id, err)
	}
	var st workflows.State
	return st, v.Get(&st)
}

// ErrNotServed: the order has no running, paid deployment to act on.
var ErrNotServed = errors.New("the order is not paid and running")

func (o Ops) servedOrder(ctx context.Context, id string) (string, error) {
	wid, err := workflowID(id)
	if err != nil {
		return "", err
	}
	st, err := o.Show(ctx, id)
	if err != nil {
		return "", err
	}
	d, err := o.Client.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return "", err
	}
	if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || st.Deployment == nil {
		return "", fmt.Errorf("order %s: %w", id, ErrNotServed)
	}
	return wid, nil
}

// Extend adds hours to a paid order's time: its vm_expiration_date and the
// timer that deletes the VM move together.
func (o Ops) Extend(ctx context.Context, id string, hours int, reason string) error {
	if hours < 1 || hours > 24*365 {
		return fmt.Errorf("hours: must be from 1 to %d", 24*365)
	}
	wid, err := o.servedOrder(ctx, id)
	if err != nil {
		return err
	}
	return o.Client.SignalWorkflow(ctx, wid, "", workflows.SignalExtend, workflows.Extend{Hours: hours, Reason: reason})
}

// Teardown ends a paid order now: its VM is deleted and it ends expired.
func (o Ops) Teardown(ctx context.Context, id string) error {
	wid, err := o.servedOrder(ctx, id)
	if err != nil {
		return err
	}
	return o.Client.SignalWorkflow(ctx, wid, "", workflows.SignalTeardown, nil)
}

// Retry runs a failed deployment again, as a new run of the same order
// that starts already paid with the original payment (the paid time is not
// restarted). Only an order that ended failed can be retried.
func (o Ops) Retry(ctx context.Context, id string) error {
	wid, err := workflowID(id)
	if err != nil {
		return err
	}
	var res workflows.Result
	if err := o.Client.GetWorkflow(ctx, wid, "").Get(ctx, &res); err != nil {
		return fmt.Errorf("order %s has not ended (or ended abnormally): %w", id, err)
	}
	if !res.Paid || res.Status != order.Failed || res.Payment == nil {
		return fmt.Errorf("order %s ended %q, not failed: nothing to retry", id, res.Status)
	}
	in := res.Order
	in.Prepaid = res.Payment
	_, err = o.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: wid, TaskQueue: o.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.OrderWorkflow, in)
	return err
}

// SweepNow triggers the sweeper's schedule.
func (o Ops) SweepNow(ctx context.Context) error {
	return o.Client.ScheduleClient().GetHandle(ctx, SweepScheduleID(o.TaskQueue)).Trigger(ctx, client.ScheduleTriggerOptions{})
}

// SweepScheduleID names the sweeper's schedule of a task queue.
func SweepScheduleID(taskQueue string) string { return taskQueue + "-sweeper" }
