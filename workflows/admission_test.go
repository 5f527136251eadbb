package workflows

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

type admitOutcome struct {
	adm      Admission
	err      error
	rejected bool
}

func (c *capacityEnv) admit(orderID string, nodes int, endsAt time.Time) *admitOutcome {
	out := &admitOutcome{}
	req := AdmitRequest{OrderID: orderID, WorkflowID: "order-" + orderID, NodeCount: nodes, EndsAt: endsAt}
	c.env.UpdateWorkflow(UpdateAdmit, fmt.Sprint("admit-", orderID, c.env.Now().UnixNano()), &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { out.err, out.rejected = err, true },
		OnComplete: func(v any, err error) {
			out.err = err
			if a, ok := v.(Admission); ok {
				out.adm = a
			}
		},
	}, req)
	return out
}

// told records the admissions the capacity workflow signals, per order;
// gone lists workflows that no longer exist.
type told struct {
	mu   sync.Mutex
	byID map[string][]Admission
}

func (c *capacityEnv) recordSignals(gone ...string) *told {
	tl := &told{byID: map[string][]Admission{}}
	isGone := map[string]bool{}
	for _, g := range gone {
		isGone["order-"+g] = true
	}
	c.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", SignalAdmission, mock.Anything).Return(
		func(_, workflowID, _, _ string, arg any) error {
			if isGone[workflowID] {
				return &temporal.UnknownExternalWorkflowExecutionError{}
			}
			tl.mu.Lock()
			defer tl.mu.Unlock()
			id := workflowID[len("order-"):]
			tl.byID[id] = append(tl.byID[id], arg.(Admission))
			return nil
		})
	return tl
}

func (tl *told) last(id string) (Admission, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	s := tl.byID[id]
	if len(s) == 0 {
		return Admission{}, false
	}
	return s[len(s)-1], true
}

// Paid orders beyond what Hetzner may run wait first come first served;
// each release admits the head and moves everyone up, with an estimate
// from the paid ends of the orders running; never more than MaxMachines.
func TestAdmissionQueuesPaidOrdersFirstComeFirstServed(t *testing.T) {
	c := newCapacityEnv(t)
	tl := c.recordSignals()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	end1, end2 := t0.Add(3*time.Hour), t0.Add(5*time.Hour)
	outs := map[string]*admitOutcome{}
	var again *admitOutcome
	var full, afterFirst, afterAll CapacityState
	c.after(time.Second, func() { c.update(UpdateConfigure, CapacityConfig{Provider: ProviderHetzner, MaxMachines: 2}) })
	c.after(2*time.Second, func() { outs["a"] = c.admit("a", 8, end1) })
	c.after(3*time.Second, func() { outs["b"] = c.admit("b", 8, end2) })
	for i, id := range []string{"c", "d", "e"} {
		c.after(time.Duration(4+i)*time.Second, func() { outs[id] = c.admit(id, 8, t0.Add(10*time.Hour)) })
	}
	c.after(8*time.Second, func() { again = c.admit("d", 8, t0.Add(10*time.Hour)) })
	c.after(9*time.Second, func() { full = c.state() })
	c.after(10*time.Second, func() { c.update(UpdateRelease, "a") })
	c.after(11*time.Second, func() { afterFirst = c.state() })
	// "e" gives up (its paid time ended in the queue): "d" is unaffected.
	c.after(12*time.Second, func() { c.update(UpdateRelease, "e") })
	c.after(13*time.Second, func() { c.update(UpdateRelease, "b") })
	c.after(14*time.Second, func() { afterAll = c.state() })
	c.run(CapacityState{})

	for _, id := range []string{"a", "b"} {
		require.NoError(t, outs[id].err)
		require.True(t, outs[id].adm.Admitted, "%s admitted at once", id)
	}
	for i, id := range []string{"c", "d", "e"} {
		require.NoError(t, outs[id].err)
		require.False(t, outs[id].adm.Admitted, "%s is queued", id)
		require.Equal(t, i+1, outs[id].adm.Position)
	}
	// Estimates: c starts when the first running order ends, d at the
	// second; e has no estimate (two leases, third in line).
	require.True(t, outs["c"].adm.EstimatedStart.Equal(end1), "%v", outs["c"].adm.EstimatedStart)
	require.True(t, outs["d"].adm.EstimatedStart.Equal(end2))
	require.True(t, outs["e"].adm.EstimatedStart.IsZero())
	require.Equal(t, 2, again.adm.Position, "asking again keeps the place")
	require.Len(t, full.Leases, 2, "never more than MaxMachines")
	require.Len(t, full.Queue, 3)

	require.Len(t, afterFirst.Leases, 2)
	require.ElementsMatch(t, []string{"b", "c"}, []string{afterFirst.Leases[0].OrderID, afterFirst.Leases[1].OrderID})
	adm, ok := tl.last("c")
	require.True(t, ok && adm.Admitted, "the head is told it is admitted: %+v", adm)
	require.Len(t, tl.byID["c"], 1)
	// d hears it moved up (with b's end as its estimate), then its turn.
	d := tl.byID["d"]
	require.Len(t, d, 2, "%+v", d)
	require.Equal(t, 1, d[0].Position, "d moved up")
	require.True(t, d[0].EstimatedStart.Equal(end2), "d's estimate: b's end")
	require.True(t, d[1].Admitted)
	// e moved up once, then left before its turn: nothing more was sent.
	require.Len(t, tl.byID["e"], 1)
	require.Equal(t, 2, tl.byID["e"][0].Position)

	require.Len(t, afterAll.Leases, 2)
	require.Empty(t, afterAll.Queue)
}

