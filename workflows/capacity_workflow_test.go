package workflows

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/lnplaylive/lnplaylive/infra"
)

// capacityEnv runs the capacity workflow; steps are run in order, one
// simulated second apart, then the workflow is cancelled.
type capacityEnv struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	at  time.Duration
}

func newCapacityEnv(t *testing.T) *capacityEnv {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	return &capacityEnv{t: t, env: env}
}

// after runs f at the given offset from the start.
func (c *capacityEnv) after(d time.Duration, f func()) {
	c.env.RegisterDelayedCallback(f, d)
	c.at = max(c.at, d)
}

type leaseOutcome struct {
	lease    SlotLease
	err      error
	rejected bool
}

// update sends a lease update and returns where its outcome will be.
func (c *capacityEnv) update(name string, arg any) *leaseOutcome {
	out := &leaseOutcome{}
	c.env.UpdateWorkflow(name, fmt.Sprint(name, arg), &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { out.err, out.rejected = err, true },
		OnComplete: func(v any, err error) {
			out.err = err
			if l, ok := v.(SlotLease); ok {
				out.lease = l
			}
		},
	}, arg)
	return out
}

func (c *capacityEnv) state() CapacityState {
	v, err := c.env.QueryWorkflow(QueryCapacity)
	require.NoError(c.t, err)
	var st CapacityState
	require.NoError(c.t, v.Get(&st))
	return st
}

func (c *capacityEnv) run(st CapacityState) {
	c.env.RegisterDelayedCallback(c.env.CancelWorkflow, c.at+time.Second)
	c.env.ExecuteWorkflow(CapacityWorkflow, st)
	require.True(c.t, c.env.IsWorkflowCompleted())
	var canceled *temporal.CanceledError
	require.True(c.t, errors.As(c.env.GetWorkflowError(), &canceled), "ends only when cancelled: %v", c.env.GetWorkflowError())
}

func pool() CapacityConfig {
	slot := func(id string, nodes, base int) Slot {
		return Slot{ID: id, MaxNodes: nodes, Host: infra.Host{ID: id, Address: "198.51.100.7", SSHPort: 22, SSHUser: "play", HostKey: "ssh-ed25519 AAAA", PortBase: base}}
	}
	return CapacityConfig{Provider: ProviderHosts, Slots: []Slot{slot("a/big", 16, 20000), slot("a/small", 8, 10000)}}
}

func isType(err error, typ string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == typ
}

func TestSlotsAreLeasedExclusivelySmallestFitFirstAndIdempotently(t *testing.T) {
	c := newCapacityEnv(t)
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	until := start.Add(time.Hour)
	var a1, b, full, a2, held, afterRelease *leaseOutcome
	var stAfter CapacityState
	c.after(time.Second, func() { c.update(UpdateConfigure, pool()) })
	c.after(2*time.Second, func() { a1 = c.update(UpdateReserve, LeaseRequest{OrderID: "a", NodeCount: 8, Until: until}) })
	c.after(3*time.Second, func() { b = c.update(UpdateReserve, LeaseRequest{OrderID: "b", NodeCount: 8, Until: until}) })
	c.after(4*time.Second, func() { full = c.update(UpdateReserve, LeaseRequest{OrderID: "c", NodeCount: 8, Until: until}) })
	c.after(5*time.Second, func() { a2 = c.update(UpdateReserve, LeaseRequest{OrderID: "a", NodeCount: 8, Until: until}) })
	c.after(6*time.Second, func() { held = c.update(UpdateAcquire, LeaseRequest{OrderID: "a", NodeCount: 8}) })
	c.after(7*time.Second, func() { c.update(UpdateRelease, "b") })
	c.after(8*time.Second, func() {
		afterRelease = c.update(UpdateReserve, LeaseRequest{OrderID: "c", NodeCount: 16, Until: until})
	})
	c.after(9*time.Second, func() { stAfter = c.state() })
	c.run(CapacityState{})

	require.NoError(t, a1.err)
	require.Equal(t, "a/small", a1.lease.Slot.ID, "the smallest slot that fits")
	require.False(t, a1.lease.Held())
	require.NoError(t, b.err)
	require.Equal(t, "a/big", b.lease.Slot.ID)
	require.True(t, full.rejected && isType(full.err, ErrTypeNoCapacity), "third order refused: %+v", full)
	require.NoError(t, a2.err)
	require.Equal(t, "a/small", a2.lease.Slot.ID, "a repeated request gets the same slot")
	require.NoError(t, held.err)
	require.True(t, held.lease.Held(), "acquire turns the reservation into a held lease")
	require.Equal(t, 10000, held.lease.Slot.Host.PortBase)
	require.NoError(t, afterRelease.err)
	require.Equal(t, "a/big", afterRelease.lease.Slot.ID, "a released slot is leased again")
	require.Len(t, stAfter.Leases, 2)
	require.Equal(t, 0, stAfter.Free(1))
}

