package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ErrTypeNeverFits refuses an order that no configured capacity can ever
// take (more nodes than the pool's biggest slot): queueing it would be a
// wait without end.
const ErrTypeNeverFits = "NeverFits"

// validateAdmit refuses, without a trace in history, what can never be
// admitted.
func (c *capacity) validateAdmit(_ workflow.Context, req AdmitRequest) error {
	if req.OrderID == "" || req.WorkflowID == "" || req.NodeCount < 1 {
		return temporal.NewNonRetryableApplicationError("malformed admission request", "BadRequest", nil)
	}
	if _, has := c.leases[req.OrderID]; has {
		return nil
	}
	if most := c.maxNodes(); most > 0 && req.NodeCount > most {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("no slot in the host pool takes %d nodes (the biggest takes %d)", req.NodeCount, most), ErrTypeNeverFits, nil)
	}
	return nil
}

// maxNodes is the biggest order a host pool can take (0: no bound).
func (c *capacity) maxNodes() int {
	if c.cfg.Provider != ProviderHosts {
		return 0
	}
	most := -1 // a pool without slots takes nothing
	for _, s := range c.cfg.Slots {
		most = max(most, s.MaxNodes)
	}
	return most
}

// admit gives a paid order its lease, or its place in the queue. It is
// idempotent per order: an order that asks again (its activity was
// retried) gets its lease or its current place, never a second one.
func (c *capacity) admit(ctx workflow.Context, req AdmitRequest) (Admission, error) {
	if l, ok := c.leases[req.OrderID]; ok {
		if !l.Held() { // reserved for its invoice before admission existed
			l.Until, l.EndsAt = time.Time{}, req.EndsAt
			c.leases[req.OrderID] = l
			c.changed = true
		}
		return Admission{Admitted: true, Lease: l}, nil
	}
	if i := c.queued(req.OrderID); i >= 0 {
		return c.placeOf(ctx, i), nil
	}
	// Nobody waits ahead of it: no one is overtaken.
	if len(c.queue) == 0 {
		if l, ok := c.grant(ctx, req); ok {
			return Admission{Admitted: true, Lease: l}, nil
		}
	}
	req.QueuedAt = workflow.Now(ctx)
	c.queue = append(c.queue, req)
	c.changed = true
	adm := c.placeOf(ctx, len(c.queue)-1)
	c.told[req.OrderID] = adm
	workflow.GetLogger(ctx).Info("paid order queued", "Order", req.OrderID, "Position", adm.Position)
	return adm, nil
}

// grant leases capacity to req if some is free now.
func (c *capacity) grant(ctx workflow.Context, req AdmitRequest) (SlotLease, bool) {
	l := SlotLease{OrderID: req.OrderID, NodeCount: req.NodeCount, LeasedAt: workflow.Now(ctx), EndsAt: req.EndsAt}
	switch c.cfg.Provider {
	case ProviderHosts:
		slot, ok := c.freeSlot(req.NodeCount)
		if !ok {
			return SlotLease{}, false
		}
		l.Slot = slot
	case ProviderHetzner:
		if c.cfg.MaxMachines > 0 && len(c.leases) >= c.cfg.MaxMachines {
			return SlotLease{}, false
		}
	default: // no provider registered yet: paid orders wait for one
		return SlotLease{}, false
	}
	c.leases[req.OrderID] = l
	c.changed = true
	workflow.GetLogger(ctx).Info("order admitted", "Order", req.OrderID, "Slot", l.Slot.ID)
	return l, true
}

func (c *capacity) queued(orderID string) int {
	return slices.IndexFunc(c.queue, func(r AdmitRequest) bool { return r.OrderID == orderID })
}

// placeOf is the Admission of the i-th queued order. Its estimate: each
// order ahead of it, and itself, takes the next lease that ends, so it
// starts when the (i+1)-th earliest paid end among the leases is reached.
// An estimate, not a promise: extensions and early teardowns move it.
func (c *capacity) placeOf(ctx workflow.Context, i int) Admission {
	adm := Admission{Position: i + 1}
	var ends []time.Time
	for _, l := range c.leases {
		if l.Held() && !l.EndsAt.IsZero() {
			ends = append(ends, l.EndsAt)
		}
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	if i < len(ends) {
		adm.EstimatedStart = ends[i]
		if now := workflow.Now(ctx); adm.EstimatedStart.Before(now) {
			adm.EstimatedStart = now // overdue: its release is under way
		}
	}
	return adm
}

// serve admits queued orders, first come first served, while capacity is
// free, and tells every order still waiting where it now stands. Strictly
// first come: a big order at the head is not overtaken by smaller ones
// behind it, so it cannot starve.
func (c *capacity) serve(ctx workflow.Context) {
	for len(c.queue) > 0 {
		head := c.queue[0]
		adm := Admission{Admitted: true}
		if cl, ok := c.serveWarm(ctx, head); ok {
			adm.Warm = &cl
		} else if l, ok := c.grant(ctx, head); ok {
			adm.Lease = l
		} else {
			break
		}
		c.queue = c.queue[1:]
		delete(c.told, head.OrderID)
		c.tell(ctx, head, adm)
	}
	for i, req := range c.queue {
		adm := c.placeOf(ctx, i)
		if was, ok := c.told[req.OrderID]; !ok || was.Position != adm.Position || !was.EstimatedStart.Equal(adm.EstimatedStart) {
			c.told[req.OrderID] = adm
			c.tell(ctx, req, adm)
		}
	}
	c.publish(ctx)
}

// tell signals an admission to an order's workflow. An order whose
// workflow is gone (terminated by hand) cannot use its lease or its
// place: both are freed as soon as the signal fails, not at the next
// sweep.
func (c *capacity) tell(ctx workflow.Context, req AdmitRequest, adm Admission) {
	sent := workflow.SignalExternalWorkflow(ctx, req.WorkflowID, "", SignalAdmission, adm)
	c.sending++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { c.sending-- }()
		err := sent.Get(ctx, nil)
		if err == nil {
			return
		}
		workflow.GetLogger(ctx).Warn("admission not delivered", "Order", req.OrderID, "Error", err)
		var gone *temporal.UnknownExternalWorkflowExecutionError
		if errors.As(err, &gone) {
			_, _ = c.release(ctx, req.OrderID)
		}
	})
}

// flushSignals waits until every signal sent is delivered (or failed),
// and every warm playground started has started.
func (c *capacity) flushSignals(ctx workflow.Context) {
	_ = workflow.Await(ctx, func() bool { return c.sending == 0 })
}

// drainWarmSignals handles the warm playgrounds' signals already
// delivered, before the run continues as new: a signal left in a channel
// would be lost with the run.
func (c *capacity) drainWarmSignals(ctx workflow.Context) {
	for {
		var w WarmPlayground
		var id string
		switch {
		case c.warmReadyCh.ReceiveAsync(&w):
			c.warmReady(ctx, w)
		case c.warmGoneCh.ReceiveAsync(&id):
			c.warmGone(ctx, id)
		default:
			return
		}
	}
}

// publish keeps the AdmissionMemo current for createorder.
func (c *capacity) publish(ctx workflow.Context) {
	m := AdmissionMemo{Queued: len(c.queue), MaxNodes: max(c.maxNodes(), 0), Unavailable: c.cfg.Unavailable}
	if c.memoSet && m == c.memo {
		return
	}
	if err := workflow.UpsertMemo(ctx, map[string]any{MemoAdmission: m}); err != nil {
		workflow.GetLogger(ctx).Warn("publish the admission memo", "Error", err)
		return
	}
	c.memo, c.memoSet = m, true
}