// On a host pool admission is a held slot lease: a queued order waits for
// a slot that fits, an order bigger than any slot is refused for good,
// and a reservation made before admission existed becomes the lease.
func TestAdmissionOnAHostPool(t *testing.T) {
	c := newCapacityEnv(t)
	tl := c.recordSignals()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var reserved, big, small, queued, tooBig *admitOutcome
	var st CapacityState
	c.after(time.Second, func() { c.update(UpdateConfigure, pool()) })
	c.after(2*time.Second, func() {
		c.update(UpdateReserve, LeaseRequest{OrderID: "old", NodeCount: 8, Until: t0.Add(time.Hour)})
	})
	c.after(3*time.Second, func() { reserved = c.admit("old", 8, t0.Add(4*time.Hour)) })
	c.after(4*time.Second, func() { big = c.admit("big", 16, t0.Add(6*time.Hour)) })
	c.after(5*time.Second, func() { small = c.admit("small", 8, t0.Add(6*time.Hour)) })
	c.after(6*time.Second, func() { tooBig = c.admit("huge", 64, t0.Add(6*time.Hour)) })
	c.after(7*time.Second, func() { queued = small })
	c.after(8*time.Second, func() { c.update(UpdateRelease, "old") })
	c.after(9*time.Second, func() { st = c.state() })
	c.run(CapacityState{})

	require.NoError(t, reserved.err)
	require.True(t, reserved.adm.Admitted && reserved.adm.Lease.Held(), "the reservation is now held: %+v", reserved.adm)
	require.Equal(t, "a/small", reserved.adm.Lease.Slot.ID)
	require.True(t, big.adm.Admitted)
	require.Equal(t, "a/big", big.adm.Lease.Slot.ID)
	require.False(t, queued.adm.Admitted)
	require.Equal(t, 1, queued.adm.Position)
	require.True(t, queued.adm.EstimatedStart.Equal(t0.Add(4*time.Hour)), "old's paid end: %v", queued.adm.EstimatedStart)
	require.True(t, tooBig.rejected && isType(tooBig.err, ErrTypeNeverFits), "%+v", tooBig)
	adm, ok := tl.last("small")
	require.True(t, ok && adm.Admitted)
	require.Equal(t, "a/small", adm.Lease.Slot.ID)
	require.Len(t, st.Leases, 2)
	require.Empty(t, st.Queue)
}

// An admitted order whose workflow is gone (terminated by hand) cannot
// use its lease: it is freed as soon as the admission fails to arrive, and
// the next order in line gets it.
func TestAdmissionToAGoneWorkflowIsFreed(t *testing.T) {
	c := newCapacityEnv(t)
	tl := c.recordSignals("ghost")
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var st CapacityState
	c.after(time.Second, func() { c.update(UpdateConfigure, CapacityConfig{Provider: ProviderHetzner, MaxMachines: 1}) })
	c.after(2*time.Second, func() { c.admit("a", 8, t0.Add(time.Hour)) })
	c.after(3*time.Second, func() { c.admit("ghost", 8, t0.Add(time.Hour)) })
	c.after(4*time.Second, func() { c.admit("next", 8, t0.Add(time.Hour)) })
	c.after(5*time.Second, func() { c.update(UpdateRelease, "a") })
	c.after(10*time.Second, func() { st = c.state() })
	c.run(CapacityState{})

	require.Len(t, st.Leases, 1)
	require.Equal(t, "next", st.Leases[0].OrderID)
	require.Empty(t, st.Queue)
	adm, _ := tl.last("next")
	require.True(t, adm.Admitted)
}
