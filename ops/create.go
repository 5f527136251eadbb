package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/lnplaylive/lnplaylive/capacity"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// ErrNoCapacity: the order cannot be placed now; nothing was created.
var ErrNoCapacity = errors.New("no capacity")

// reserveFor is how long a slot is held for an operator's order between
// the reservation and its workflow's first acquire (seconds, normally).
const reserveFor = 10 * time.Minute

// CreateRequest is an operator-issued order.
type CreateRequest struct {
	NodeCount int
	Hours     int
	Topology  order.Topology // empty: the default
	Reason    string         // required: why the order costs nothing
	By        string         // who issued it
}

// Create places an order without an invoice: the same OrderWorkflow, the
// same sizes and durations customers can buy, started already paid at
// this moment and marked operator-issued in its status and in the
// OrderSource search attribute. On a host pool a slot is reserved first,
// so a full pool refuses the order before anything exists.
func (o Ops) Create(ctx context.Context, req CreateRequest) (order.ID, error) {
	if strings.TrimSpace(req.Reason) == "" {
		return "", errors.New("a reason is required: it is the only record of why this order is free")
	}
	params := map[string]any{"node_count": req.NodeCount, "hours": req.Hours}
	if req.Topology != "" {
		params["topology"] = req.Topology
	}
	raw, _ := json.Marshal(params)
	valid, err := order.ParseCreateOrder(raw, order.DefaultProducts())
	if err != nil {
		return "", err
	}
	id := order.NewID()
	leases := capacity.Client{Temporal: o.Client, TaskQueue: o.TaskQueue, DataConverter: o.DataConverter}
	reg, err := leases.Registration(ctx)
	if err != nil {
		return "", err
	}
	kind := reg.Provider
	switch {
	case reg.Admission.Unavailable != "":
		return "", fmt.Errorf("%w: the worker cannot deploy now: %s", ErrNoCapacity, reg.Admission.Unavailable)
	case kind == workflows.ProviderNone:
		return "", fmt.Errorf("%w configured: the worker has no provider (it needs HCLOUD_TOKEN or LNPLAYLIVE_HOSTS_FILE)", ErrNoCapacity)
	case kind == workflows.ProviderHosts:
		if _, err := leases.Reserve(ctx, id.String(), req.NodeCount, time.Now().Add(reserveFor)); err != nil {
			if errors.Is(err, capacity.ErrNoFreeSlot) {
				return "", fmt.Errorf("%w: %v", ErrNoCapacity, err)
			}
			return "", fmt.Errorf("reserve a slot: %w", err)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	in := workflows.OrderInput{
		OrderID: id, NodeCount: req.NodeCount, Hours: req.Hours, Topology: valid.Topology, InvoiceExpiresAt: now,
		Prepaid: &workflows.Payment{InvoiceStatus: string(order.InvoicePaid), PaidAt: now},
		Issued:  &workflows.Issue{By: req.By, Reason: req.Reason, At: now},
	}
	attrs, memo := workflows.StartAttributes(in)
	_, err = o.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id.WorkflowID(), TaskQueue: o.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: attrs, Memo: memo,
	}, workflows.OrderWorkflow, in)
	if err != nil {
		if kind == workflows.ProviderHosts {
			// Best effort: the reservation lapses on its own.
			_ = leases.Release(context.WithoutCancel(ctx), id.String())
		}
		return "", fmt.Errorf("start order %s: %w", id, err)
	}
	return id, nil
}