func TestAnUnpaidReservationLapsesAndAHeldLeaseDoesNot(t *testing.T) {
	c := newCapacityEnv(t)
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var before, after CapacityState
	var late *leaseOutcome
	c.after(time.Second, func() { c.update(UpdateConfigure, pool()) })
	c.after(2*time.Second, func() {
		c.update(UpdateReserve, LeaseRequest{OrderID: "unpaid", NodeCount: 8, Until: start.Add(15 * time.Minute)})
		c.update(UpdateReserve, LeaseRequest{OrderID: "paid", NodeCount: 8, Until: start.Add(15 * time.Minute)})
		c.update(UpdateAcquire, LeaseRequest{OrderID: "paid", NodeCount: 8})
	})
	c.after(14*time.Minute, func() { before = c.state() })
	c.after(16*time.Minute, func() { after = c.state() })
	// A payment relayed after the reservation lapsed still gets a slot if
	// one is free.
	c.after(17*time.Minute, func() { late = c.update(UpdateAcquire, LeaseRequest{OrderID: "unpaid", NodeCount: 8}) })
	c.run(CapacityState{})

	require.Len(t, before.Leases, 2)
	require.Len(t, after.Leases, 1)
	require.Equal(t, "paid", after.Leases[0].OrderID)
	require.NoError(t, late.err)
	require.True(t, late.lease.Held())
}

func TestLeasesSurviveARestartOfTheWorkflowAndANewConfig(t *testing.T) {
	c := newCapacityEnv(t)
	carried := CapacityState{Config: pool(), Leases: []SlotLease{{OrderID: "old", Slot: pool().Slots[1], NodeCount: 4}}}
	var got *leaseOutcome
	var st CapacityState
	// The slot "old" holds leaves the config; its lease stays until released.
	c.after(time.Second, func() {
		cfg := pool()
		cfg.Slots = cfg.Slots[:1]
		c.update(UpdateConfigure, cfg)
	})
	c.after(2*time.Second, func() {
		got = c.update(UpdateReserve, LeaseRequest{OrderID: "new", NodeCount: 4, Until: time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)})
	})
	c.after(3*time.Second, func() { st = c.state() })
	c.run(carried)

	require.NoError(t, got.err)
	require.Equal(t, "a/big", got.lease.Slot.ID, "the carried lease still holds a/small")
	require.Len(t, st.Leases, 2)
}

func TestLeasesAreRefusedWithoutAPool(t *testing.T) {
	for _, provider := range []string{ProviderNone, ProviderHetzner} {
		t.Run(provider, func(t *testing.T) {
			c := newCapacityEnv(t)
			var got *leaseOutcome
			var bad *leaseOutcome
			c.after(time.Second, func() { c.update(UpdateConfigure, CapacityConfig{Provider: provider}) })
			c.after(2*time.Second, func() { got = c.update(UpdateAcquire, LeaseRequest{OrderID: "a", NodeCount: 8}) })
			c.after(3*time.Second, func() { bad = c.update(UpdateConfigure, CapacityConfig{Provider: "cloud9"}) })
			c.run(CapacityState{})
			require.True(t, got.rejected && isType(got.err, ErrTypeNotPool), "%+v", got)
			require.True(t, bad.rejected, "an unknown provider is refused")
		})
	}
}
