// Package capacity is the client side of the capacity workflow
// (workflows.CapacityWorkflow): which provider the worker registered, and
// the host pool's slot leases. The plugin, the worker and the operator CLI
// all speak to it through here.
package capacity

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/lnplaylive/lnplaylive/codec"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// ErrNoFreeSlot: every pool slot that fits the order is leased.
var ErrNoFreeSlot = errors.New("no free slot")

// Client reaches one task queue's capacity workflow.
type Client struct {
	Temporal  client.Client
	TaskQueue string
	// DataConverter reads the workflow's memo (it may be encrypted); nil is
	// the SDK default.
	DataConverter converter.DataConverter
}

func (c Client) id() string { return workflows.CapacityWorkflowID(c.TaskQueue) }

// Provider returns the provider kind the worker registered, "" when no
// worker has registered yet. It reads the memo with a describe, so it
// answers while no worker runs.
func (c Client) Provider(ctx context.Context) (string, error) {
	r, err := c.Registration(ctx)
	return r.Provider, err
}

// Registration is what createorder needs to know of the capacity workflow,
// read from its memo.
type Registration struct {
	Provider  string // "" when no worker has registered yet
	Admission workflows.AdmissionMemo
}

// Registration reads the registered provider and the admission queue with
// one describe: no worker needed, and cheap enough for every createorder.
func (c Client) Registration(ctx context.Context) (Registration, error) {
	var r Registration
	resp, err := c.Temporal.DescribeWorkflowExecution(ctx, c.id(), "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("read the registered provider: %w", err)
	}
	dc := c.DataConverter
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	fields := resp.GetWorkflowExecutionInfo().GetMemo().GetFields()
	if p, ok := fields[workflows.MemoProvider]; ok {
		if err := dc.FromPayload(p, &r.Provider); err != nil {
			return r, fmt.Errorf("read the registered provider: %w", err)
		}
	}
	if p, ok := fields[workflows.MemoAdmission]; ok {
		if err := dc.FromPayload(p, &r.Admission); err != nil {
			return r, fmt.Errorf("read the admission queue: %w", err)
		}
	}
	return r, nil
}

// ErrNoWorkerYet: no worker has run on the task queue (its capacity
// workflow does not exist), so there is nothing to check codec keys
// against.
var ErrNoWorkerYet = errors.New("no worker has run on this task queue yet")

// CheckCodec tells whether cdc (nil: none configured) reads what the
// workers write. It judges from the capacity workflow's start input, which
// the first worker writes (and every continue-as-new writes again) with
// its own codec: it exists as soon as any worker has run, whatever the
// workflow has done since. The registered provider in its memo is checked
// too when present. ErrNoWorkerYet when no worker has run.
func (c Client) CheckCodec(ctx context.Context, cdc *codec.Codec) error {
	resp, err := c.Temporal.DescribeWorkflowExecution(ctx, c.id(), "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("%w (no workflow %s): codec keys not checked", ErrNoWorkerYet, c.id())
	}
	if err != nil {
		return fmt.Errorf("read the capacity workflow: %w", err)
	}
	if p, ok := resp.GetWorkflowExecutionInfo().GetMemo().GetFields()[workflows.MemoProvider]; ok {
		if err := codec.CheckReadable(p, cdc); err != nil {
			return err
		}
	}
	run := resp.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	it := c.Temporal.GetWorkflowHistory(ctx, c.id(), run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return fmt.Errorf("read the capacity workflow's history: it is empty")
	}
	first, err := it.Next()
	if err != nil {
		return fmt.Errorf("read the capacity workflow's history: %w", err)
	}
	for _, p := range first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads() {
		if err := codec.CheckReadable(p, cdc); err != nil {
			return err
		}
	}
	return nil
}

// Reserve holds a slot for an order until `until` (an unpaid invoice).
func (c Client) Reserve(ctx context.Context, orderID string, nodeCount int, until time.Time) (workflows.SlotLease, error) {
	return c.lease(ctx, workflows.UpdateReserve, workflows.LeaseRequest{OrderID: orderID, NodeCount: nodeCount, Until: until})
}

// Acquire gives a paid order its slot (the one it reserved, or any free
// one) until Release.
func (c Client) Acquire(ctx context.Context, orderID string, nodeCount int) (workflows.SlotLease, error) {
	return c.lease(ctx, workflows.UpdateAcquire, workflows.LeaseRequest{OrderID: orderID, NodeCount: nodeCount})
}

func (c Client) lease(ctx context.Context, name string, req workflows.LeaseRequest) (workflows.SlotLease, error) {
	var l workflows.SlotLease
	err := c.update(ctx, name, req, &l)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeNoCapacity {
		return l, fmt.Errorf("%w: %s", ErrNoFreeSlot, appErr.Message())
	}
	return l, err
}

// Admit asks admission for a paid order: its lease, or its place in the
// queue. An order that can never fit is refused for good (non-retryable).
func (c Client) Admit(ctx context.Context, req workflows.AdmitRequest) (workflows.Admission, error) {
	var adm workflows.Admission
	err := c.update(ctx, workflows.UpdateAdmit, req, &adm)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeNeverFits {
		return adm, temporal.NewNonRetryableApplicationError(appErr.Message(), workflows.ErrTypeNeverFits, nil)
	}
	if err != nil {
		return adm, fmt.Errorf("admit order %s: %w", req.OrderID, err)
	}
	return adm, nil
}

// Release frees the order's slot or its place in the queue; freeing none
// succeeds.
func (c Client) Release(ctx context.Context, orderID string) error {
	return c.update(ctx, workflows.UpdateRelease, orderID, nil)
}

// Claim hands the order a ready warm playground of its size, if one is.
func (c Client) Claim(ctx context.Context, req workflows.ClaimRequest) (workflows.WarmClaim, error) {
	var cl workflows.WarmClaim
	if err := c.update(ctx, workflows.UpdateClaim, req, &cl); err != nil {
		return cl, fmt.Errorf("claim a warm playground for order %s: %w", req.OrderID, err)
	}
	return cl, nil
}

// Holders lists the orders holding a paid lease or a place in the queue
// (not reservations, which lapse on their own).
func (c Client) Holders(ctx context.Context) ([]string, error) {
	st, err := c.State(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, l := range st.Leases {
		if l.Held() {
			ids = append(ids, l.OrderID)
		}
	}
	for _, q := range st.Queue {
		ids = append(ids, q.OrderID)
	}
	return ids, nil
}

// State returns the registered config and every lease.
func (c Client) State(ctx context.Context) (workflows.CapacityState, error) {
	var st workflows.CapacityState
	v, err := c.Temporal.QueryWorkflow(ctx, c.id(), "", workflows.QueryCapacity)
	if err != nil {
		return st, fmt.Errorf("query capacity: %w", err)
	}
	return st, v.Get(&st)
}

func (c Client) update(ctx context.Context, name string, arg, out any) error {
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: c.id(), UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	return h.Get(ctx, out)
}
