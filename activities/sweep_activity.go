package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
)

// OrderLookup tells whether an order's workflow is still running and, if
// known, when its paid time ends (an operator may have extended it since
// the machine's label was written).
type OrderLookup interface {
	Lookup(ctx context.Context, orderID string) (live bool, expiresAt time.Time, err error)
}

// AdmissionKeeper is where paid orders hold capacity or wait for it (the
// capacity workflow): an order whose workflow was terminated by hand keeps
// its lease or its place there until the sweeper frees it.
type AdmissionKeeper interface {
	// Holders lists the orders holding a lease or a place in the queue.
	Holders(ctx context.Context) ([]string, error)
	Release(ctx context.Context, orderID string) error
}

// MetricSweeperDeletions counts machines the sweeper deleted.
const MetricSweeperDeletions = "lnplaylive_sweeper_deletions"

// SweepInput tunes the sweep.
type SweepInput struct {
	// Grace past a lease's recorded expiry after which it is deleted even if
	// its workflow still runs (SPEC §4: no later than 10 minutes).
	Grace time.Duration `json:"grace"`
}

// SweepResult says what the sweep saw and did.
type SweepResult struct {
	Checked int      `json:"checked"`
	Deleted []string `json:"deleted"` // order ids whose machines were deleted
	// Freed lists orders no longer live whose admission (a lease without
	// a machine, or a place in the queue) was given back.
	Freed []string `json:"freed,omitempty"`
}

// Sweep deletes every machine whose order is not live (its workflow ended,
// failed or never existed) or whose paid time ended more than Grace ago. A
// lookup error stops the sweep: a machine is never deleted on a guess.
func (a *Activities) Sweep(ctx context.Context, in SweepInput) (SweepResult, error) {
	var res SweepResult
	if a.Provider == nil || a.Orders == nil {
		return res, nil // nothing to sweep on this worker
	}
	leases, err := a.Provider.List(ctx)
	if err != nil {
		return res, temporalError(fmt.Errorf("sweep: list machines: %w", err))
	}
	log := activity.GetLogger(ctx)
	now := time.Now()
	for _, l := range leases {
		res.Checked++
		activity.RecordHeartbeat(ctx, res.Checked)
		if l.OrderID == "" {
			log.Warn("sweep: managed machine without an order label; left for an operator", "MachineID", l.ID)
			continue
		}
		live, expiresAt, err := a.Orders.Lookup(ctx, l.OrderID)
		if err != nil {
			return res, fmt.Errorf("sweep: is order %s live: %w", l.OrderID, err)
		}
		if expiresAt.IsZero() {
			expiresAt = l.ExpiresAt
		}
		late := !expiresAt.IsZero() && now.After(expiresAt.Add(in.Grace))
		if live && !late {
			continue
		}
		if err := a.Provider.Release(ctx, l.OrderID, heartbeater(ctx)); err != nil {
			return res, temporalError(fmt.Errorf("sweep: release order %s: %w", l.OrderID, err))
		}
		log.Warn("sweep: deleted a machine with no live order", "Order", l.OrderID, "MachineID", l.ID,
			"OrderLive", live, "PastExpiry", late)
		res.Deleted = append(res.Deleted, l.OrderID)
		activity.GetMetricsHandler(ctx).Counter(MetricSweeperDeletions).Inc(1)
	}
	return res, a.sweepAdmissions(ctx, &res)
}

// sweepAdmissions frees the admissions of orders that are no longer live,
// once their machines are gone (above).
func (a *Activities) sweepAdmissions(ctx context.Context, res *SweepResult) error {
	if a.Admissions == nil {
		return nil
	}
	holders, err := a.Admissions.Holders(ctx)
	if err != nil {
		return temporalError(fmt.Errorf("sweep: list admissions: %w", err))
	}
	for _, id := range holders {
		live, _, err := a.Orders.Lookup(ctx, id)
		if err != nil {
			return fmt.Errorf("sweep: is order %s live: %w", id, err)
		}
		if live {
			continue
		}
		if err := a.Admissions.Release(ctx, id); err != nil {
			return temporalError(fmt.Errorf("sweep: free the admission of order %s: %w", id, err))
		}
		activity.GetLogger(ctx).Warn("sweep: freed the admission of an order that is not live", "Order", id)
		res.Freed = append(res.Freed, id)
	}
	return nil
}
